"""Input hygiene for SERIES frames: sort, average duplicates, infer the step, resample to a regular grid.

The grid is anchored at the frame's earliest timestamp (so an already regular frame comes back unchanged)
and shared by every series: bucket k covers [t0 + k*step, t0 + (k+1)*step) and is labelled by its start.
Values in one bucket are averaged; an empty bucket between a series' first and last observation is
filled by forward fill (the last observed value carries on: a GPU counter or a utilization level holds
until the next sample says otherwise). Nothing is extended before a series starts or after it ends.
Rows are never dropped silently: every merge, fill and removal is counted in `Prepared.info`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from gpufleet.core.schemas import SERIES, UTC_DT, validate


@dataclass(frozen=True)
class Prepared:
    """A regular SERIES frame, its step and the counts of what was changed; unpacks as (frame, step)."""

    frame: pl.DataFrame
    step: timedelta
    info: dict[str, float] = field(default_factory=dict)
    # Row-aligned with frame: False where the value was forward-filled into a gap (not an observation).
    observed: pl.Series | None = None

    def __iter__(self) -> Iterator[pl.DataFrame | timedelta]:
        # `frame, step = prepare(df)` reads naturally; `.info` stays available on the object.
        return iter((self.frame, self.step))


def _step_us(step: timedelta) -> int:
    us = step // timedelta(microseconds=1)
    if us <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return us


def infer_step(df: pl.DataFrame) -> timedelta:
    """Median spacing between consecutive distinct timestamps within each series (pooled over series)."""
    diffs = (
        df.select("unique_id", pl.col("ds").dt.epoch("us").alias("t"))
        .unique()
        .sort("unique_id", "t")
        .select(pl.col("t").diff().over("unique_id").alias("d"))
        .filter(pl.col("d") > 0)
    )
    if diffs.height == 0:
        raise ValueError("cannot infer the step: no series has two distinct timestamps; pass step explicitly")
    return timedelta(microseconds=int(diffs["d"].median()))  # type: ignore[arg-type]


def _clean(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Canonical SERIES columns; rows whose y is null, NaN or infinite are removed and counted."""
    missing = [c for c in SERIES.names if c not in df.columns]
    if missing:
        validate(df, SERIES)  # raises the canonical one-line error naming the missing column
    frame = df.select(SERIES.names)
    n_bad = 0
    if frame.schema["y"].is_numeric():
        y = frame.get_column("y").cast(pl.Float64)
        bad = (y.is_null() | ~y.is_finite()).fill_null(True)
        n_bad = int(bad.sum())
        frame = frame.filter(~bad)
    return validate(frame, SERIES), n_bad


def prepare(df: pl.DataFrame, step: timedelta | None = None) -> Prepared:
    """Sort, average duplicated timestamps, infer the step unless given, resample to a regular grid."""
    frame, n_bad = _clean(df)
    n_in = df.height
    dedup = frame.group_by("unique_id", "ds").agg(pl.col("y").mean()).sort("unique_id", "ds")
    step = infer_step(dedup) if step is None else step
    us = _step_us(step)
    if dedup.height == 0:
        empty = {"rows_in": n_in, "invalid_y_removed": n_bad, "rows_out": 0, "series": 0, "step_s": us / 1e6}
        return Prepared(SERIES.empty(), timedelta(microseconds=us), empty)
    t0 = int(dedup.get_column("ds").dt.epoch("us").min())  # type: ignore[arg-type]
    bucketed = (
        dedup.with_columns(((pl.col("ds").dt.epoch("us") - t0) // us).alias("k"))
        .group_by("unique_id", "k")
        .agg(pl.col("y").mean())
    )
    spans = bucketed.group_by("unique_id").agg(pl.col("k").min().alias("k0"), pl.col("k").max().alias("k1"))
    grid = spans.select("unique_id", pl.int_ranges("k0", pl.col("k1") + 1).alias("k")).explode("k")
    out = (
        grid.join(bucketed, on=["unique_id", "k"], how="left")
        .sort("unique_id", "k")
        .with_columns(
            pl.col("y").is_null().alias("filled"),
            pl.col("y").forward_fill().over("unique_id"),
        )
    )
    n_filled = int(out.get_column("filled").sum())
    observed = ~out.get_column("filled")
    out = out.select(
        "unique_id",
        (pl.lit(t0, pl.Int64) + pl.col("k") * us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ds"),
        "y",
    ).with_columns(pl.col("ds").cast(UTC_DT))
    info: dict[str, float] = {
        "rows_in": n_in,
        "invalid_y_removed": n_bad,
        "duplicates_averaged": frame.height - dedup.height,
        "merged_in_buckets": dedup.height - bucketed.height,
        "gaps_filled": n_filled,
        "rows_out": out.height,
        "series": spans.height,
        "step_s": us / 1e6,
    }
    return Prepared(out, timedelta(microseconds=us), info, observed.rename("observed"))


def to_series(df: pl.DataFrame, unique_id: str = "pod", ds: str = "ts", y: str = "util") -> pl.DataFrame:
    """A long (unique_id, ds, y) frame from any table, e.g. GPU_SAMPLES (pod, ts, util); other columns are left out."""
    # No checks here: prepare() removes and counts null values and rejects a null id by name.
    return df.select(pl.col(unique_id).alias("unique_id"), pl.col(ds).alias("ds"), pl.col(y).alias("y"))


def resample(df: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """The frame on a regular grid of `step` (bucket means, gaps forward-filled), e.g. 1-min data to 10 min."""
    return prepare(df, step).frame
