"""The replays on a real local Ray runtime (2 CPUs): a compare grid, the tenancy comparison and a capacity search
give exactly what the process pool gives (every field but the wall time), and when the runtime is stopped none
of the processes Ray started (GCS, raylet, workers) is left. Ray is the `ray` extra, which `make test` installs.
(`compare --ray local` alone, a runtime started and stopped by one command: tests/cli/test_simulate_cli.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import default_prices
from gpufleet.plan.capacity import CapacityQuestion, plan_capacity
from gpufleet.plan.capacity_probe import Target
from gpufleet.plan.grids import LOCAL, map_tasks, ray_runtime, run_grid
from gpufleet.plan.replays import TenancySpec, compare_tenancy, even_vcs
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig
from gpufleet.traces import load

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray", reason="Ray is the optional extra gpufleet[ray] (make test installs it)")


def _jobs() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=300, days=1).frame


def _nodes() -> pl.DataFrame:
    return parse_spec("4x8:A100,4x8:V100")


def _dumps(summaries: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.dump().items() if k != "wall_s"} for s in summaries]


def _question(jobs: pl.DataFrame) -> CapacityQuestion:
    """Add A100 or H100 nodes to 2x8:V100 until p95 wait <= 1 h (any job runs on any type: a mix can win)."""
    return CapacityQuestion(
        jobs=jobs.with_columns(pl.lit(None, pl.Utf8).alias("gpu_type")),
        candidates=["A100", "H100"],
        target=Target("p95", "wait", 3600.0),
        cfg=SimConfig(scheduler="fifo-backfill", placement="best-fit", speeds="spec"),
        prices=default_prices(),
        base_spec="2x8:V100",
        base_label="2x8:V100",
        max_nodes=32,
    )


def _no_wall(x: object) -> object:
    if isinstance(x, dict):
        return {k: _no_wall(v) for k, v in x.items() if k != "wall_s"}
    if isinstance(x, list):
        return [_no_wall(v) for v in x]
    return x


def _ray_processes() -> list[str]:
    """Command lines of this test process's descendants that are Ray's (GCS, raylet, workers, monitors)."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[0] not in (b"Z", b"X"):
            procs[int(pid)] = (int(stat[1]), cmd)
    ours, grew = {os.getpid()}, True
    while grew:
        more = {p for p, (ppid, _) in procs.items() if ppid in ours} - ours
        ours |= more
        grew = bool(more)
    return [procs[p][1] for p in ours - {os.getpid()} if p in procs and "/ray/" in procs[p][1]]


def test_grid_and_tenancy_on_local_ray_match_the_process_pool() -> None:
    jobs, nodes = _jobs(), _nodes()
    base = SimConfig(predictor="oracle")
    grid = (["fifo", "sjf", "tiresias"], ["best-fit", "worst-fit"])
    spec = TenancySpec(vcs=even_vcs(jobs, nodes.height))
    pooled_grid = run_grid(jobs, nodes, base, *grid, None, {}, workers=2)
    pooled_tenancy = compare_tenancy(jobs, nodes, spec, workers=2)
    pooled_capacity = plan_capacity(_question(jobs), workers=2)

    with ray_runtime(LOCAL, num_cpus=2):
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        assert _ray_processes(), "a local runtime runs its GCS and raylet as child processes"
        # inside the block every call uses the one runtime (a search of many rounds starts Ray once)
        on_ray_grid = run_grid(jobs, nodes, base, *grid, None, {}, ray_address=LOCAL)
        on_ray_tenancy = compare_tenancy(jobs, nodes, spec, ray_address=LOCAL)
        on_ray_capacity = plan_capacity(_question(jobs), ray_address=LOCAL)
        # a task that fails raises its own error (the command prints one line), not Ray's wrapper and traceback
        with pytest.raises(GpufleetError) as e:
            map_tasks(_square, [2, -1], 2, LOCAL)
        assert type(e.value) is GpufleetError and str(e.value) == "no negative numbers"
        assert ray.is_initialized()
    assert not ray.is_initialized()

    assert [(s.scheduler, s.placement) for s in on_ray_grid] == [(s, p) for s in grid[0] for p in grid[1]]
    assert _dumps(on_ray_grid) == _dumps(pooled_grid)
    assert list(on_ray_tenancy) == ["pooled", "partitioned", "quota"]
    assert _dumps([r.summary for r in on_ray_tenancy.values()]) == _dumps([r.summary for r in pooled_tenancy.values()])
    assert on_ray_tenancy["pooled"].jobs.equals(pooled_tenancy["pooled"].jobs)  # per job, not only the summary
    assert on_ray_capacity["met"] and on_ray_capacity["replays"] > 5  # a real search, several rounds of probes
    assert _no_wall(on_ray_capacity) == _no_wall(pooled_capacity)
    # ray.shutdown() stopped every process the runtime started (the session check would also name a leftover)
    deadline = time.monotonic() + 30
    while (left := _ray_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left


def _square(x: int) -> int:
    if x < 0:
        raise GpufleetError("no negative numbers")
    return x * x
