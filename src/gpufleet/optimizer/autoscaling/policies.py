"""The autoscalers: `target-tracking` (Kubernetes HPA), `kpa` (Knative), `predictive` (EHPA-style) and
`oracle` (knows the future; the GPU-hours floor for the SLO). Semantics in docs/autoscaling.md."""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from gpufleet.optimizer.autoscaling.base import (
    AUTOSCALERS,
    F64,
    AutoscalerSettings,
    BaseAutoscaler,
    FleetState,
    Forecast,
    Guardrails,
    ScalingPlan,
    idle_for,
    replicas_for,
    window_mean,
)

DAY_S = 86400.0
UTIL = "share of a replica's slots to fill"


class TargetTrackingSettings(AutoscalerSettings):
    """The HPA's target, tolerance and scale-down stabilization window (Kubernetes' defaults but the target)."""

    target_util: float = Field(0.7, gt=0, le=1, description=f"{UTIL} (target concurrency per replica)")
    tolerance: float = Field(0.1, ge=0, lt=1, description="no change while |metric/target - 1| is within this")
    down_window_s: float = Field(
        300.0, ge=0, le=DAY_S, description="scale down only to the highest recommendation of this window (s)"
    )


class KpaSettings(AutoscalerSettings):
    """Knative's target, stable and panic windows and panic threshold (Knative's defaults but the target)."""

    target_util: float = Field(0.7, gt=0, le=1, description=UTIL)
    stable_window_s: float = Field(
        60.0, gt=0, le=DAY_S, description="window whose mean concurrency sizes the fleet (s)"
    )
    panic_window_s: float = Field(6.0, gt=0, le=DAY_S, description="short window that can trigger panic mode (s)")
    panic_threshold: float = Field(
        2.0, ge=1, le=100, description="panic when the panic window wants this x the ready replicas"
    )


class PredictiveSettings(AutoscalerSettings):
    """Sizing for the forecast, the reactive floor and the calibrated margin.

    Defaults chosen 2026-12-04 on azure-llm:code, four one-hour ServeGen windows and two synthetic traces
    (bench/bench_autoscaling.py --defaults), never on azure-llm:conv, where they are reported."""

    # 1.0 as the oracle: the peak over the lead time is already a worst case, and the margin is calibrated
    target_util: float = Field(1.0, gt=0, le=1, description=f"{UTIL} when sizing for the forecast (plus margin)")
    reactive_util: float = Field(
        1.0, gt=0, le=1, description="the reactive floor: what is in flight now, at this share of the slots"
    )
    # Calibrated margin (0 = off: size for the forecast interval's upper end instead): size for the point
    # forecast's peak concurrency plus this quantile of how far the realized peak over the same window
    # exceeded it in the last `calibrate_window_s` (online split-conformal). The margin then follows the
    # trace - small on steady traffic, a burst's size on on/off traffic - where a fixed target_util on the
    # interval's upper end has to be tuned per trace (and what is tuned on one does not carry over).
    calibrate: float = Field(0.8, ge=0, lt=1, description="quantile of the recent misses added as margin (0: off)")
    calibrate_window_s: float = Field(
        1800.0, gt=0, le=7 * DAY_S, description="misses older than this are forgotten (s)"
    )
    calibrate_min: float = Field(
        20.0, ge=1, le=100_000, description="misses scored before the calibrated margin replaces the interval"
    )


class OracleSettings(AutoscalerSettings):
    """The oracle's utilization target."""

    target_util: float = Field(
        1.0, gt=0, le=1, description=f"{UTIL} (1.0: with the future known, every slot ordered is used)"
    )


