"""`fit_regular` (the serving replay's refit every minute, without frames) forecasts exactly what `fit` on the same
series as a frame does, for every panel forecaster; and `Forecasting` gives the same Forecast either way."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gpufleet.forecasting.series import FORECASTERS
from gpufleet.forecasting.series.base import PanelForecaster
from gpufleet.forecasting.series.demand import Forecasting

STEP_US = 60_000_000
FAST = [n for n in FORECASTERS.names() if issubclass(FORECASTERS.get(n), PanelForecaster) and n != "prophet"]


def frame(y: np.ndarray, first_us: int) -> pl.DataFrame:
    ds = first_us + np.arange(len(y)) * STEP_US
    return pl.DataFrame({"unique_id": ["demand"] * len(y), "ds": ds, "y": y}).with_columns(
        pl.col("ds").cast(pl.Datetime("us", "UTC"))
    )


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("n", [3, 12, 240])
def test_fit_regular_is_fit_on_the_frame(name: str, n: int) -> None:
    y = np.random.default_rng(n).poisson(3.0, n) / 60.0
    first = 1_700_000_040 * 1_000_000
    settings = {"season_length": 1, "step_s": 60.0}
    by_frame = FORECASTERS.build(name, settings).fit(frame(y, first)).predict(5, levels=[80, 99])
    mean, lo, hi, levels = (
        FORECASTERS.build(name, settings).fit_regular("demand", y, first, STEP_US).predict_arrays(5, levels=[80, 99])
    )
    assert np.array_equal(by_frame["mean"].to_numpy(), mean[0])
    for j, lv in enumerate(levels):
        assert np.array_equal(by_frame[f"lo-{lv}"].to_numpy(), lo[0, j])
        assert np.array_equal(by_frame[f"hi-{lv}"].to_numpy(), hi[0, j])


def test_forecasting_takes_the_frames_way_over_missing_seconds() -> None:
    arrivals = np.random.default_rng(1).poisson(2.0, 3600).astype(float)
    f = Forecasting("recent-window", 60, every_s=60, history_s=3600, level=99, settings=None)
    clean = f.forecast(3600.0, arrivals, 60.0)
    assert clean is not None and clean.mean[0] == pytest.approx(arrivals[-600:].sum() / 600)
    gappy = arrivals.copy()
    gappy[3000:3060] = np.nan  # a minute without telemetry: prepare drops it, as before
    g = Forecasting("recent-window", 60, every_s=60, history_s=3600, level=99, settings=None).forecast(
        3600.0, gappy, 60.0
    )
    assert g is not None and np.isfinite(g.mean).all()
