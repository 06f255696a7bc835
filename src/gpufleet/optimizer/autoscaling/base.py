"""The Autoscaler protocol, its registry, and what goes in and out of a decision.

Pure decisions: a FleetState (what the fleet looks like and what it has seen, in per-second bins) and an
optional Forecast in, a ScalingPlan out. Time is `state.now`, given by the caller (the serving simulator's
clock or the live hook's wall clock), so the same objects run offline and in the cluster.
Guardrails shared by every policy are applied by `decide`: min/max replicas, a maximum step per
decision, and never scaling down on missing data (a gap in telemetry is not a drop in demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpufleet.core.forecast import Forecast
from gpufleet.core.registry import PolicyRegistry, PolicySettings

F64 = npt.NDArray[np.float64]
HISTORY_S = 3600  # seconds of per-second history a decision sees (the simulator and the live hook alike)


@dataclass(frozen=True)
class FleetState:
    """One workload's serving fleet at decision time.

    `concurrency` and `arrivals` are per-second bins ending at `now` (oldest first): the time-averaged
    number of requests in the system (running + queued) and the requests that arrived in each second.
    NaN marks seconds without telemetry."""

    now: float
    ready: int  # replicas serving
    starting: int  # replicas cold-starting (they count against the desired number)
    slots_per_replica: int  # sequences one replica runs at once
    service_s: float  # recent mean time a request holds a slot (seconds)
    cold_start_s: float
    concurrency: F64
    arrivals: F64

    @property
    def current(self) -> int:
        """Replicas that exist (ready or starting)."""
        return self.ready + self.starting

    def window(self, series: F64, seconds: float) -> F64:
        """The last `seconds` of a per-second series."""
        n = max(int(seconds), 1)
        return series[-n:]


@dataclass
class ScalingPlan:
    """What to run: the desired replicas and why."""

    desired: int
    reason: str
    raw: float = math.nan  # the policy's answer before guardrails
    details: dict[str, float] = field(default_factory=dict)


class Guardrails(BaseModel):
    """Limits every autoscaler obeys."""

    model_config = ConfigDict(extra="forbid")
    min_replicas: int = Field(1, ge=0, description="never fewer replicas")
    max_replicas: int = Field(200, ge=1, description="never more replicas")
    max_step: int | None = Field(None, ge=1, description="largest change in replicas per decision (None: no limit)")

    @model_validator(mode="after")
    def _ordered(self) -> Guardrails:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        return self


class AutoscalerSettings(PolicySettings):
    """What a policy lets a caller set: declared fields only (an attribute of the object is not a setting),
    finite numbers within each field's range. Guardrails are not settings: they are the run's context."""


DEFAULT_TARGET_UTIL = 0.7  # a policy without a target_util setting: the live hook's capacity per replica


class Autoscaler(Protocol):
    """Decides the replicas of one workload from its state (and a forecast, for policies that use one).

    Built by `AUTOSCALERS.build(name, settings, guardrails=...)`: its settings, then the guardrails of the run."""

    Settings: ClassVar[type[AutoscalerSettings]]
    learned: ClassVar[bool]  # True: fitted on data before it decides; every built-in is a rule (False)
    # True: it is told the future demand (`set_future`) before a replay, a floor for offline comparisons; the
    # live hook refuses it and the replay hands it the demand. Declared, never recognised by name or type.
    sees_future: ClassVar[bool]
    period_s: float  # how often it decides
    uses_forecast: bool

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None: ...

    @property
    def target_util(self) -> float:
        """Share of a replica's slots the policy fills (the live hook's default capacity per replica)."""
        ...

    def decide(self, state: FleetState, forecast: Forecast | None = None) -> ScalingPlan:
        """The plan at `state.now`, guardrails applied."""
        ...

    def memory(self) -> dict[str, Any]:
        """What the policy remembers between decisions (stabilization windows, panic, calibration), as JSON."""
        ...

    def set_future(self, demand: Any) -> None:
        """Be told the replay's demand per second ahead of time (called only on members that `sees_future`)."""
        ...

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back what `memory()` returned (a restarted live hook keeps its holds)."""
        ...

    def quiet_until(self, state: FleetState) -> float:
        """Called right after `decide(state)` kept the fleet as it is: until when (exclusive) every later decision
        would keep it too, and leave the policy deciding later exactly as if it had taken them, as long as no
        request is in flight or arrives and the fleet stays as `state` shows it; `state.now` or less promises
        nothing. A replay skips the decisions of an idle fleet up to then (docs/serving.md, "Speed")."""
        ...


# the one factory: AUTOSCALERS.build(name, settings, guardrails=...); plugins join through gpufleet.autoscalers
AUTOSCALERS: PolicyRegistry[Autoscaler] = PolicyRegistry(
    "autoscaler", plugins="gpufleet.autoscalers", flags=("sees_future",)
)

S = TypeVar("S", bound=AutoscalerSettings)


class BaseAutoscaler(Generic[S]):
    """Guardrails and the missing-data rule around a policy's `_desired`."""

    period_s = 15.0
    uses_forecast = False
    sees_future: ClassVar[bool] = False
    Settings: ClassVar[type[AutoscalerSettings]] = AutoscalerSettings

    def __init__(self, settings: AutoscalerSettings | None = None, *, guardrails: Guardrails | None = None) -> None:
        self.guard = guardrails or Guardrails()
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{type(self).__name__} takes {self.Settings.__name__}, got {type(settings).__name__}")
        # the settings live in their model, never on the object: a caller cannot overwrite a method or state
        self.settings: S = cast(S, settings)

    @property
    def target_util(self) -> float:
        """Share of a replica's slots the policy fills: its target_util setting, else DEFAULT_TARGET_UTIL."""
        return float(self.settings.model_dump().get("target_util", DEFAULT_TARGET_UTIL))

    def memory(self) -> dict[str, Any]:
        """Nothing to remember by default."""
        return {}

    def set_future(self, demand: Any) -> None:
        """Nothing to be told: only members that `sees_future` read the replay's demand ahead of time."""

    def recall(self, memory: dict[str, Any]) -> None:
        """Nothing to take back by default."""

    def quiet_until(self, state: FleetState) -> float:
        """No promise by default: a replay takes every decision."""
        return -math.inf

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        raise NotImplementedError

    def decide(self, state: FleetState, forecast: Forecast | None = None) -> ScalingPlan:
        """The policy's answer, then: no scale-down on missing data, step limit, min/max."""
        recent = state.window(state.concurrency, self.period_s)
        # a finite sum means every value is finite (the common case, without isfinite's array)
        if len(recent) == 0 or (not math.isfinite(float(recent.sum())) and not np.isfinite(recent).any()):
            keep = max(state.current, self.guard.min_replicas, 1)
            return ScalingPlan(min(keep, self.guard.max_replicas), "no telemetry: keep the fleet as it is")
        raw, reason = self._desired(state, forecast)
        want = state.current if not math.isfinite(raw) else math.ceil(raw - 1e-9)
        if self.guard.max_step is not None:
            want = max(min(want, state.current + self.guard.max_step), state.current - self.guard.max_step)
        want = max(min(want, self.guard.max_replicas), self.guard.min_replicas)
        return ScalingPlan(int(want), reason, raw)


def window_mean(x: F64) -> float:
    """np.nanmean of a window, the same float, without its copy and mask when no value is missing (the replays
    call it a million times)."""
    total = float(x.sum())
    if len(x) and math.isfinite(total):
        return total / len(x)
    return float(np.nanmean(x))


def idle_for(state: FleetState, seconds: float) -> bool:
    """No request in the system in the last `seconds` of the state's history (all of them seen)."""
    recent = state.window(state.concurrency, seconds)
    return len(recent) >= int(seconds) and not recent.any()


def replicas_for(concurrency: float, slots: int, target_util: float) -> float:
    """Replicas that keep `concurrency` requests at `target_util` of the slots (Little's law sizing)."""
    return concurrency / max(slots * target_util, 1e-9)
