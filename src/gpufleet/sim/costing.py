"""GPU-hours per GPU type, which is what a price table prices: the cluster's (its nodes up over the span) and each
group's (the GPU-hours its finished jobs ran, on the type they ran on)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

UNTYPED = "(untyped)"  # nodes whose GPU type is unknown: never priced


def by_type(types: Sequence[str | None], gpu_seconds: Any) -> dict[str, float]:
    """GPU-seconds per node summed into GPU-hours per GPU type (sorted by type)."""
    out: dict[str, float] = {}
    for t, s in zip(types, np.asarray(gpu_seconds, dtype=np.float64).tolist(), strict=True):
        key = t or UNTYPED
        out[key] = out.get(key, 0.0) + s / 3600
    return dict(sorted(out.items()))


def cluster_hours_by_type(view: Any, seconds: float) -> dict[str, float]:
    """A static cluster's GPU-hours per type: every node's GPUs for `seconds`."""
    return by_type(view.gpu_type, np.asarray(view.gpu_total, dtype=np.float64) * seconds)


def group_hours_by_type(jobs: pl.DataFrame, view: Any, speed: Sequence[float]) -> dict[str, dict[str, float]]:
    """Per group: GPU-hours its finished jobs' last runs held, per the type of the node they finished on
    (work / the run's speed, so a job on a faster GPU holds it for less time). `jobs` is a run's job frame
    with a `group` column, in workload order (as `speed`)."""
    type_of = dict(zip(view.node_ids, view.gpu_type, strict=True))
    out: dict[str, dict[str, float]] = {}
    rows = zip(
        jobs["group"].to_list(),
        jobs["status"].to_list(),
        jobs["nodes"].to_list(),
        jobs["num_gpus"].to_list(),
        jobs["duration"].to_list(),
        speed,
        strict=True,
    )
    for group, status, nodes, gpus, duration, s in rows:
        if status != "finished" or group is None:
            continue
        gtype = type_of.get(nodes.split(",")[0]) or UNTYPED
        per = out.setdefault(str(group), {})
        per[gtype] = per.get(gtype, 0.0) + gpus * duration / s / 3600
    return out
