"""Time-series forecasters (GPU utilization, demand, request rate): protocol, registry, members, backtest."""

from gpufleet.forecasting.series.auto import AutoForecaster, AutoSettings
from gpufleet.forecasting.series.backtest import backtest_series
from gpufleet.forecasting.series.base import (
    FORECASTERS,
    Forecaster,
    ForecasterSettings,
    PanelForecaster,
)
from gpufleet.forecasting.series.baselines import NaiveLast, WindowMean, WindowMeanSettings
from gpufleet.forecasting.series.bounds import Bounds, clip_forecast
from gpufleet.forecasting.series.lgbm import LightGBMForecaster, LightGBMSettings
from gpufleet.forecasting.series.lgbm_direct import LightGBMDirect, LightGBMDirectSettings
from gpufleet.forecasting.series.prepare import Prepared, infer_step, prepare, resample, to_series
from gpufleet.forecasting.series.prophet_model import ProphetForecaster, ProphetSettings
from gpufleet.forecasting.series.seasonal_naive import SeasonalNaive, SeasonalNaiveSettings
from gpufleet.forecasting.series.window import RecentWindow, RecentWindowSettings

__all__ = [
    "FORECASTERS",
    "AutoForecaster",
    "AutoSettings",
    "Bounds",
    "Forecaster",
    "ForecasterSettings",
    "LightGBMDirect",
    "LightGBMDirectSettings",
    "LightGBMForecaster",
    "LightGBMSettings",
    "NaiveLast",
    "PanelForecaster",
    "Prepared",
    "ProphetForecaster",
    "ProphetSettings",
    "RecentWindow",
    "RecentWindowSettings",
    "SeasonalNaive",
    "SeasonalNaiveSettings",
    "WindowMean",
    "WindowMeanSettings",
    "backtest_series",
    "clip_forecast",
    "infer_step",
    "prepare",
    "resample",
    "to_series",
]
