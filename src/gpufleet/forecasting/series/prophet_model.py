"""prophet: one Prophet model per series (MAP fit), with seasonality only where the span shows it.

Daily seasonality is on when a series spans at least 2 days, weekly when it spans at least 2 weeks
(fewer repetitions cannot separate a season from the trend). Intervals: Prophet draws
`uncertainty_samples` posterior-predictive paths; the L% interval is their (1-L)/2 and (1+L)/2
quantiles, exactly what Prophet computes with interval_width = L/100, but from one set of draws for
all levels. Draws use numpy's global RNG (Prophet's choice), so it is seeded per series and restored
afterwards; the Stan optimizer gets the same seed. Prophet and cmdstanpy logging is silenced to warnings.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings, PanelForecaster
from gpufleet.forecasting.series.panel import DAY_US, Panel

if TYPE_CHECKING:
    import pandas as pd


class ProphetSettings(ForecasterSettings):
    """Prophet per series: sampling and trend flexibility."""

    uncertainty_samples: int = Field(
        200, ge=10, description="posterior draws for the intervals (fewer = faster, noisier tails)"
    )
    changepoint_prior_scale: float = Field(
        0.05, gt=0, description="trend flexibility (Prophet's default 0.05; larger follows shifts faster)"
    )
    min_points: int = Field(10, ge=2, description="series with fewer points are forecast by the fallback")
    daily_min_days: float = Field(2.0, gt=0, description="fit a daily season when the series spans this many days")
    weekly_min_days: float = Field(14.0, gt=0, description="fit a weekly season when the series spans this many days")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Prophet's chatter: cmdstanpy INFO logs and Prophet's own pandas deprecation warnings."""
    # cmdstanpy logs every optimizer start/stop at INFO; a backtest over many series would drown the console.
    # Its get_logger() resets the level to DEBUG while no handler exists anywhere up the tree, so let it
    # install its handler first, then lower the level: later calls see the handler and leave it be.
    from cmdstanpy.utils import get_logger

    get_logger()
    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # Prophet calls pandas APIs that pandas has deprecated; the user can do nothing about it.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet\b")
        yield


def _prophet_frame(us: np.ndarray, y: np.ndarray | None = None) -> pd.DataFrame:
    """ds (and y) as Prophet wants them: timezone-naive timestamps, exact since every SERIES ds is UTC."""
    import pandas as pd  # lazily, with prophet: pandas alone adds a second to importing this package

    out = pd.DataFrame({"ds": pd.to_datetime(us.astype("int64"), unit="us")})
    return out if y is None else out.assign(y=y)


@FORECASTERS.register("prophet")
class ProphetForecaster(PanelForecaster[ProphetSettings]):
    """One Prophet model per series; intervals from its posterior-predictive draws."""

    Settings: ClassVar[type[ForecasterSettings]] = ProphetSettings
    learned: ClassVar[bool] = True

    @classmethod
    def warm_up(cls) -> None:
        """Import prophet and cmdstanpy (seconds on a cold start)."""
        import prophet  # noqa: F401

    def _fit(self, panel: Panel) -> dict[int, str]:
        from prophet import Prophet  # imported lazily: it takes a second and most callers never need it

        with _quiet():
            return self._fit_all(Prophet, panel)

    def _fit_all(self, prophet_cls: Any, panel: Panel) -> dict[int, str]:
        s = self.settings
        self._models: list[Any] = []
        self._keep: list[int] = []
        reasons: dict[int, str] = {}
        for i, y in enumerate(panel.values):
            if len(y) < s.min_points:
                reasons[i] = f"{len(y)} points < min_points {s.min_points}"
                continue
            span_days = (len(y) - 1) * panel.step_us / DAY_US
            model = prophet_cls(
                daily_seasonality=span_days >= s.daily_min_days and panel.step_us < DAY_US,
                weekly_seasonality=span_days >= s.weekly_min_days,
                yearly_seasonality=False,
                changepoint_prior_scale=s.changepoint_prior_scale,
                uncertainty_samples=s.uncertainty_samples,
            )
            model.fit(
                _prophet_frame(panel.first_us[i] + panel.step_us * np.arange(len(y), dtype=np.int64), y), seed=s.seed
            )
            self._models.append(model)
            self._keep.append(i)
        return reasons

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with _quiet():
            return self._predict_all(h, levels)

    def _predict_all(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._panel is not None
        p, s = self._panel, self.settings
        mean = np.empty((len(self._keep), h))
        lo = np.empty((len(self._keep), len(levels), h))
        hi = np.empty_like(lo)
        steps = p.step_us * np.arange(1, h + 1, dtype=np.int64)
        for row, (i, model) in enumerate(zip(self._keep, self._models, strict=True)):
            future = _prophet_frame(p.last_us[i] + steps)
            model.uncertainty_samples = 0  # the point forecast needs no draws
            mean[row] = model.predict(future)["yhat"].to_numpy()
            model.uncertainty_samples = s.uncertainty_samples
            state = np.random.get_state()
            try:
                np.random.seed((s.seed + i) % 2**32)
                draws = model.predictive_samples(future)["yhat"]
            finally:
                np.random.set_state(state)
            for j, lv in enumerate(levels):
                lo[row, j], hi[row, j] = np.quantile(draws, [(1 - lv / 100) / 2, (1 + lv / 100) / 2], axis=1)
        return mean, lo, hi
