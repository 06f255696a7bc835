"""What a pod's workload is called, shared by the right-sizer and the collector's per-workload series.

A workload is what shares one pod template: by default namespace plus the pod name without the suffixes
Kubernetes generates (ReplicaSet hash and pod id, StatefulSet ordinal, Job pod id).
"""

from __future__ import annotations

import re
from typing import Literal

import polars as pl

GroupBy = Literal["prefix", "pod", "namespace"]

# Deployment pods: <name>-<replicaset hash>-<5 chars>; Job/DaemonSet pods: <name>-<5 chars>; StatefulSet: <name>-<n>
_SUFFIXES = (
    re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$"),
    re.compile(r"-[a-z0-9]{5}$"),
    re.compile(r"-\d+$"),
)


def workload_name(pod: str | None, namespace: str | None = None, by: GroupBy = "prefix") -> str:
    """The workload a pod belongs to."""
    name = pod or "(no pod)"
    if by == "namespace":
        return namespace or "(no namespace)"
    if by == "prefix":
        for rx in _SUFFIXES:
            stripped = rx.sub("", name)
            if stripped != name and stripped:
                name = stripped
                break
    return f"{namespace}/{name}" if namespace else name


def with_workload(
    frame: pl.DataFrame, by: GroupBy = "prefix", *, pod: str = "pod", namespace: str = "namespace"
) -> pl.DataFrame:
    """`frame` with a `workload` column; names are worked out once per distinct (namespace, pod), not per row."""
    pairs = frame.select(pl.col(namespace).alias("_ns"), pl.col(pod).alias("_pod")).unique()
    names = pairs.with_columns(
        pl.Series("workload", [workload_name(p, ns, by) for ns, p in pairs.iter_rows()], dtype=pl.String)
    )
    return frame.join(names, left_on=[namespace, pod], right_on=["_ns", "_pod"], how="left", nulls_equal=True)
