"""On the real genai traces: the persisted diffusion coefficients are what a refit on the first two thirds gives (the
errors recorded with them included), the switch costs are the measured latencies, and the fleet designs run on the
first days of genai:requests with the accounting the designs promise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gpufleet.plan.serving_designs import compare_designs, load_switch_costs
from gpufleet.sim.serving import ServingConfig
from gpufleet.sim.serving.diffusion import BUILTIN, load_coefficients
from gpufleet.sim.serving.diffusion_fit import fit, scored

pytestmark = [pytest.mark.traces, pytest.mark.slow]


@pytest.fixture(scope="module")
def genai(data_dir: Path) -> pl.DataFrame:
    from gpufleet.traces import load

    return load("genai:requests", data_dir).frame


def test_a_refit_gives_the_persisted_coefficients_and_errors(genai: pl.DataFrame) -> None:
    c = load_coefficients(str(BUILTIN))
    cut = c.fitted_on["fit_window_s"][1]
    window = genai.filter(pl.col("arrival_time") < cut)
    again = fit(window, c.ridge)
    assert again.log_steps == pytest.approx(c.log_steps, abs=1e-9)
    assert again.models == pytest.approx(c.models, abs=1e-9)
    errs = scored(again, window, genai.filter(pl.col("arrival_time") >= cut))
    assert errs["fitted"]["mae_s"] == pytest.approx(c.errors["test_window"]["fitted"]["mae_s"], rel=1e-9)


def test_switch_costs_are_the_measured_load_latencies(data_dir: Path) -> None:
    costs = load_switch_costs(data_dir)
    assert len(costs.base) == 6205 and len(costs.lora) == 20598 and len(costs.control) == 21627
    assert np.percentile(costs.base, 90) == pytest.approx(41.3, abs=0.1)  # the default cold start's source


def test_designs_on_the_first_days(genai: pl.DataFrame, data_dir: Path) -> None:
    first = genai.filter(pl.col("arrival_time") < 5 * 86400)
    rep = compare_designs(
        first,
        load_switch_costs(data_dir),
        designs=["per-model", "shared", "hybrid"],
        cfg=ServingConfig(profile="sd-a10"),
    )
    whole = {d: rs[0] for d, rs in rep.results.items()}
    assert rep.slo.startswith("e2e_p99<=") and rep.hot
    assert whole["per-model"].swaps == 0 and whole["shared"].swaps > 0
    assert whole["hybrid"].swaps < whole["shared"].swaps
    assert len(whole["hybrid"].pools) == len(rep.hot) + 1
    assert all(r.requests_scored == whole["shared"].requests_scored for r in whole.values())
    # every design's pools hold at least one replica, but per-model ones, until the last request is served
    assert whole["hybrid"].gpu_hours > whole["shared"].gpu_hours
