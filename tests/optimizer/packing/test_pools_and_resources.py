"""Multi-resource packing (#25 point 4): every placer keeps pods to their node pools, CPUs, memory and RDMA are
packed with their own stranded figures, the result does not depend on the order the nodes are listed in, and
`pack_once` lists every pod that failed. The workload is the DLRM-style fixture (tests/traces/dlrm.py) read
through its map, as a user would."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.contract.recipe import members
from tests.traces.dlrm import write_dlrm

from gpufleet.optimizer.packing import ClusterView
from gpufleet.optimizer.packing.experiment import inflation_run, pack_assign, pack_once
from gpufleet.optimizer.packing.pools import pod_arrays, pool_rule
from gpufleet.optimizer.packing.resources import resource_figures
from gpufleet.optimizer.packing.view import view_from_nodes
from gpufleet.traces import load
from gpufleet.traces.userfile import SCHEMA_MAP

PLACER_NAMES = members("placer")


@pytest.fixture(scope="module")
def dlrm(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(instances as JOBS, nodes as NODES), read through the fixture's map, plus two 16-GPU gangs in the GPU
    pool (wider than any node: they exercise each placer's gang rule)."""
    files = write_dlrm(tmp_path_factory.mktemp("dlrm"))
    token = SCHEMA_MAP.set(files.map)
    try:
        jobs = load(str(files.instances), expect="JOBS").frame
        nodes = load(str(files.nodes), expect="NODES").frame
    finally:
        SCHEMA_MAP.reset(token)
    gangs = jobs.filter(pl.col("pool") == "gpu-pool").head(2)
    gangs = gangs.with_columns(
        pl.Series("job_id", ["gang-0", "gang-1"]), pl.lit(16.0).alias("num_gpus"), pl.lit(128.0).alias("num_cpus")
    )
    return pl.concat([gangs, jobs]), nodes


def _pool_of(nodes: pl.DataFrame) -> dict[str, str | None]:
    return dict(zip(nodes["node_id"].to_list(), nodes["pool"].to_list(), strict=True))


@pytest.mark.parametrize("name", PLACER_NAMES)
def test_every_placer_keeps_every_pod_in_its_pool(name: str, dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jobs, nodes = dlrm
    packed = pack_assign(jobs, nodes, name, seed=3)
    pool = _pool_of(nodes)
    outside = [
        (job, n)
        for job, want, where in zip(jobs["job_id"], jobs["pool"], packed.where, strict=True)
        for n in where or ()
        if pool[n] != want
    ]
    assert outside == [], f"{name} put pods outside their pool: {outside[:5]}"
    placed = jobs.filter(pl.Series([w is not None for w in packed.where]))
    assert set(placed["pool"]) == {"cpu-pool", "gpu-pool"}  # both pools got work: the test could fail
    gang = packed.where[0]
    assert gang is None or len(gang) == 2  # a 16-GPU gang spans two 8-GPU nodes of its pool, or waits


def test_without_pools_cpu_pods_land_on_gpu_nodes(dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """What the issue saw: with JOBS.pool ignored, best-fit puts CPU pods on GPU nodes, and GPU pods fail."""
    jobs, nodes = dlrm
    pool = _pool_of(nodes)
    blind = pack_assign(jobs.with_columns(pl.lit(None, dtype=pl.String).alias("pool")), nodes, "best-fit")
    cpu_on_gpu = [
        j for j, want, w in zip(jobs["job_id"], jobs["pool"], blind.where, strict=True)
        if want == "cpu-pool" and w and pool[w[0]] == "gpu-pool"
    ]  # fmt: skip
    kept = pack_once(jobs, nodes, "best-fit")
    assert cpu_on_gpu, "the fixture no longer shows the failure pools prevent"
    gpu_failed_blind = sum(1 for w, g in zip(blind.where, jobs["num_gpus"], strict=True) if w is None and g > 0)
    gpu_failed_kept = sum(1 for j in kept["failed_pods"] if j in set(jobs.filter(pl.col("num_gpus") > 0)["job_id"]))
    assert gpu_failed_kept < gpu_failed_blind


@pytest.mark.parametrize("name", PLACER_NAMES)
def test_node_order_does_not_change_the_result(name: str, dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jobs, nodes = dlrm
    first = pack_once(jobs, nodes, name, seed=5)
    for seed in (1, 2, 3):
        shuffled = nodes.sample(fraction=1.0, shuffle=True, seed=seed)
        assert shuffled["node_id"].to_list() != nodes["node_id"].to_list()
        again = pack_once(jobs, shuffled, name, seed=5)
        assert again == first, f"{name}: listing the nodes in another order changed the packing"
        assert pack_assign(jobs, shuffled, name, seed=5).where == pack_assign(jobs, nodes, name, seed=5).where


def test_node_ids_order_numbers_by_value() -> None:
    nodes = pl.DataFrame({"node_id": ["n-10", "n-2", "n-1"], "num_gpus": [8, 8, 8], "gpu_type": ["A100"] * 3})
    assert view_from_nodes(nodes).node_ids == ["n-1", "n-2", "n-10"]


def _nodes(rdma: list[float | None], cpus: float = 64.0, gpus: int = 8) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "node_id": [f"n{i}" for i in range(len(rdma))],
            "num_gpus": [gpus] * len(rdma),
            "gpu_type": ["A100"] * len(rdma),
            "num_cpus": [cpus] * len(rdma),
            "rdma": pl.Series(rdma, dtype=pl.Float64),
        }
    )


def _pods(n: int, gpus: float, cpus: float, rdma: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"job_id": [f"p{i}" for i in range(n)], "num_gpus": [gpus] * n, "num_cpus": [cpus] * n, "rdma": [rdma] * n}
    )


