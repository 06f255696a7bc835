"""QSSF priorities from a file (`gpufleet simulate --priorities FILE`): each job's figure from an estimator run
elsewhere, as the Helios/Lucid simulators read theirs (`Philly_lgb.csv`: job id and priority; their QSSF key is
that figure times the job's GPUs). Joined onto the jobs as the `qssf_priority` column the simulator reads."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.workload import PRIORITY
from gpufleet.traces.base import ReadContext, note_read


def with_priorities(jobs: pl.DataFrame, path: Path) -> pl.DataFrame:
    """`jobs` with each one's figure from `path` (CSV or Parquet with columns job_id and priority) in
    `qssf_priority`; every job must have one (theirs stops at the first job without)."""
    name = f"--priorities {path}"
    if not path.is_file():
        raise GpufleetError(f"{name}: file not found")
    try:
        raw = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise GpufleetError(f"{name}: not a readable CSV or Parquet file ({str(e).splitlines()[0]})") from None
    missing = [c for c in ("job_id", "priority") if c not in raw.columns]
    if missing:
        raise GpufleetError(f"{name}: no {missing[0]!r} column (has: {', '.join(raw.columns)})")
    figures = raw.select(pl.col("job_id").cast(pl.String), pl.col("priority").cast(pl.Float64, strict=False))
    bad = figures.with_row_index("row").filter(pl.col("priority").is_null() | ~pl.col("priority").is_finite())
    if bad.height:
        line = int(bad["row"][0]) + 2  # CSV: the header is line 1
        where = f"line {line}" if path.suffix != ".parquet" else f"row {line - 1}"
        raise GpufleetError(f"{name}: {where}, column 'priority': not a finite number")
    dup = figures.filter(pl.col("job_id").is_duplicated())
    if dup.height:
        raise GpufleetError(f"{name}: job {dup['job_id'][0]!r} appears more than once")
    joined = jobs.join(figures.rename({"priority": PRIORITY}), on="job_id", how="left", maintain_order="left")
    lacking = joined.filter(pl.col(PRIORITY).is_null())["job_id"]
    if len(lacking):
        raise GpufleetError(f"{name}: no priority for job {lacking[0]!r} ({len(lacking)} jobs without one)")
    note_read(name, [path], ReadContext(path.parent), figures.height)
    return joined
