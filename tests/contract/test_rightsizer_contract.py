"""Contract of every registered RightSizer (plugins included): the policy recipe, and per workload history a
recommendation that is deterministic, says why, declares a risk it does not understate (the share of the
history's samples its proposal would not have covered, docs/rightsizing.md), keeps CPU and memory bounds
ordered, and has no opinion on too short a history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members

from gpufleet.optimizer.rightsizing import RIGHTSIZERS, RightSizer, histories

NAMES = members("rightsizer")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def samples(n: int, seed: int = 0, step_s: float = 60.0, busy: float = 0.3, mem_gb: float = 9.0) -> pl.DataFrame:
    """GPU_SAMPLES of one pod on one A100-80GB: utilization up to `busy`, GPU memory up to `mem_gb` GB."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=i * step_s) for i in range(n)],
            "gpu_uuid": ["GPU-1"] * n,
            "gpu_model": ["A100-80GB"] * n,
            "util": rng.uniform(0.0, busy, n),
            "mem_used_bytes": rng.uniform(mem_gb * 0.5e9, mem_gb * 1e9, n).astype(np.int64),
            "cpu_used_cores": rng.uniform(0.5, 2.0, n),
            "host_mem_used_bytes": rng.uniform(1e9, 2e9, n).astype(np.int64),
            "oom_killed": np.zeros(n, dtype=np.int64),
            "namespace": ["prod"] * n,
            "pod": ["web-7d4b9c8f6d-x2x5z"] * n,
            "source": ["test"] * n,
        }
    )


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("rightsizer", name, RightSizer)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20, deadline=None)
@given(st.integers(300, 2000), st.floats(0.02, 1.0), st.floats(0.5, 70.0), st.integers(0, 1000))
def test_declared_risk_is_never_understated(name: str, n: int, busy: float, mem_gb: float, seed: int) -> None:
    h = histories(samples(n, seed, busy=busy, mem_gb=mem_gb))[0]
    a, b = RIGHTSIZERS.build(name).recommend(h), RIGHTSIZERS.build(name).recommend(h)
    assert a == b, "not deterministic"
    assert a.opinion and a.reason and a.workload == "prod/web"
    assert a.proposed_gpus is not None and 0 < a.proposed_gpus <= h.gpus_per_pod + 1e-9
    assert a.proposed_compute is not None and a.proposed_gpu_mem_bytes is not None and a.risk is not None
    busy_s, mem_s = np.nan_to_num(h.gpu_busy), np.nan_to_num(h.gpu_mem)
    missed = float(((busy_s > a.proposed_compute + 1e-9) | (mem_s > a.proposed_gpu_mem_bytes)).mean())
    assert 0.0 <= a.risk <= 1.0 and a.risk >= missed - 1e-12, f"declared risk {a.risk} < samples missed {missed}"
    assert a.cpu_lower is not None and a.cpu_upper is not None and a.cpu_target is not None
    assert a.cpu_lower <= a.cpu_target <= a.cpu_upper
    assert a.mem_lower is not None and a.mem_upper is not None and a.mem_target is not None
    assert a.mem_lower <= a.mem_target <= a.mem_upper


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("n", "step"), [(99, 600.0), (500, 20.0)])
def test_no_opinion_on_a_short_history(name: str, n: int, step: float) -> None:
    # 99 samples over 16 h, or 500 samples over 2.8 h: both too little to say anything
    r = RIGHTSIZERS.build(name).recommend(histories(samples(n, step_s=step))[0])
    assert not r.opinion and r.proposed_gpus is None and r.reason
