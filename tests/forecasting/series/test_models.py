"""Member-specific behaviour: seasonal-naive arithmetic, LightGBM features, recursion and conformal widths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from gpufleet.core.errors import RegistryError
from gpufleet.forecasting.series import FORECASTERS, LightGBMForecaster, SeasonalNaive, backtest_series
from gpufleet.forecasting.series.naive import seasonal_naive

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(minutes=10)


def frame(values: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.concat(
        pl.DataFrame({"unique_id": k, "ds": [T0 + i * STEP for i in range(len(v))], "y": v}) for k, v in values.items()
    )


def ar_daily(n: int, seed: int) -> np.ndarray:
    """A daily cycle plus AR(1) noise: predictable a few steps ahead, not trivially."""
    rng = np.random.default_rng(seed)
    e = np.zeros(n)
    for t in range(1, n):
        e[t] = 0.8 * e[t - 1] + 0.05 * rng.standard_normal()
    return 0.5 + 0.2 * np.sin(2 * np.pi * np.arange(n) / 144 + seed) + e


def test_seasonal_naive_repeats_the_last_season_and_widens_per_season() -> None:
    y = np.array([1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0])  # each season is the last plus 1
    mean, lo, hi = seasonal_naive(y, 3, 7, [80])
    assert mean.tolist() == [3.0, 4.0, 5.0, 3.0, 4.0, 5.0, 3.0]
    assert lo[0].tolist() == mean.tolist()  # all residuals are +1: the lower offset clips at 0
    assert np.allclose(hi[0] - mean, [1, 1, 1, np.sqrt(2), np.sqrt(2), np.sqrt(2), np.sqrt(3)])


def test_default_season_is_one_day_of_steps_or_a_week() -> None:
    df = frame({"a": ar_daily(300, 0)})
    assert SeasonalNaive().fit(df).season == 144
    assert FORECASTERS.build("seasonal-naive", {"weekly": True}).fit(df).season == 7 * 144
    assert FORECASTERS.build("seasonal-naive", {"season_length": 6}).fit(df).season == 6


def test_lightgbm_uses_the_season_lag_and_calendar_only_when_the_span_allows() -> None:
    short = LightGBMForecaster().fit(frame({"a": ar_daily(200, 1)}))
    assert short.spec.season_lag == 0 and not short.spec.hour and not short.spec.dow
    long = LightGBMForecaster().fit(frame({"a": ar_daily(144 * 15, 1)}))
    assert long.spec.season_lag == 144 and long.spec.hour and long.spec.dow


def test_lightgbm_fallback_reason_names_the_requirement() -> None:
    f = LightGBMForecaster().fit(frame({"a": ar_daily(300, 1), "b": ar_daily(30, 2)}))
    assert list(f.fallbacks) == ["b"]
    assert "30 points < 48" in f.fallbacks["b"] and "naive" in f.fallbacks["b"]


def test_lightgbm_widths_grow_with_the_horizon_beyond_the_calibrated_steps() -> None:
    f = FORECASTERS.build("lightgbm", {"horizon": 6}).fit(frame({"a": ar_daily(400, 1), "b": ar_daily(400, 2)}))
    out = f.predict(20, levels=[80]).filter(pl.col("unique_id") == "a")
    width = (out["hi-80"] - out["lo-80"]).to_numpy()
    assert (np.diff(width) >= -1e-12).all() and width[-1] > width[5]


def test_lightgbm_conformal_intervals_are_roughly_calibrated() -> None:
    df = frame({f"s{i}": ar_daily(600, i) for i in range(8)})
    out = backtest_series(df, ["lightgbm"], h=6, n_origins=6, levels=[80, 95]).row(0, named=True)
    assert 0.65 <= out["coverage-80"] <= 0.95 and 0.85 <= out["coverage-95"] <= 1.0, out
    assert out["mase"] < 1.0, out


def test_unknown_member_suggests_the_close_name() -> None:
    with pytest.raises(RegistryError, match="did you mean 'lightgbm'"):
        FORECASTERS.build("lightgmb")
    with pytest.raises(TypeError):
        LightGBMForecaster(SeasonalNaive.Settings())
