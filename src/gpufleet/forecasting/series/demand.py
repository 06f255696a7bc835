"""A forecaster refit on the demand seen so far: the predictive autoscaler's forecasts, in the serving
simulator and the live hook alike (both import it from here, so the hook never needs the simulator)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from gpufleet.core.forecast import Forecast
from gpufleet.forecasting.series.base import PanelForecaster

# The predictive policy's forecaster, in the simulator and the live hook alike: the mean of the last 10
# one-minute steps (with its calibrated margin, chosen with the policy's defaults; docs/autoscaling.md)
DEFAULT_FORECASTER = "recent-window"
DEFAULT_FORECASTER_SETTINGS: dict[str, dict[str, float]] = {"recent-window": {"window": 10}}


class Forecasting:
    """Fits a Forecaster on the per-step arrival rate seen so far and keeps its latest forecast."""

    def __init__(
        self,
        model: str,
        step_s: float,
        every_s: float,
        history_s: float,
        level: int,
        settings: dict[str, float] | None,
    ) -> None:
        from gpufleet.forecasting.series import FORECASTERS  # the package: every member registered

        if settings is None:  # not given: the defaults that go with this forecaster
            settings = DEFAULT_FORECASTER_SETTINGS.get(model, {})
        kw: dict[str, object] = {"season_length": 1, "step_s": step_s}
        kw |= {k: int(v) if float(v).is_integer() else v for k, v in settings.items()}
        checked = FORECASTERS.settings(model, kw)  # fail now, not at the first decision, on a bad setting
        self.make = lambda: FORECASTERS.build(model, checked)
        self.step_s, self.every_s, self.history_s, self.level = step_s, every_s, history_s, level
        self.last_fit = -math.inf
        self.latest: Forecast | None = None

    def forecast(self, now: float, arrivals: np.ndarray, horizon_s: float, t0: int = 0) -> Forecast | None:
        """Refit every `every_s` on whole steps up to now; None until two steps of history exist.
        `arrivals[i]` counts the arrivals in second `t0 + i` (the simulator starts at 0; the live hook passes
        the Unix second its window starts at); steps are aligned on multiples of `step_s` either way."""
        if now - self.last_fit < self.every_s and self.latest is not None:
            return self.latest
        step = int(self.step_s)
        end = (int(now) // step) * step
        n_steps = min((end - t0) // step, int(self.history_s // step))
        if n_steps < 2:
            return None
        counts = arrivals[end - n_steps * step - t0 : end - t0].reshape(n_steps, step).sum(axis=1) / step
        h = max(1, math.ceil(horizon_s / step))
        model = self.make()
        first_us = (end - n_steps * step) * 1_000_000
        if isinstance(model, PanelForecaster) and np.isfinite(counts).all():
            # a regular, finite series (prepare would change nothing): the same fit as through the frame, without
            # building one every minute; gaps in live telemetry (NaN) take the frame's way
            mean, _, hi_all, levels = model.fit_regular("demand", counts, first_us, step * 1_000_000).predict_arrays(
                h, levels=[self.level]
            )
            mean_a, hi_a = mean[0], hi_all[0, levels.index(self.level)]
        else:
            ds_us = first_us + np.arange(n_steps) * step * 1_000_000
            frame = pl.DataFrame({"unique_id": ["demand"] * n_steps, "ds": ds_us, "y": counts}).with_columns(
                pl.col("ds").cast(pl.Datetime("us", "UTC"))
            )
            out = model.fit(frame).predict(h, levels=[self.level])
            mean_a, hi_a = out["mean"].to_numpy(), out[f"hi-{self.level}"].to_numpy()
        self.latest = Forecast(
            start=float(end),
            step_s=float(step),
            mean=mean_a.clip(0, None),
            hi=hi_a.clip(0, None),
            level=self.level,
        )
        self.last_fit = now
        return self.latest
