"""Run directories of training-cluster replays: summary.json, config.yaml (enough to reproduce the run), the
jobs, timeline and per-group tables (report/rundir.py writes them atomically), and cdf.csv: the JCT and wait
quantiles a paper plots as CDFs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gpufleet.report.rundir import write_run, write_text_atomic
from gpufleet.sim.run import SimResult

CDF_FILE = "cdf.csv"
# every percentile, and the 99.9th for the tail
QUANTILES = sorted({round(q / 100, 2) for q in range(101)} | {0.999})


def quantile_table(jobs: pl.DataFrame) -> pl.DataFrame:
    """JCT and wait (seconds) of the finished jobs at each of QUANTILES, as the summary computes its p50/p95
    (numpy's linear interpolation): `jct_s` at 0.95 is the summary's p95_jct_s. Empty when none finished."""
    done = jobs.filter(pl.col("status") == "finished")
    cols: dict[str, Any] = {"quantile": QUANTILES}
    for metric in ("jct", "wait"):
        values = done[metric].cast(pl.Float64).to_numpy()
        cols[f"{metric}_s"] = np.quantile(values, QUANTILES).tolist() if values.size else [None] * len(QUANTILES)
    return pl.DataFrame(cols, schema={"quantile": pl.Float64, "jct_s": pl.Float64, "wait_s": pl.Float64})


def save(result: SimResult, out: Path, extra_config: dict[str, Any]) -> list[Path]:
    """Write a run directory."""
    written = write_run(
        out,
        summary=result.summary,
        config=result.config | extra_config,
        tables={"jobs": result.jobs, "timeline": result.timeline}
        | ({"groups": result.groups} if result.groups is not None else {}),
    )
    cdf = write_text_atomic(out / CDF_FILE, quantile_table(result.jobs).write_csv())
    return [*written, cdf]
