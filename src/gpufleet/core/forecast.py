"""The demand forecast record: what a forecaster hands an autoscaler.

It lives in core because two independent domain packages share it: forecasting makes it
(forecasting/series/demand.py) and optimizer decides on it (optimizer/autoscaling), and neither may import
the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Forecast:
    """Demand expected over the next seconds: arrivals per second, point and an upper quantile."""

    start: float
    step_s: float
    mean: F64
    hi: F64
    level: int
