"""Contract of every registered RuntimePredictor (plugins included): the policy recipe, and one row per job in
input order with finite p10 <= p50 <= p90 >= 0, unfitted (causal) and after fit, on full and on bare JOBS
(no user, name or GPU type), the same twice."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.contract.recipe import check_recipe, members

from gpufleet.forecasting.runtime import PREDICTORS, RuntimePredictor
from gpufleet.traces import load

NAMES = members("predictor")


@pytest.fixture(scope="module")
def jobs() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=1500, days=6).frame


def build(name: str) -> RuntimePredictor:
    """The member with its defaults, made quick where its settings say how (fewer trees): a field a plugin
    declares under the same name is shrunk the same way."""
    fields = PREDICTORS.settings_model(name).model_fields
    quick = {k: v for k, v in {"n_estimators": 30, "min_train": 100}.items() if k in fields}
    return PREDICTORS.build(name, quick)


def check_quantiles(out: pl.DataFrame, jobs: pl.DataFrame) -> None:
    assert out.columns == ["job_id", "p10", "p50", "p90"]
    assert out["job_id"].to_list() == jobs["job_id"].to_list()
    for c in ("p10", "p50", "p90"):
        v = out[c].to_numpy()
        assert out[c].null_count() == 0 and np.isfinite(v).all() and (v >= 0).all(), c
    assert ((out["p10"] <= out["p50"]) & (out["p50"] <= out["p90"])).all(), "p10 <= p50 <= p90 per job"


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("predictor", name, RuntimePredictor)


@pytest.mark.parametrize("name", NAMES)
def test_quantiles_are_ordered_per_job_before_and_after_fit(name: str, jobs: pl.DataFrame) -> None:
    a, b = build(name).predict(jobs), build(name).predict(jobs)
    check_quantiles(a, jobs)
    assert a.equals(b), "not deterministic"
    fitted = build(name).fit(jobs.head(1000))
    check_quantiles(fitted.predict(jobs.tail(500)), jobs.tail(500))
    bare = jobs.select("job_id", "submit_time", "duration", "num_gpus", "kind")  # like ITP: no user, name, type
    check_quantiles(build(name).predict(bare), bare)