@AUTOSCALERS.register("target-tracking")
class TargetTracking(BaseAutoscaler[TargetTrackingSettings]):
    """Kubernetes HPA on per-replica concurrency (requests in flight per replica).

    desired = ceil(current x metric / target), unchanged while |metric/target - 1| <= tolerance; scale-down
    waits for the highest recommendation of the last `down_window_s` (stabilization); scale-up at most
    max(100% of current, 4 pods) per 15 s period. The metric is the mean over the last period."""

    period_s = 15.0
    Settings: ClassVar[type[AutoscalerSettings]] = TargetTrackingSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None:
        super().__init__(settings, guardrails=guardrails)
        self._recs: deque[tuple[float, int]] = deque()

    def memory(self) -> dict[str, Any]:
        """The stabilization window's recommendations."""
        return {"recs": [list(r) for r in self._recs]}

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back the stabilization window."""
        self._recs = deque((float(t), int(r)) for t, r in memory.get("recs", []))

    def quiet_until(self, state: FleetState) -> float:
        """Forever once the last period saw no request and the fleet is at its minimum: with no demand every
        recommendation is at most the fleet (the window's maximum, capped by it), and the minimum holds it there;
        the zero recommendations not recorded never raise a later window's maximum."""
        if state.current == self.guard.min_replicas and idle_for(state, self.period_s):
            return math.inf
        return -math.inf

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        current = max(state.current, 1)
        conc = window_mean(state.window(state.concurrency, self.period_s))
        # like the HPA with pods not yet ready, starting replicas count as replicas doing nothing yet, so
        # demand already ordered for is not ordered twice
        per_replica = conc / current
        target = self.target_util * state.slots_per_replica
        ratio = per_replica / target
        rec = state.current if abs(ratio - 1.0) <= self.settings.tolerance else math.ceil(current * ratio - 1e-9)
        if not self._recs:  # a replay starts with a warm HPA that has been recommending the fleet it found
            self._recs.append((state.now - self.period_s, state.current))
        # stabilization: scale down only to the highest recommendation of the window
        self._recs.append((state.now, rec))
        while self._recs and self._recs[0][0] < state.now - self.settings.down_window_s:
            self._recs.popleft()
        if rec < state.current:
            rec = min(state.current, max(r for _, r in self._recs))
        # scale-up rate limit: max(100%, 4 pods) per period
        rec = min(rec, current + max(current, 4))
        return float(rec), f"HPA: {per_replica:.1f} in flight per replica vs target {target:.1f} (x{ratio:.2f})"


@AUTOSCALERS.register("kpa")
class Kpa(BaseAutoscaler[KpaSettings]):
    """Knative's KPA on concurrency: the stable window's average sizes the fleet; when the panic window's
    average asks for at least `panic_threshold` x the current replicas, panic: follow the panic window and
    never scale down until `stable_window_s` has passed without panicking."""

    period_s = 2.0
    Settings: ClassVar[type[AutoscalerSettings]] = KpaSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None:
        super().__init__(settings, guardrails=guardrails)
        self._panic_until = -math.inf
        self._panic_max = 0.0

    def memory(self) -> dict[str, Any]:
        """Panic mode: until when, and the most it asked for."""
        until = self._panic_until if math.isfinite(self._panic_until) else None
        return {"panic_until": until, "panic_max": self._panic_max}

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back panic mode."""
        until = memory.get("panic_until")
        self._panic_until = -math.inf if until is None else float(until)
        self._panic_max = float(memory.get("panic_max", 0.0))

    def quiet_until(self, state: FleetState) -> float:
        """Forever once out of panic, both windows saw no request and the fleet is at its minimum: every later
        decision wants 0 replicas (the minimum) and never panics."""
        s = self.settings
        window = max(s.stable_window_s, s.panic_window_s)
        calm = state.now >= self._panic_until and self._panic_max == 0.0
        if calm and state.current == self.guard.min_replicas and idle_for(state, window):
            return math.inf
        return -math.inf

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        s = self.settings
        target = s.target_util * state.slots_per_replica
        stable = window_mean(state.window(state.concurrency, s.stable_window_s)) / target
        panic = window_mean(state.window(state.concurrency, s.panic_window_s)) / target
        ready = max(state.ready, 1)
        if panic / ready >= s.panic_threshold:
            self._panic_until = state.now + s.stable_window_s
        if state.now < self._panic_until:
            self._panic_max = max(self._panic_max, panic, float(state.current))
            return self._panic_max, f"KPA panic: 6 s window wants {panic:.1f} replicas"
        self._panic_max = 0.0
        return stable, f"KPA: 60 s window wants {stable:.1f} replicas"


@AUTOSCALERS.register("predictive")
class Predictive(BaseAutoscaler[PredictiveSettings]):
    """The oracle's rule with the future estimated: provision for the forecast's peak in flight over the cold-start
    lead time plus one period, plus a margin calibrated on the forecast's own recent misses (Crane's EHPA and AWS
    predictive scaling take the larger of a forecast and a reactive answer; so does this). Demand in requests/s
    becomes concurrency by Little's law (rate x recent service time). Until enough misses are scored the margin
    is unknown and it falls back to the forecast interval's upper end with a full HPA (stabilization) floor.

    Not learned: nothing is fitted before it decides. What learns is its forecaster (a Forecaster, with its own
    `learned`), and the margin is an online quantile of its own recent misses, updated as it runs."""

    period_s = 15.0
    uses_forecast = True
    Settings: ClassVar[type[AutoscalerSettings]] = PredictiveSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None:
        super().__init__(settings, guardrails=guardrails)
        floor = TargetTrackingSettings(target_util=self.settings.reactive_util)
        self._reactive = TargetTracking(floor, guardrails=self.guard)
        self._pending: deque[tuple[float, float, float]] = deque()  # (decided at, horizon, predicted peak)
        self._resid: deque[tuple[float, float]] = deque()  # (window end, realized - predicted peak)
        self._sorted: list[float] = []  # the misses of _resid, sorted: the margin's quantile without a sort

    def memory(self) -> dict[str, Any]:
        """Predictions not yet scored, the scored misses, and the reactive floor's window."""
        return {
            "pending": [list(p) for p in self._pending],
            "resid": [list(r) for r in self._resid],
            "reactive": self._reactive.memory(),
        }

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back the calibration and the reactive floor's window."""
        self._pending = deque((float(a), float(b), float(c)) for a, b, c in memory.get("pending", []))
        self._resid = deque((float(a), float(b)) for a, b in memory.get("resid", []))
        self._sorted = sorted(r for _, r in self._resid)
        self._reactive.recall(memory.get("reactive", {}))

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        # the HPA runs every decision so its stabilization history is warm whenever it is the answer
        reactive, why = self._reactive._desired(state, None)
        if forecast is None or not len(forecast.hi):
            return reactive, why + " (no forecast yet)"
        horizon = state.cold_start_s + self.period_s
        steps = max(1, math.ceil(horizon / forecast.step_s))
        point = float(np.max(forecast.mean[:steps])) * state.service_s  # predicted peak in flight
        margin = self._margin(state) if self.settings.calibrate > 0 else None
        if self.settings.calibrate > 0:
            self._pending.append((state.now, horizon, point))
        if margin is None:
            peak_rate = float(np.max(forecast.hi[:steps]))
            need = replicas_for(peak_rate * state.service_s, state.slots_per_replica, self.target_util)
            what = f"up to {peak_rate:.2f} req/s"
        else:
            need = replicas_for(point + margin, state.slots_per_replica, self.target_util)
            what = f"{point:.1f} in flight + {margin:.1f} calibrated margin"
            # A calibrated forecast already covers the next lead time, misses included, so the floor is only
            # the load in flight now; the HPA's 5-minute hold on top of it paid for the same risk twice
            # (it held the noisiest recommendation of the window on steady traffic).
            now_c = window_mean(state.window(state.concurrency, self.period_s))
            reactive = replicas_for(now_c, state.slots_per_replica, self.settings.reactive_util)
            why = f"in flight now: {now_c:.1f} -> {reactive:.1f} replicas"
        if need >= reactive:
            return need, f"forecast: {what} in the next {horizon:.0f} s -> {need:.1f} replicas"
        return reactive, why

    def _margin(self, state: FleetState) -> float | None:
        """Score the predictions whose window has passed, then the calibrated margin (None: too few yet)."""
        conc, now = state.concurrency, state.now
        while self._pending and self._pending[0][0] + self._pending[0][1] <= now:
            t, h, predicted = self._pending.popleft()
            a, b = len(conc) - int(now - t), len(conc) - int(now - t - h)
            seen = conc[max(a, 0) : max(b, 0)]
            if a < 0 or not len(seen):
                continue
            peak = float(seen.max())  # NaN when a second is missing: then the NaN-aware way
            if math.isnan(peak):
                if not np.isfinite(seen).any():
                    continue
                peak = float(np.nanmax(seen))
            self._resid.append((t + h, peak - predicted))
            bisect.insort(self._sorted, peak - predicted)
        while self._resid and self._resid[0][0] < now - self.settings.calibrate_window_s:
            _, gone = self._resid.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, gone)]
        if len(self._resid) < self.settings.calibrate_min:
            return None
        return max(0.0, linear_quantile(self._sorted, self.settings.calibrate))


