"""Small builders for simulator tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, SimResult, simulate


def jobs_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of (job_id, submit, gpus, duration[, gpu_type])."""
    return pl.DataFrame(
        {
            "job_id": [r[0] for r in rows],
            "submit_time": [float(r[1]) for r in rows],
            "num_gpus": [float(r[2]) for r in rows],
            "duration": [None if r[3] is None else float(r[3]) for r in rows],
            "gpu_type": [r[4] if len(r) > 4 else None for r in rows],
            "kind": ["train"] * len(rows),
        },
        schema_overrides={"gpu_type": pl.Utf8, "duration": pl.Float64},
    )


def sim(rows: list[tuple[Any, ...]], cluster: str, **cfg: Any) -> SimResult:
    """Simulate rows on a spec cluster."""
    return simulate(jobs_frame(rows), parse_spec(cluster), SimConfig(**cfg))


def jct(res: SimResult) -> dict[str, float | None]:
    """JCT by job id."""
    return dict(zip(res.jobs["job_id"].to_list(), res.jobs["jct"].to_list(), strict=True))
