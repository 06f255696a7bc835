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
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpufleet.core.forecast import Forecast
from gpufleet.core.registry import Registry

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


class AutoscalerSettings(BaseModel):
    """What a policy lets a caller set: declared fields only (an attribute of the object is not a setting),
    finite numbers within each field's range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Autoscaler(Protocol):
    """Decides the replicas of one workload from its state (and a forecast, for policies that use one)."""

    period_s: float  # how often it decides
    uses_forecast: bool
    Settings: ClassVar[type[AutoscalerSettings]]

    def decide(self, state: FleetState, forecast: Forecast | None = None) -> ScalingPlan:
        """The plan at `state.now`, guardrails applied."""
        ...

    def memory(self) -> dict[str, Any]:
        """What the policy remembers between decisions (stabilization windows, panic, calibration), as JSON."""
        ...

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back what `memory()` returned (a restarted live hook keeps its holds)."""
        ...


AUTOSCALERS: Registry[type[Autoscaler]] = Registry("autoscaler")


class BaseAutoscaler:
    """Guardrails and the missing-data rule around a policy's `_desired`."""

    period_s = 15.0
    uses_forecast = False
    Settings: ClassVar[type[AutoscalerSettings]] = AutoscalerSettings

    def __init__(self, guardrails: Guardrails | None = None, **settings: float) -> None:
        self.guard = guardrails or Guardrails()
        # only declared settings, validated: a caller can never overwrite a method or internal state
        for k, v in check_settings(type(self), settings).items():
            setattr(self, k, v)

    def memory(self) -> dict[str, Any]:
        """Nothing to remember by default."""
        return {}

    def recall(self, memory: dict[str, Any]) -> None:
        """Nothing to take back by default."""

    def _desired(self, state: FleetState, forecast: Forecast | None) -> tuple[float, str]:
        raise NotImplementedError

    def decide(self, state: FleetState, forecast: Forecast | None = None) -> ScalingPlan:
        """The policy's answer, then: no scale-down on missing data, step limit, min/max."""
        recent = state.window(state.concurrency, self.period_s)
        if len(recent) == 0 or not np.isfinite(recent).any():
            keep = max(state.current, self.guard.min_replicas, 1)
            return ScalingPlan(min(keep, self.guard.max_replicas), "no telemetry: keep the fleet as it is")
        raw, reason = self._desired(state, forecast)
        want = state.current if not math.isfinite(raw) else math.ceil(raw - 1e-9)
        if self.guard.max_step is not None:
            want = max(min(want, state.current + self.guard.max_step), state.current - self.guard.max_step)
        want = max(min(want, self.guard.max_replicas), self.guard.min_replicas)
        return ScalingPlan(int(want), reason, raw)


def check_settings(cls: type[Any], settings: dict[str, Any]) -> dict[str, float]:
    """`settings` validated by the policy's Settings model; ValueError naming the first bad field."""
    model: type[AutoscalerSettings] = cls.Settings
    try:
        return model.model_validate(settings).model_dump(include=set(settings), exclude_none=True)
    except ValidationError as e:
        err = e.errors()[0]
        field_name = ".".join(str(x) for x in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            valid = ", ".join(model.model_fields) or "none"
            raise ValueError(f"{field_name}: not a setting of this policy (valid: {valid})") from None
        raise ValueError(f"{field_name}: {err['msg']}") from None


def make_autoscaler(name: str, guardrails: Guardrails | None = None, **settings: float) -> Autoscaler:
    """A fresh autoscaler by registry name."""
    return AUTOSCALERS.get(name)(guardrails, **settings)  # type: ignore[call-arg]


def replicas_for(concurrency: float, slots: int, target_util: float) -> float:
    """Replicas that keep `concurrency` requests at `target_util` of the slots (Little's law sizing)."""
    return concurrency / max(slots * target_util, 1e-9)
