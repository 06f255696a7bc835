"""Panel: a regular long frame split into one numpy array per series; and the forecast frame it comes back as.

Models see arrays (values, first timestamp, step); only this module touches the long frame, so every
forecaster shares one way of continuing each series' timestamps and naming interval columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from gpufleet.core.schemas import UTC_DT

DAY_US = 86_400 * 10**6


@dataclass(frozen=True)
class Panel:
    """Series of a regular frame: ids (sorted), values, first timestamp (µs since epoch) and the shared step."""

    ids: list[str]
    values: list[np.ndarray]
    first_us: np.ndarray
    step_us: int
    # Per series, False where a value was forward-filled into a gap; None: every value was observed.
    observed: list[np.ndarray] | None = None

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, step: timedelta, observed: pl.Series | None = None) -> Panel:
        """Split a prepared (sorted, regular) SERIES frame; `observed` is its row-aligned mask from prepare."""
        f = frame if observed is None else frame.with_columns(observed.alias("_obs"))
        aggs = [pl.col("y"), pl.col("ds").dt.epoch("us").first().alias("t0")]
        g = f.group_by("unique_id", maintain_order=True).agg(*aggs, *([pl.col("_obs")] if observed is not None else []))
        g = g.sort("unique_id")
        values = [np.asarray(v, dtype=np.float64) for v in g.get_column("y").to_list()]
        obs = None if observed is None else [np.asarray(v, dtype=bool) for v in g.get_column("_obs").to_list()]
        return cls(
            ids=g.get_column("unique_id").to_list(),
            values=values,
            first_us=g.get_column("t0").to_numpy().astype(np.int64),
            step_us=to_us(step),
            observed=obs,
        )

    def mask(self, i: int) -> np.ndarray:
        """Which values of series i were observed (all True without a mask)."""
        return np.ones(len(self.values[i]), dtype=bool) if self.observed is None else self.observed[i]

    def extended(self, ends_us: dict[str, int]) -> Panel:
        """Each listed series carried forward (unobserved) up to its known end: a series known to be live until
        t whose last samples are missing still forecasts from t, not from its last sample."""
        values, obs = list(self.values), [self.mask(i) for i in range(len(self.ids))]
        for i, uid in enumerate(self.ids):
            end = ends_us.get(uid)
            if end is None:
                continue
            extra = (end - int(self.last_us[i])) // self.step_us
            if extra > 0:
                values[i] = np.concatenate([values[i], np.full(extra, values[i][-1])])
                obs[i] = np.concatenate([obs[i], np.zeros(extra, dtype=bool)])
        return Panel(self.ids, values, self.first_us, self.step_us, obs)

    @property
    def lengths(self) -> np.ndarray:
        """Points per series."""
        return np.array([len(v) for v in self.values], dtype=np.int64)

    @property
    def last_us(self) -> np.ndarray:
        """Timestamp of each series' last point (µs since epoch)."""
        return self.first_us + (self.lengths - 1) * self.step_us

    def span_days(self) -> float:
        """Days from the earliest to the latest timestamp of the whole panel."""
        if not self.ids:
            return 0.0
        return float(self.last_us.max() - self.first_us.min()) / DAY_US


def to_us(step: timedelta) -> int:
    """A step in whole microseconds (exact integer arithmetic, no float rounding)."""
    return step // timedelta(microseconds=1)


def day_steps(step_us: int) -> int:
    """Steps in one day (at least 1): the default season length."""
    return max(1, round(DAY_US / step_us))


def interval_columns(levels: Sequence[int]) -> list[str]:
    """lo-L, hi-L column names, one pair per level in the order given."""
    return [c for lv in levels for c in (f"lo-{lv}", f"hi-{lv}")]


def check_levels(levels: Sequence[int]) -> list[int]:
    """Sorted, de-duplicated interval levels; each must be an integer percentage in 1..99."""
    if any(isinstance(lv, bool) or not float(lv).is_integer() or not 1 <= lv <= 99 for lv in levels):
        raise ValueError(f"levels must be whole percentages between 1 and 99, got {list(levels)}")
    return sorted({int(lv) for lv in levels})


def forecast_frame(
    ids: Sequence[str],
    last_us: np.ndarray,
    step_us: int,
    mean: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    levels: Sequence[int],
) -> pl.DataFrame:
    """The long forecast frame: unique_id, ds, mean, lo-L, hi-L (mean is (n, h); lo and hi are (n, levels, h))."""
    n, h = mean.shape
    ds = (last_us.reshape(-1, 1) + step_us * np.arange(1, h + 1, dtype=np.int64)).ravel()
    cols: dict[str, pl.Series] = {
        "unique_id": pl.Series("unique_id", np.repeat(np.asarray(ids, dtype=object), h).tolist(), dtype=pl.Utf8),
        "ds": pl.Series("ds", ds, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(UTC_DT),
        "mean": pl.Series("mean", mean.ravel(), dtype=pl.Float64),
    }
    for j, lv in enumerate(levels):
        cols[f"lo-{lv}"] = pl.Series(f"lo-{lv}", lo[:, j, :].ravel() if n else [], dtype=pl.Float64)
        cols[f"hi-{lv}"] = pl.Series(f"hi-{lv}", hi[:, j, :].ravel() if n else [], dtype=pl.Float64)
    return pl.DataFrame(list(cols.values()))


def enforce_order(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lo <= mean <= hi and wider levels (later along axis 1) contain narrower ones, by widening only."""
    lo = np.minimum(lo, mean[:, None, :])
    hi = np.maximum(hi, mean[:, None, :])
    # Levels are sorted ascending: a running min/max makes each wider interval contain the narrower ones.
    return np.minimum.accumulate(lo, axis=1), np.maximum.accumulate(hi, axis=1)
