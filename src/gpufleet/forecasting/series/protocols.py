"""The independent rolling-origin protocols (benchmarks/forecast-baselines/README.md): bins, series, origins.

Two protocols, defined by people outside the project so that a gpufleet forecaster can be put beside their
untuned baselines line by line:
- `genai-a`: GenAI pod GPU duty cycle. 5-minute bins on a global grid from the first sample of the frame
  (a bin's value is the mean of its samples; a bin without samples is missing); a pod's series runs from its
  first to its last observed bin and needs >= 24 bins; origins o_k = last_bin + 1 - 12k, k = 1..8, each kept
  when it has >= 12 bins of history; each forecasts the 12 bins o..o+11.
- `helios-b`: Helios VC GPU allocation. Calendar-hour means; origins at 00:00 of the last 7 days that have
  24 hours after them; each forecasts the next 24 hours.
Everything here takes frames and returns frames or plain objects; reading the files is the caller's job.
A `shift` moves every origin `shift` strides earlier: the same protocol on windows that lie wholly before
its test origins, where settings may be chosen without looking at the reported figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

US = 10**6


@dataclass(frozen=True)
class Horizon:
    """One reported horizon: `leads` forecast steps scored per origin, as steps or as their mean."""

    name: str
    leads: int
    kind: str = "steps"  # "steps": every lead is one error; "mean": the mean of the leads is one error


@dataclass(frozen=True)
class SeriesProtocol:
    """A rolling-origin protocol: the grid, the series rule, the origins and what is reported."""

    name: str
    doc: str
    bin_s: int
    h: int
    grid: str  # "data-start": bin 0 starts at the frame's first sample; "calendar": bins are aligned to the epoch
    align: int  # an origin's bin index must be a multiple of this (24 on hourly bins: midnight)
    stride: int  # bins between consecutive origins
    n_origins: int
    min_bins: int  # series shorter than this (first to last observed bin) are not evaluated
    min_history: int  # an origin needs this many bins of the series before it
    horizons: tuple[Horizon, ...]
    unit_scale: float = 1.0  # reported errors = errors in the data's unit x this (fraction -> percentage points)
    unit: str = ""
    capacity: bool = False  # report nMAE as % of a per-series capacity
    primary: str = ""
    extra: dict[str, str] = field(default_factory=dict)


PROTOCOLS: dict[str, SeriesProtocol] = {
    "genai-a": SeriesProtocol(
        name="genai-a",
        doc="GenAI pod GPU duty cycle, 5-minute bins, next hour from the last 8 hourly origins of each pod",
        bin_s=300,
        h=12,
        grid="data-start",
        align=1,
        stride=12,
        n_origins=8,
        min_bins=24,
        min_history=12,
        horizons=(Horizon("1h_steps", 12), Horizon("1h_mean", 12, "mean")),
        unit_scale=100.0,
        unit="pp",
        primary="1h_steps",
    ),
    "helios-b": SeriesProtocol(
        name="helios-b",
        doc="Helios VC allocated GPUs, hourly means, next 24 h from 00:00 of the last 7 days",
        bin_s=3600,
        h=24,
        grid="calendar",
        align=24,
        stride=24,
        n_origins=7,
        min_bins=0,
        min_history=24,
        horizons=(Horizon("1h", 1), Horizon("24h_steps", 24)),
        unit="GPUs",
        capacity=True,
        primary="24h_steps",
    ),
}


@dataclass(frozen=True)
class Binned:
    """Series on the protocol's grid: per series, observed bin indices and values; the grid's start (µs)."""

    ids: list[str]
    bins: list[np.ndarray]  # sorted absolute bin indices where the series has samples
    values: list[np.ndarray]
    t0_us: int  # time of bin 0
    bin_us: int

    def series(self, i: int) -> tuple[int, np.ndarray]:
        """(first bin, values on the dense grid first..last with NaN where missing) of series i."""
        b, v = self.bins[i], self.values[i]
        y = np.full(int(b[-1] - b[0] + 1), np.nan)
        y[b - b[0]] = v
        return int(b[0]), y

    def frame_before(self, o: int) -> pl.DataFrame:
        """Every series' observed bins before bin o as a SERIES frame (ds = the bin's start)."""
        ids, ts, ys = [], [], []
        for uid, b, v in zip(self.ids, self.bins, self.values, strict=True):
            keep = b < o
            if keep.any():
                ids.append(np.full(int(keep.sum()), uid, dtype=object))
                ts.append(self.t0_us + b[keep] * self.bin_us)
                ys.append(v[keep])
        if not ids:
            return pl.DataFrame(schema={"unique_id": pl.Utf8, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64})
        return pl.DataFrame(
            {
                "unique_id": pl.Series(np.concatenate(ids).tolist(), dtype=pl.Utf8),
                "ds": pl.Series(np.concatenate(ts), dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "y": np.concatenate(ys),
            }
        )

    def time_us(self, b: int) -> int:
        """Start of bin b (µs since the epoch)."""
        return self.t0_us + b * self.bin_us


def bin_samples(df: pl.DataFrame, protocol: SeriesProtocol) -> Binned:
    """Raw samples (unique_id, ds, y) to bin means on the protocol's grid; rows without an id must be gone."""
    bin_us = protocol.bin_s * US
    t = df.get_column("ds").dt.epoch("us")
    t0 = int(t.min()) if protocol.grid == "data-start" else 0  # type: ignore[arg-type]
    g = (
        df.select("unique_id", ((t - t0) // bin_us).alias("bin"), pl.col("y").cast(pl.Float64))
        .group_by("unique_id", "bin")
        .agg(pl.col("y").mean())
        .sort("unique_id", "bin")
        .group_by("unique_id", maintain_order=True)
        .agg("bin", "y")
    )
    return Binned(
        ids=g["unique_id"].to_list(),
        bins=[np.asarray(b, dtype=np.int64) for b in g["bin"].to_list()],
        values=[np.asarray(v, dtype=np.float64) for v in g["y"].to_list()],
        t0_us=t0,
        bin_us=bin_us,
    )


def origins_of(first: int, last: int, protocol: SeriesProtocol, shift: int = 0) -> list[int]:
    """The origins (absolute bins) of a series observed from bin `first` to `last`, oldest first."""
    p = protocol
    if last - first + 1 < p.min_bins:
        return []
    o1 = (last + 1 - p.h) // p.align * p.align - shift * p.stride
    cands = [o1 - p.stride * k for k in range(p.n_origins)]
    return sorted(o for o in cands if o - first >= p.min_history)


def evaluated(binned: Binned, protocol: SeriesProtocol, shift: int = 0) -> dict[str, list[int]]:
    """unique_id -> its origins, for every series the protocol evaluates."""
    out = {}
    for uid, b in zip(binned.ids, binned.bins, strict=True):
        o = origins_of(int(b[0]), int(b[-1]), protocol, shift)
        if o:
            out[uid] = o
    return out
