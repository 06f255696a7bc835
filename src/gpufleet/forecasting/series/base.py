"""Forecaster: fit(series) / predict(h, levels) over many series at once; its registry and shared machinery.

`PanelForecaster` owns the long frame: it prepares the input (regular grid, see prepare.py), splits it
into arrays, asks the model which series it can handle, forecasts the rest by seasonal-naive (or naive
below one season) and records why in `fallbacks`, then assembles the output frame. A model only
implements `_fit(panel) -> {index: reason}` and `_predict(h, levels) -> (mean, lo, hi)` on arrays.
The `mean` column is each model's point forecast (for lightgbm with its default L1 loss, the median).
Every output is passed through `enforce_order`, which only ever widens, so lo <= mean <= hi and wider
levels contain narrower ones even where sampled quantiles (Prophet) would cross by a hair; then through the
`bounds` given to fit (a monotone clip, so the order survives).
`ends` tells fit that a series is live until a later time than its last sample (samples missing at the end):
it is carried forward, unobserved, to that time, so its forecast starts where the caller's does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, Protocol, Self, TypeVar, cast

import numpy as np
import polars as pl
from pydantic import Field

from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.forecasting.series.bounds import Bounds, clip_arrays
from gpufleet.forecasting.series.naive import fallback_label, fallback_season, seasonal_naive
from gpufleet.forecasting.series.panel import (
    Panel,
    check_levels,
    day_steps,
    enforce_order,
    forecast_frame,
    to_us,
)
from gpufleet.forecasting.series.prepare import prepare

DEFAULT_LEVELS = (80, 95)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ForecasterSettings(PolicySettings):
    """Settings every forecaster has; unknown keys are errors."""

    seed: int = Field(0, ge=0, description="random seed; the same seed, settings and data give identical output")
    season_length: int | None = Field(
        None, ge=1, description="season in steps; default: one day of steps, inferred from the series step"
    )
    weekly: bool = Field(False, description="use a weekly season (7 days of steps) instead of a daily one")
    step_s: float | None = Field(
        None, gt=0, description="grid step in seconds; default: the median spacing of the input"
    )


class Forecaster(Protocol):
    """Forecasts every series of a long SERIES frame h steps ahead, with prediction intervals."""

    Settings: ClassVar[type[ForecasterSettings]]
    learned: ClassVar[bool]  # True: fit() trains a model on the history; False: a rule applied to it
    needs_history: ClassVar[bool]  # False: forecasts every series itself, even one point; fallbacks stay empty

    def __init__(self, settings: ForecasterSettings | None = None) -> None: ...

    @classmethod
    def warm_up(cls) -> None:
        """Import heavy dependencies now, so that timing a fit measures fitting alone."""
        ...

    @property
    def fallbacks(self) -> dict[str, str]:
        """After fit: unique_id -> why that series is forecast by the fallback instead of the model."""
        ...

    @property
    def info(self) -> dict[str, float]:
        """After fit: what input hygiene changed (duplicates averaged, gaps filled, ...; see prepare)."""
        ...

    @property
    def choice(self) -> dict[str, dict[str, float]]:
        """After fit: unique_id -> member -> weight for a forecaster that combines others (auto); else empty."""
        ...

    def fit(
        self, df: pl.DataFrame, *, bounds: Bounds | None = None, ends: Mapping[str, datetime] | None = None
    ) -> Forecaster:
        """Learn from a long SERIES frame (unique_id, ds, y); forecasts are clipped to `bounds`; `ends`: series
        known to be live until a later time than their last sample."""
        ...

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> pl.DataFrame:
        """unique_id, ds, mean, lo-L, hi-L per level: exactly h rows per series continuing its grid."""
        ...


# the one factory: FORECASTERS.build(name, settings); plugins join through the gpufleet.forecasters group
FORECASTERS: PolicyRegistry[Forecaster] = PolicyRegistry("forecaster", plugins="gpufleet.forecasters")


S = TypeVar("S", bound=ForecasterSettings)


class PanelForecaster(Generic[S]):
    """Shared fit/predict orchestration; subclasses implement `_fit` and `_predict` on arrays."""

    Settings: ClassVar[type[ForecasterSettings]] = ForecasterSettings
    learned: ClassVar[bool]  # each member declares it: a model fitted on the history (True) or a rule
    # False: the model forecasts any series with at least one point itself, so it never falls back
    needs_history: ClassVar[bool] = True

    def __init__(self, settings: ForecasterSettings | None = None) -> None:
        if settings is None:
            settings = self.Settings()
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{type(self).__name__} takes {self.Settings.__name__}, got {type(settings).__name__}")
        self.settings: S = cast(S, settings)
        self.fallbacks: dict[str, str] = {}
        self.info: dict[str, float] = {}
        self.choice: dict[str, dict[str, float]] = {}  # one model, no combination
        self.season = 1
        self._panel: Panel | None = None
        self._fallback_idx: list[int] = []
        self.bounds: Bounds | None = None

    @classmethod
    def warm_up(cls) -> None:
        """Nothing to import by default."""

    def fit(
        self, df: pl.DataFrame, *, bounds: Bounds | None = None, ends: Mapping[str, datetime] | None = None
    ) -> Self:
        """Prepare the frame, fit the model on the series it can handle, record the fallbacks."""
        step = timedelta(seconds=self.settings.step_s) if self.settings.step_s else None
        prep = prepare(df, step)
        panel = Panel.from_frame(prep.frame, prep.step, prep.observed)
        if ends:
            panel = panel.extended({k: to_us(v - EPOCH) for k, v in ends.items()})
        return self._fit_panel(panel, prep.info, bounds)

    def fit_regular(self, uid: str, values: np.ndarray, first_us: int, step_us: int) -> Self:
        """Fit one series already on a regular grid with every value finite and observed: what `fit` does after
        `prepare` (which would change nothing in it), without the frames (a serving replay refits every minute)."""
        panel = Panel([uid], [np.asarray(values, dtype=np.float64)], np.array([first_us], dtype=np.int64), step_us)
        panel = Panel(panel.ids, panel.values, panel.first_us, step_us, [np.ones(len(values), dtype=bool)])
        info = {"rows_in": len(values), "rows_out": len(values), "series": 1, "step_s": step_us / 1e6}
        return self._fit_panel(panel, info, None)

    def _fit_panel(self, panel: Panel, info: dict[str, float], bounds: Bounds | None) -> Self:
        self.bounds = bounds
        self.info = info
        self.season = self._season(panel.step_us)
        self._panel = panel
        reasons = self._fit(panel) if panel.ids else {}
        self._fallback_idx = sorted(reasons)
        n = panel.lengths
        self.fallbacks = {
            panel.ids[i]: f"{r}; forecast by {fallback_label(int(n[i]), self.season)}"
            for i, r in sorted(reasons.items())
        }
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> pl.DataFrame:
        """Forecast h steps for every fitted series: unique_id, ds, mean, lo-L, hi-L (levels ascending)."""
        mean, lo, hi, lv = self.predict_arrays(h, levels)
        assert self._panel is not None
        p = self._panel
        return forecast_frame(p.ids, p.last_us, p.step_us, mean, lo, hi, lv)

    def predict_arrays(
        self, h: int, levels: Sequence[int] = DEFAULT_LEVELS
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """`predict`'s values without the frame: mean (series, h), lo and hi (series, levels, h), the levels."""
        if self._panel is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit")
        if isinstance(h, bool) or int(h) != h or h < 1:
            raise ValueError(f"h must be a positive whole number of steps, got {h!r}")
        h = int(h)
        lv = check_levels(levels)
        p = self._panel
        n = len(p.ids)
        mean = np.zeros((n, h))
        lo = np.zeros((n, len(lv), h))
        hi = np.zeros((n, len(lv), h))
        fb = set(self._fallback_idx)
        modelled = [i for i in range(n) if i not in fb]
        if modelled:
            m_mean, m_lo, m_hi = self._predict(h, lv)
            mean[modelled], lo[modelled], hi[modelled] = m_mean, m_lo, m_hi
        for i in self._fallback_idx:
            y = p.values[i]
            mean[i], lo[i], hi[i] = seasonal_naive(y, fallback_season(len(y), self.season), h, lv)
        lo, hi = enforce_order(mean, lo, hi)
        mean, lo, hi = clip_arrays(p.ids, self.bounds, mean, lo, hi)
        return mean, lo, hi, lv

    def _season(self, step_us: int) -> int:
        if self.settings.season_length is not None:
            return self.settings.season_length
        return day_steps(step_us) * (7 if self.settings.weekly else 1)

    def _fit(self, panel: Panel) -> dict[int, str]:
        """Fit on the series the model can handle; return {series index: reason} for the others."""
        raise NotImplementedError

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean (m, h), lo (m, levels, h), hi) for the modelled series, in panel order."""
        raise NotImplementedError
