"""recent-window: the next steps look like the recent past, taken as a whole distribution.

Point: the mean of the last `window` steps. Interval at level L: the (1-L)/2 and (1+L)/2 empirical quantiles
of those same steps. For bursty, on/off demand (a code-completion service) a level-to-level model such as
seasonal-naive forecasts the quiet minute that just passed; this one remembers that bursts of a given size
came recently, which is what an autoscaler provisioning for the upper quantile needs. It has no trend and no
seasonality: pair it with short horizons.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings, PanelForecaster
from gpufleet.forecasting.series.panel import Panel


class RecentWindowSettings(ForecasterSettings):
    """How much recent history is the distribution."""

    window: int = Field(30, ge=2, description="steps of recent history whose mean and quantiles are forecast")


@FORECASTERS.register("recent-window")
class RecentWindow(PanelForecaster[RecentWindowSettings]):
    """Mean and empirical quantiles of the last `window` steps, flat over the horizon."""

    Settings: ClassVar[type[ForecasterSettings]] = RecentWindowSettings
    learned: ClassVar[bool] = False  # the recent distribution as it is: nothing is fitted

    def _fit(self, panel: Panel) -> dict[int, str]:
        # a series shorter than the window has no recent distribution to speak of yet
        n, w = panel.lengths, self.settings.window
        self._keep = [i for i in range(len(n)) if n[i] >= w]
        return {i: f"{int(n[i])} points < window of {w}" for i in range(len(n)) if n[i] < w}

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._panel is not None
        w = self.settings.window
        mean = np.empty((len(self._keep), h))
        lo = np.empty((len(self._keep), len(levels), h))
        hi = np.empty((len(self._keep), len(levels), h))
        for k, i in enumerate(self._keep):
            recent = self._panel.values[i][-w:]
            mean[k] = recent.mean()
            for j, lv in enumerate(levels):
                q_lo, q_hi = np.quantile(recent, [(1 - lv / 100) / 2, (1 + lv / 100) / 2])
                lo[k, j], hi[k, j] = q_lo, q_hi
        return mean, lo, hi
