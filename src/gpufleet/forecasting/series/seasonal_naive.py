"""seasonal-naive: tomorrow looks like today (see naive.py for the point and interval definitions)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings, PanelForecaster
from gpufleet.forecasting.series.naive import seasonal_naive
from gpufleet.forecasting.series.panel import Panel


class SeasonalNaiveSettings(ForecasterSettings):
    """seasonal-naive has only the shared settings (seed is accepted and unused: it is deterministic)."""


@FORECASTERS.register("seasonal-naive")
class SeasonalNaive(PanelForecaster[SeasonalNaiveSettings]):
    """The value one season earlier; intervals from in-sample seasonal-difference quantiles."""

    Settings: ClassVar[type[ForecasterSettings]] = SeasonalNaiveSettings
    learned: ClassVar[bool] = False

    def _fit(self, panel: Panel) -> dict[int, str]:
        # A series needs one full season plus one point (one residual); shorter ones use the naive.
        n = panel.lengths
        self._keep = [i for i in range(len(n)) if n[i] > self.season]
        return {
            i: f"{int(n[i])} points <= one season ({self.season} steps)" for i in range(len(n)) if n[i] <= self.season
        }

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._panel is not None
        parts = [seasonal_naive(self._panel.values[i], self.season, h, levels) for i in self._keep]
        return np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]), np.stack([p[2] for p in parts])
