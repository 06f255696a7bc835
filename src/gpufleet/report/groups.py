"""One row per group (team, VC or queue) of a run's summary, shared by the console and the HTML report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpufleet.core.units import human_seconds

if TYPE_CHECKING:
    from gpufleet.sim.summary import GroupRow


def group_row(g: GroupRow, quota: bool) -> dict[str, Any]:
    """Jobs, wait, JCT, work, GPUs owned (or nominal quota), allocation; under quotas, borrowing too."""
    row = {
        "group": str(g.group),
        "jobs": g.jobs,
        "finished": g.finished,
        "avg wait": human_seconds(g.avg_wait_s),
        "p95 wait": human_seconds(g.p95_wait_s),
        "avg JCT": human_seconds(g.avg_jct_s),
        "GPU-h work": g.gpu_hours_used,
        ("nominal GPUs" if quota else "GPUs owned"): g.gpus_owned,
        "allocation %": None if g.allocation is None else 100 * g.allocation,
    }
    if g.gpu_hours_ran_by_type is not None:
        from gpufleet.core.prices import dollars

        row["cost ran"] = dollars(g.cost_ran)
    if quota:
        row |= {
            "avg borrowed": g.avg_borrowed_gpus,
            "peak borrowed": g.peak_borrowed_gpus,
            "borrowed GPU-h": g.borrowed_gpu_hours,
        }
    return row
