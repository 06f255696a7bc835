"""Node pools: when a job's `pool` (JOBS.pool: a partition, a node pool, a nodeSelector) holds it to the nodes
of that pool (NODES.pool), and what the pods of a JOBS frame ask for, as the arrays placement reads.

The rule (`pool_rule`): a job that names a pool may only use nodes of that pool, and a job that names none may
use any node, as a Kubernetes nodeSelector does. Pools apply when at least one pool the jobs name is a pool of
the nodes. When none is (a Slurm export's partitions replayed on a cluster spec, whose nodes carry generated
pool names such as `A100x8`), the jobs' pools cannot mean these nodes: they are set aside, and a note says so.
A job naming a pool no node is in, while others match, can never be placed; a note counts those too.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SHOWN = 5  # pool names listed in a note before "..."


def _names(values: list[str]) -> str:
    shown = ", ".join(values[:SHOWN])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN else "")


def pool_rule(pods: pl.DataFrame, nodes: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """`pods` with their `pool` kept where pools apply and nulled where they cannot (module docstring), and
    one note per thing the user should know (pools set aside; jobs whose pool no node is in)."""
    if "pool" not in pods.columns or pods["pool"].null_count() == pods.height:
        return pods, []
    asked = sorted(set(pods["pool"].drop_nulls().cast(pl.String).to_list()))
    have = sorted(set(nodes["pool"].drop_nulls().cast(pl.String).to_list())) if "pool" in nodes.columns else []
    if not set(asked) & set(have):
        note = (
            f"JOBS.pool names {_names(asked)}, none of them a pool of the nodes"
            f" ({_names(have) if have else 'the nodes have no pools'}): pools not applied, any job may use any node"
        )
        return pods.with_columns(pl.lit(None, dtype=pl.String).alias("pool")), [note]
    missing = [p for p in asked if p not in set(have)]
    notes = [f"pools applied: a job naming a pool runs only on that pool's nodes ({_names(have)})"]
    if missing:
        n = int(pods["pool"].is_in(missing).sum())
        notes.append(f"{n:,} job(s) name a pool no node is in ({_names(missing)}): they cannot be placed")
    return pods, notes


@dataclass(frozen=True)
class PodArrays:
    """Per pod, what placement reads: GPUs, CPUs, memory, GPU types, RDMA and pool (nulls as 0 / any)."""

    job_id: list[str]
    gpus: list[float]
    cpus: list[float]
    mem: list[float]
    spec: list[str | None]
    rdma: list[float]
    pool: list[str | None]

    def shape(self, i: int) -> tuple[float, float, float, str | None, float, str | None]:
        """The arguments of `ClusterView.request` for pod i."""
        return self.gpus[i], self.cpus[i], self.mem[i], self.spec[i], self.rdma[i], self.pool[i]


def pod_arrays(pods: pl.DataFrame) -> PodArrays:
    """The columns of a JOBS-like frame placement reads, as plain lists (fast scalar access)."""

    def numbers(col: str) -> list[float]:
        if col not in pods.columns:
            return [0.0] * pods.height
        return pods[col].cast(pl.Float64).fill_null(0.0).to_list()

    def texts(col: str) -> list[str | None]:
        return pods[col].cast(pl.String).to_list() if col in pods.columns else [None] * pods.height

    return PodArrays(
        job_id=pods["job_id"].cast(pl.String).to_list(),
        gpus=numbers("num_gpus"),
        cpus=numbers("num_cpus"),
        mem=numbers("mem_bytes"),
        spec=texts("gpu_type"),
        rdma=numbers("rdma"),
        pool=texts("pool"),
    )
