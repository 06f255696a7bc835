"""Job-runtime predictors: the RuntimePredictor protocol, its registry and its members."""

from gpufleet.forecasting.runtime.aft import AFTRuntime, AFTSettings
from gpufleet.forecasting.runtime.auto import AutoRuntime, AutoSettings
from gpufleet.forecasting.runtime.base import PREDICTORS, RuntimePredictor
from gpufleet.forecasting.runtime.gbm import LightGBMRuntime, LightGBMRuntimeSettings
from gpufleet.forecasting.runtime.gpuclass import GpuClassMedian
from gpufleet.forecasting.runtime.history import UserHistory
from gpufleet.forecasting.runtime.oracle import Oracle

__all__ = [
    "PREDICTORS",
    "AFTRuntime",
    "AFTSettings",
    "AutoRuntime",
    "AutoSettings",
    "GpuClassMedian",
    "LightGBMRuntime",
    "LightGBMRuntimeSettings",
    "Oracle",
    "RuntimePredictor",
    "UserHistory",
]
