"""Training replays keep jobs to their node pools (JOBS.pool, NODES.pool) under every placer, pack RDMA, and
give the same replay whatever order the nodes are listed in (#25 point 4). The workload is the DLRM-style
fixture (tests/traces/dlrm.py) read through its map."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from tests.contract.recipe import members
from tests.traces.dlrm import write_dlrm

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers import SCHEDULERS
from gpufleet.traces import load
from gpufleet.traces.userfile import SCHEMA_MAP

REPLAY = ["job_id", "start", "finish", "preemptions", "nodes"]


@pytest.fixture(scope="module")
def dlrm(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    # 400 instances over ~7 hours on 20 nodes: the GPU pool is loaded, so jobs wait and the skips have work
    files = write_dlrm(tmp_path_factory.mktemp("dlrm"), pods=400)
    token = SCHEMA_MAP.set(files.map)
    try:
        return load(str(files.instances), expect="JOBS").frame, load(str(files.nodes), expect="NODES").frame
    finally:
        SCHEMA_MAP.reset(token)


def _outside(res: Any, jobs: pl.DataFrame, nodes: pl.DataFrame) -> list[tuple[str, str]]:
    pool = dict(zip(nodes["node_id"], nodes["pool"], strict=True))
    want = dict(zip(jobs["job_id"], jobs["pool"], strict=True))
    ran = res.jobs.filter(pl.col("nodes").is_not_null())
    return [
        (j, n) for j, ns in zip(ran["job_id"], ran["nodes"], strict=True) for n in ns.split(",") if pool[n] != want[j]
    ]


@pytest.mark.parametrize("placer", members("placer"))
def test_every_placer_replays_within_pools(placer: str, dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jobs, nodes = dlrm
    res = simulate(jobs, nodes, SimConfig(placement=placer, seed=1))  # type: ignore[arg-type]
    assert _outside(res, jobs, nodes) == []
    assert res.summary.finished > 300 and res.summary.unschedulable == 0
    assert any("pools applied" in n for n in res.summary.notes)
    shuffled = simulate(jobs, nodes.sample(fraction=1.0, shuffle=True, seed=4), SimConfig(placement=placer, seed=1))  # type: ignore[arg-type]
    assert shuffled.jobs.select(REPLAY).equals(res.jobs.select(REPLAY)), "node order changed the replay"


def test_pools_shorten_waits(dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """What the issue measured: without pools CPU instances take GPU nodes' cores and GPU instances wait."""
    jobs, nodes = dlrm
    kept = simulate(jobs, nodes, SimConfig())
    blind = simulate(jobs.with_columns(pl.lit(None, dtype=pl.String).alias("pool")), nodes, SimConfig())
    assert _outside(blind, jobs, nodes) != []  # the check above could fail
    gpu = jobs.filter(pl.col("num_gpus") > 0)["job_id"].implode()
    wait = {n: r.jobs.filter(pl.col("job_id").is_in(gpu))["wait"].mean() for n, r in (("kept", kept), ("blind", blind))}
    assert wait["kept"] < wait["blind"]  # type: ignore[operator]


@pytest.mark.parametrize("scheduler", ["sjf", "qssf"])
def test_skipping_known_failures_stays_exact_with_pools_and_rdma(
    scheduler: str, dlrm: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    jobs, nodes = dlrm
    cfg = SimConfig(scheduler=scheduler)  # type: ignore[arg-type]
    fast = simulate(jobs, nodes, cfg)
    slow = simulate(jobs, nodes, cfg, scheduler=SCHEDULERS.build(scheduler, skip_known_failures=False))
    assert fast.summary.avg_wait_s > 60  # jobs waited: the skips had work to do
    assert fast.jobs.select(REPLAY).equals(slow.jobs.select(REPLAY))


def test_partitions_on_a_cluster_spec_are_set_aside(dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """A Slurm export's partitions replayed on a spec (whose pools are generated names): no job could run if
    they were kept, so they are not, and the summary says so."""
    jobs, _ = dlrm
    res = simulate(jobs, parse_spec("8x8:A100"), SimConfig())
    assert res.summary.unschedulable == 0
    assert any("pools not applied" in n for n in res.summary.notes)


def test_rdma_holds_jobs_back(dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jobs, nodes = dlrm
    gpu_jobs = jobs.filter(pl.col("num_gpus") > 0)["job_id"].implode()
    wide = jobs.with_columns(pl.when(pl.col("num_gpus") > 0).then(400.0).otherwise(0.0).alias("rdma"))
    res = simulate(wide, nodes, SimConfig())
    # each GPU instance now takes all of a GPU node's RDMA (400): one at a time per node, never two at once
    ran = res.jobs.filter(pl.col("job_id").is_in(gpu_jobs), pl.col("nodes").is_not_null()).sort("start")
    assert ran.height > 50
    for _, runs in ran.group_by("nodes"):
        starts, finishes = runs["start"].to_list(), runs["finish"].to_list()
        assert all(s >= f - 1e-9 for s, f in zip(starts[1:], finishes[:-1], strict=True))
    assert res.summary.avg_wait_s > simulate(jobs, nodes, SimConfig()).summary.avg_wait_s
