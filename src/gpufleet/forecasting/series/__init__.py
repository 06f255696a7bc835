"""Time-series forecasters (GPU utilization, demand, request rate): protocol, registry, members, backtest."""

from gpufleet.forecasting.series.backtest import backtest_series
from gpufleet.forecasting.series.base import (
    FORECASTERS,
    Forecaster,
    ForecasterSettings,
    PanelForecaster,
    make_forecaster,
)
from gpufleet.forecasting.series.lgbm import LightGBMForecaster, LightGBMSettings
from gpufleet.forecasting.series.prepare import Prepared, infer_step, prepare, resample, to_series
from gpufleet.forecasting.series.prophet_model import ProphetForecaster, ProphetSettings
from gpufleet.forecasting.series.seasonal_naive import SeasonalNaive, SeasonalNaiveSettings
from gpufleet.forecasting.series.window import RecentWindow, RecentWindowSettings

__all__ = [
    "FORECASTERS",
    "Forecaster",
    "ForecasterSettings",
    "LightGBMForecaster",
    "LightGBMSettings",
    "PanelForecaster",
    "Prepared",
    "ProphetForecaster",
    "ProphetSettings",
    "RecentWindow",
    "RecentWindowSettings",
    "SeasonalNaive",
    "SeasonalNaiveSettings",
    "backtest_series",
    "infer_step",
    "make_forecaster",
    "prepare",
    "resample",
    "to_series",
]
