"""backtest_series: rolling origins in time, the exact MASE definition, coverage and bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from gpufleet.forecasting.series import backtest_series

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(hours=1)


def ramp(n: int, uid: str = "r", slope: float = 1.0, start: datetime = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {"unique_id": uid, "ds": [start + i * STEP for i in range(n)], "y": slope * np.arange(n, dtype=float)}
    )


def test_naive_on_a_ramp_gives_the_exact_scores() -> None:
    # The naive forecast of y = t from origin o is o-1 for every step, so the error at step k is k; the
    # in-sample one-step naive MAE is 1. Any leak of the test window into training would change both.
    h, n_origins = 4, 3
    df = pl.concat([ramp(60, "a"), ramp(60, "b", slope=2.0)])
    out = backtest_series(df, ["seasonal-naive"], h=h, n_origins=n_origins, levels=[80], season=1).row(0, named=True)
    assert out["mae"] == pytest.approx(1.5 * (h + 1) / 2)  # mean of k (slope 1) and 2k (slope 2)
    k = np.arange(1, h + 1)
    assert out["rmse"] == pytest.approx(np.sqrt(np.mean(np.r_[k, 2 * k] ** 2)))
    assert out["mase"] == pytest.approx((h + 1) / 2)  # scale-free: both series give the same ratio
    assert out["n_series"] == 2 and out["n_points"] == 2 * h * n_origins and out["n_fallback"] == 0
    # Every in-sample difference equals the slope, so hi = last + slope*sqrt(k): only step 1 (k = sqrt k) is inside.
    assert out["coverage-80"] == pytest.approx(1 / h)


def test_mase_scale_falls_back_to_lag_one_when_history_is_shorter_than_the_season() -> None:
    short = backtest_series(ramp(40), ["seasonal-naive"], h=2, n_origins=2, season=500).row(0, named=True)
    assert short["mase"] == pytest.approx(1.5)


def test_output_columns_models_and_timings() -> None:
    rng = np.random.default_rng(0)
    n = 24 * 12
    y = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.standard_normal(n)
    df = pl.DataFrame({"unique_id": "s", "ds": [T0 + i * STEP for i in range(n)], "y": y})
    out = backtest_series(df, ["seasonal-naive", "lightgbm"], h=6, n_origins=2, levels=[95, 80])
    assert out.columns == [
        "model", "mae", "rmse", "mase", "coverage-80", "coverage-95",
        "fit_s", "predict_s", "n_series", "n_fallback", "n_points",
    ]  # fmt: skip
    assert out["model"].to_list() == ["seasonal-naive", "lightgbm"]
    assert (out["fit_s"] >= 0).all() and (out["coverage-95"] >= out["coverage-80"]).all()
    assert out["mase"].to_list()[1] < 1.0, "lightgbm should beat the daily seasonal naive on a clean daily cycle"


def test_only_series_live_at_the_origin_are_scored() -> None:
    # "old" ends long before the windows: it trains the models but is never scored.
    df = pl.concat([ramp(50, "live"), ramp(10, "old")])
    out = backtest_series(df, ["seasonal-naive"], h=3, n_origins=2, season=1).row(0, named=True)
    assert out["n_series"] == 1 and out["n_points"] == 6


def test_too_short_and_unknown_model_are_errors() -> None:
    with pytest.raises(ValueError, match="too few steps"):
        backtest_series(ramp(10), ["seasonal-naive"], h=5, n_origins=2)
    with pytest.raises(Exception, match="unknown forecaster"):
        backtest_series(ramp(50), ["sesonal-naive"], h=2)
