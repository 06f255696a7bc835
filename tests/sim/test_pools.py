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
    # nothing waits: CA removes node 1 (under 50% since t=0, 1000 s >= 600 s), even with work on it;
    # the predictive scaler removes only empty nodes
    calm = pool_state(
        queue_gpus=np.zeros(0), queue_types=[], queue_fits_now=np.zeros(0, bool), queue_predicted_wait=np.zeros(0)
    )
    assert POOL_SCALERS.build("cluster-autoscaler").decide(calm).remove == [1]
    assert POOL_SCALERS.build("predictive").decide(calm).remove == []
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