def test_rdma_is_packed_and_its_stranded_share_measured() -> None:
    # two nodes of 100 RDMA units: pods of 60 fit one per node although GPUs and CPUs would take eight each
    res = pack_once(_pods(4, 1.0, 1.0, 60.0), _nodes([100.0, 100.0]), "best-fit")
    assert res["placed"] == 2 and res["failed"] == 2
    rdma = res["resources"]["rdma"]  # type: ignore[index]
    assert rdma["capacity"] == 200.0 and rdma["allocated"] == 120.0 and rdma["free"] == 80.0
    assert rdma["stranded"] == 80.0 and rdma["stranded_share"] == 1.0  # 40 left per node: no 60-pod fits
    gpu = res["resources"]["gpu"]  # type: ignore[index]
    assert gpu["free"] == 14.0 and gpu["stranded"] == 14.0  # the GPUs are stranded by RDMA, not by GPUs
    # a node without an RDMA figure is not limited in it
    assert pack_once(_pods(4, 1.0, 1.0, 60.0), _nodes([None, None]), "best-fit")["placed"] == 4


def test_cpu_stranding_is_its_own_figure() -> None:
    # 8 GPUs and 16 cores a node; pods of 1 GPU and 16 cores: each node takes one, 7 GPUs are left stranded
    res = pack_once(_pods(3, 1.0, 16.0, 0.0), _nodes([None, None], cpus=16.0), "best-fit")
    figs = res["resources"]  # type: ignore[index]
    assert res["placed"] == 2 and figs["cpu"]["free"] == 0.0 and figs["cpu"]["stranded"] == 0.0
    assert figs["gpu"]["free"] == 14.0 and figs["gpu"]["stranded_share"] == 1.0
    assert "rdma" not in figs and "mem_bytes" not in figs  # no node has a figure: nothing to pack


def test_pack_once_lists_every_failed_pod() -> None:
    res = pack_once(_pods(300, 1.0, 0.0, 0.0), _nodes([None]), "first-fit")
    assert res["failed"] == 292 and len(res["failed_pods"]) == 292  # type: ignore[arg-type]
    assert res["failed_never_fit"] == 0


def test_a_gang_splits_rdma_with_its_chunks() -> None:
    # 16 GPUs asking 160 RDMA: two chunks of 80 on two nodes of 100; asking 240 (120 a chunk) never fits
    nodes = _nodes([100.0, 100.0])
    assert pack_once(_pods(1, 16.0, 0.0, 160.0), nodes, "best-fit")["placed"] == 1
    res = pack_once(_pods(1, 16.0, 0.0, 240.0), nodes, "best-fit")
    assert res["failed_never_fit"] == 1 and res["never_fit_pods"] == ["p0"]


def test_pool_rule() -> None:
    nodes = pl.DataFrame(
        {
            "node_id": ["a", "b", "c"],
            "num_gpus": [8, 8, 0],
            "gpu_type": ["A100", "A100", None],
            "pool": ["gpu", "gpu", None],
        }
    )
    jobs = pl.DataFrame({"job_id": ["x", "y", "z"], "num_gpus": [1.0, 0.0, 0.0], "pool": ["gpu", None, "cpu"]})
    kept, notes = pool_rule(jobs, nodes)
    assert kept["pool"].to_list() == ["gpu", None, "cpu"]
    assert any("1 job(s) name a pool no node is in (cpu)" in n for n in notes)
    # a job naming a pool only runs there; a job naming none may use any node, the pool-less one included
    view = view_from_nodes(nodes)
    arrays = pod_arrays(kept)
    assert [view.allowed(arrays.spec[i], arrays.pool[i]) is None for i in range(3)] == [False, True, False]
    assert list(view.allowed(None, "gpu")) == [True, True, False]  # type: ignore[arg-type]
    # a Slurm export's partitions on a cluster spec: no pool in common, so pools are set aside, said in a note
    spec_nodes = nodes.with_columns(pl.lit("A100x8").alias("pool"))
    blind, notes = pool_rule(jobs, spec_nodes)
    assert blind["pool"].null_count() == 3 and "pools not applied" in notes[0]


def test_inflation_run_keeps_pools_and_measures_each_resource(dlrm: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jobs, nodes = dlrm
    r = inflation_run(jobs, nodes, "fgd", 42)
    figures = r["resources"]
    assert set(figures) == {"gpu", "cpu", "mem_bytes", "rdma"}  # type: ignore[arg-type]
    assert 0 < figures["rdma"]["alloc_ratio"] <= 1  # type: ignore[index]


def test_figures_match_a_hand_count() -> None:
    """resource_figures on a view set by hand: what is free, and what of it no pod shape can use."""
    view = ClusterView(
        node_ids=["a", "b"],
        gpu_type=["A100", "A100"],
        gpu_total=np.array([4, 4], dtype=np.int64),
        cpu_total=np.array([8.0, 8.0]),
        mem_total=np.array([1e18, 1e18]),
    )
    arrays = pod_arrays(_pods(1, 2.0, 4.0, 0.0))  # the workload: pods of 2 GPUs and 4 cores
    view.allocate(0, [(0, 1.0), (1, 1.0), (2, 1.0)], 6.0, 0.0)  # node a: 1 GPU, 2 cores left
    figs = resource_figures(view, arrays)
    assert figs["gpu"]["free"] == 5.0 and figs["gpu"]["stranded"] == 1.0  # node b still takes a 2-GPU pod
    assert figs["cpu"]["free"] == 10.0 and figs["cpu"]["stranded"] == 2.0