def linear_quantile(ordered: list[float], q: float) -> float:
    """np.quantile(values, q) (its default 'linear' method, the same float) of values already sorted: numpy's own
    arithmetic (numpy/lib/_function_base_impl.py, _quantile and _lerp), without its sort and array overheads."""
    n = len(ordered)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return ordered[-1]
    if virtual < 0:
        return ordered[0]
    prev = math.floor(virtual)
    gamma = virtual - prev
    a, b = ordered[prev], ordered[prev + 1]
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


@AUTOSCALERS.register("oracle")
class Oracle(BaseAutoscaler[OracleSettings]):
    """Knows the future: sized for the true concurrency over the next cold start + period (it must order
    replicas that long ahead). Needs `set_future(concurrency_per_second)` before use; a lower bound on the
    GPU-hours any policy needs for the same utilization target."""

    period_s = 15.0
    Settings: ClassVar[type[AutoscalerSettings]] = OracleSettings
    learned: ClassVar[bool] = False  # it is told the future, it does not learn it
    sees_future: ClassVar[bool] = True  # offline only: the hook refuses it, the replay calls set_future

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None:
        super().__init__(settings, guardrails=guardrails)
        self._future: F64 | None = None
        self._busy_s = np.zeros(0, dtype=np.int64)

    def set_future(self, concurrency: F64) -> None:
        """The true per-second concurrency of the whole replay (what it would be with unlimited replicas)."""
        self._future = concurrency
        self._busy_s = np.flatnonzero(concurrency)  # seconds with demand, for quiet_until

    def quiet_until(self, state: FleetState) -> float:
        """At its minimum, until its look-ahead reaches the next second with demand (it reads nothing else)."""
        if self._future is None or state.current != self.guard.min_replicas:
            return -math.inf
        k = int(np.searchsorted(self._busy_s, int(state.now)))
        if k == len(self._busy_s):
            return math.inf
        # a decision at t reads seconds int(t) .. int(t + cold start + period): quiet while that ends before s
        return float(self._busy_s[k]) - state.cold_start_s - self.period_s

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        if self._future is None:
            raise RuntimeError("oracle autoscaler needs set_future() with the replay's demand")
        a = int(state.now)
        b = int(state.now + state.cold_start_s + self.period_s) + 1
        window = self._future[a:b] if a < len(self._future) else np.zeros(1)
        peak = float(window.max()) if len(window) else 0.0
        need = replicas_for(peak, state.slots_per_replica, self.target_util)
        return need, f"oracle: peak {peak:.1f} in flight over the next {b - a} s"


def plan_summary(plan: ScalingPlan) -> str:
    """One line for logs."""
    return f"{plan.desired} replicas: {plan.reason}"
