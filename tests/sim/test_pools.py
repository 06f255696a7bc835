"""Training-fleet node-pool scaling: the scalers' rules, and replays with nodes coming and going."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from gpufleet.optimizer.autoscaling import POOL_SCALERS, PoolState
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate


def pool_state(**kw: object) -> PoolState:
    n = 4
    base = {
        "now": 1000.0,
        "gpu_type": ["A"] * n,
        "gpus": np.full(n, 8),
        "active": np.array([True, True, False, False]),
        "provisioning": np.zeros(n, dtype=bool),
        "allocated": np.array([8.0, 2.0, 0.0, 0.0]),
        "low_since": np.array([math.inf, 0.0, math.inf, math.inf]),
        "empty_since": np.full(n, math.inf),
        "queue_gpus": np.array([8.0]),
        "queue_types": [None],
        "queue_fits_now": np.array([False]),
        "queue_predicted_wait": np.array([5000.0]),
    }
    base.update(kw)
    return PoolState(**base)  # type: ignore[arg-type]


def test_rules() -> None:
    st = pool_state()
    assert POOL_SCALERS.build("fixed").decide(st).add == []
    # a job of 8 GPUs fits nowhere now -> one idle 8-GPU node is ordered (CA) ...
    assert POOL_SCALERS.build("cluster-autoscaler").decide(st).add == [2]
    # ... and predicted to wait 5000 s > 600 s -> the predictive scaler orders one too
    assert POOL_SCALERS.build("predictive").decide(st).add == [2]
    # already provisioning covers it: nothing more is ordered
    prov = pool_state(provisioning=np.array([False, False, True, False]))
    assert POOL_SCALERS.build("cluster-autoscaler").decide(prov).add == []
    # nothing waits: CA removes node 1 (under 50% since t=0, 1000 s >= 600 s) with work on it only when its
    # jobs fit on the other nodes (CA's drain simulation); the predictive scaler removes only empty nodes
    quiet = {
        "queue_gpus": np.zeros(0),
        "queue_types": [],
        "queue_fits_now": np.zeros(0, bool),
        "queue_predicted_wait": np.zeros(0),
    }
    calm = pool_state(**quiet, movable=np.array([False, True, False, False]))
    assert POOL_SCALERS.build("cluster-autoscaler").decide(calm).remove == [1]
    assert POOL_SCALERS.build("predictive").decide(calm).remove == []
    stuck = pool_state(**quiet, movable=np.array([False, False, False, False]))
    assert POOL_SCALERS.build("cluster-autoscaler").decide(stuck).remove == [], "its jobs would stay pending"
    assert POOL_SCALERS.build("cluster-autoscaler").decide(pool_state(**quiet)).remove == [], "unknown: kept"
    empty = pool_state(
        queue_gpus=np.zeros(0),
        queue_types=[],
        queue_fits_now=np.zeros(0, bool),
        queue_predicted_wait=np.zeros(0),
        empty_since=np.array([math.inf, 100.0, math.inf, math.inf]),
    )
    assert POOL_SCALERS.build("predictive").decide(empty).remove == [1]


def _jobs() -> pl.DataFrame:
    # a busy first hour, a quiet gap, then a 16-GPU job: nodes leave in the gap and must come back
    rng = np.random.default_rng(0)
    n = 40
    submit = np.concatenate([np.sort(rng.uniform(0, 3600, n - 1)), [20_000.0]])
    gpus = np.concatenate([rng.choice([1.0, 2.0, 4.0, 8.0], n - 1), [16.0]])
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_time": submit,
            "duration": np.concatenate([rng.uniform(300, 3000, n - 1), [600.0]]),
            "num_gpus": gpus,
            "kind": ["train"] * n,
        }
    )


@pytest.mark.parametrize("policy", [None, "fixed", "cluster-autoscaler", "predictive"])
def test_replays_with_a_changing_pool(policy: str | None) -> None:
    jobs, nodes = _jobs(), parse_spec("4x8:A100")
    res = simulate(jobs, nodes, SimConfig(scheduler="fifo", pool=policy, provision_delay_s=300))
    s = res.summary
    assert s.finished == 40, "every job finishes"
    fixed = 32 * s.makespan_s / 3600
    if policy in (None, "fixed"):
        assert s.gpu_hours == pytest.approx(fixed)
        return
    assert s.gpu_hours < 0.8 * fixed, "idle nodes were given back"
    last = res.jobs.filter(pl.col("job_id") == "j39")
    assert last["wait"][0] >= 300 - 1e-6, "the 16-GPU job waited for nodes to be provisioned"
    if policy == "predictive":
        assert s.pool is not None and s.pool.jobs_preempted_by_scale_down == 0


def test_cli_simulate_with_a_pool(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from gpufleet.cli import app

    out = Path(str(tmp_path)) / "run"
    args = ["simulate", "--jobs", "synthetic:jobs", "-p", "n_jobs=300", "--cluster", "8x8:A100,4x8:V100"]
    res = CliRunner().invoke(app, [*args, "--pool", "predictive", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["pool"]["policy"] == "predictive" and s["gpu_hours"] > 0
    bad = CliRunner().invoke(app, [*args, "--pool", "elastic", "--out", str(out)])
    assert bad.exit_code == 2 and "elastic" in bad.stderr


def test_cluster_autoscaler_drains_one_node_with_work_and_empty_ones_in_bulk() -> None:
    n = 14
    quiet = {
        "now": 5000.0,
        "gpu_type": ["A"] * n,
        "gpus": np.full(n, 8),
        "active": np.ones(n, dtype=bool),
        "provisioning": np.zeros(n, dtype=bool),
        "low_since": np.zeros(n),
        "empty_since": np.zeros(n),
        "queue_gpus": np.zeros(0),
        "queue_types": [],
        "queue_fits_now": np.zeros(0, bool),
        "queue_predicted_wait": np.zeros(0),
    }
    alloc = np.zeros(n)
    alloc[:2] = [3.0, 1.0]  # two nodes with work (both movable), twelve empty
    st = PoolState(**quiet, allocated=alloc, movable=np.ones(n, dtype=bool))  # type: ignore[arg-type]
    ca = POOL_SCALERS.build("cluster-autoscaler")
    assert ca.decide(st).remove == list(range(2, 12)), "empty nodes first, at most max_empty_bulk_delete"
    only_busy = PoolState(**quiet, allocated=np.where(np.arange(n) < 2, alloc, 8.0), movable=np.ones(n, dtype=bool))  # type: ignore[arg-type]
    only_busy.low_since[2:] = math.inf
    assert ca.decide(only_busy).remove == [1], "one node with work per decision, the least allocated"


def test_cluster_autoscaler_waits_after_a_scale_up() -> None:
    ca = POOL_SCALERS.build("cluster-autoscaler")
    assert ca.decide(pool_state()).add == [2]  # a scale-up at t=1000
    calm = pool_state(
        now=1300.0,
        queue_gpus=np.zeros(0),
        queue_types=[],
        queue_fits_now=np.zeros(0, bool),
        queue_predicted_wait=np.zeros(0),
        movable=np.array([False, True, False, False]),
    )
    assert ca.decide(calm).remove == [], "300 s after a scale-up: no scale-down (delay 600 s)"
    later = pool_state(**{**calm.__dict__, "now": 1700.0})
    assert later.now == 1700.0 and ca.decide(later).remove == [1]


def test_cluster_autoscaler_keeps_a_node_whose_job_fits_nowhere_else() -> None:
    """A 6-GPU job fills most of node 0, a 3-GPU job sits alone on node 1 (under 50%): it cannot move (2 GPUs
    free on node 0), so CA keeps node 1 while they run and preempts nothing; the old rule drained it, the job
    then fit nowhere, and a node was ordered back."""
    jobs = pl.DataFrame(
        {
            "job_id": ["a", "b"],
            "submit_time": [0.0, 1.0],
            "duration": [20_000.0, 20_000.0],
            "num_gpus": [6.0, 3.0],
            "kind": ["train", "train"],
        }
    )
    res = simulate(jobs, parse_spec("2x8:A100"), SimConfig(scheduler="fifo", pool="cluster-autoscaler"))
    pool = res.summary.pool
    assert pool is not None and res.summary.finished == 2
    assert pool.jobs_preempted_by_scale_down == 0 and pool.nodes_added == 0
    assert res.jobs["wait"].to_list() == [0.0, 0.0]


def test_cluster_autoscaler_drains_a_node_whose_job_fits_elsewhere() -> None:
    """a (5 GPUs) and c (3) fill node 0, so b (3) starts alone on node 1; c ends at 100 s, and b now fits on node
    0: node 1, under 50% for 10 minutes, is drained (b preempted once, placed again on node 0), and no node is
    ordered back."""
    jobs = pl.DataFrame(
        {
            "job_id": ["a", "c", "b"],
            "submit_time": [0.0, 0.0, 1.0],
            "duration": [20_000.0, 100.0, 20_000.0],
            "num_gpus": [5.0, 3.0, 3.0],
            "kind": ["train"] * 3,
        }
    )
    res = simulate(jobs, parse_spec("2x8:A100"), SimConfig(scheduler="fifo", pool="cluster-autoscaler"))
    pool = res.summary.pool
    assert pool is not None and res.summary.finished == 3
    assert pool.jobs_preempted_by_scale_down == 1 and pool.nodes_removed >= 1 and pool.nodes_added == 0
