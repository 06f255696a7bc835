"""Run directories of training-cluster replays: summary.json, config.yaml (enough to reproduce the run) and
the jobs, timeline and per-group tables (report/rundir.py writes them atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpufleet.report.rundir import write_run
from gpufleet.sim.run import SimResult


def save(result: SimResult, out: Path, extra_config: dict[str, Any]) -> list[Path]:
    """Write a run directory."""
    return write_run(
        out,
        summary=result.summary,
        config=result.config | extra_config,
        tables={"jobs": result.jobs, "timeline": result.timeline}
        | ({"groups": result.groups} if result.groups is not None else {}),
    )
