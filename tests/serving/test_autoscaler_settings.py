"""Autoscaler settings are validated by each policy's Settings model (no attribute writes), guardrails are
ordered, and a policy's memory survives a JSON round trip (what the live hook keeps across a restart)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gpufleet.core.errors import SettingsError
from gpufleet.optimizer.autoscaling import AUTOSCALERS, FleetState, Forecast, Guardrails, Oracle


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"decide": 1.0}, "decide: not a setting"),
        ({"_recs": 1.0}, "_recs: not a setting"),
        ({"period_s": 1.0}, "period_s: not a setting"),
        ({"target_util": math.inf}, "target_util: Input should be a finite number"),
        ({"target_util": math.nan}, "target_util: Input should be a finite number"),
        ({"target_util": 0.0}, "target_util: Input should be greater than 0"),
        ({"tolerance": 1.5}, "tolerance: Input should be less than 1"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, float], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^autoscaler 'target-tracking': {message}") as e:
        AUTOSCALERS.build("target-tracking", settings)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", AUTOSCALERS.names())
def test_every_policy_declares_its_settings_and_their_defaults_pass(name: str) -> None:
    model = AUTOSCALERS.settings_model(name)
    assert model.model_fields, f"{name} declares no settings"
    defaults = model().model_dump()  # the declared defaults are valid settings, given back as they are
    a = AUTOSCALERS.build(name, defaults)
    assert a.settings.model_dump() == defaults == AUTOSCALERS.build(name).settings.model_dump()  # type: ignore[attr-defined]
    assert a.target_util == defaults["target_util"]  # what the live hook sizes a replica's capacity by


def test_settings_are_not_attributes() -> None:
    """A setting lives in the settings model: the object has no attribute a caller could have overwritten."""
    a = AUTOSCALERS.build("kpa", {"panic_threshold": 3.0})
    assert a.settings.panic_threshold == 3.0  # type: ignore[attr-defined]
    assert not hasattr(a, "panic_threshold")


def test_guardrails_refuse_min_above_max() -> None:
    with pytest.raises(ValueError, match="min_replicas 5 > max_replicas 2"):
        Guardrails(min_replicas=5, max_replicas=2)


def _state(now: float, conc: np.ndarray, ready: int) -> FleetState:
    return FleetState(
        now=now,
        ready=ready,
        starting=0,
        slots_per_replica=8,
        service_s=2.0,
        cold_start_s=20.0,
        concurrency=conc,
        arrivals=np.full(len(conc), 3.0),
    )


@pytest.mark.parametrize("name", AUTOSCALERS.names())
def test_memory_round_trip_gives_the_same_decisions(name: str) -> None:
    """Two copies decide on a burst then a drop; one is rebuilt from the other's JSON memory halfway
    (a restart): from then on both must decide identically, holds and calibration included."""
    rng = np.random.default_rng(7)
    demand = np.concatenate([np.full(400, 10.0), np.full(20, 60.0), np.full(440, 12.0)]) + rng.uniform(0, 2, 860)
    settings = {"calibrate_min": 3.0, "calibrate_window_s": 600.0} if name == "predictive" else {}
    a = AUTOSCALERS.build(name, settings)
    if isinstance(a, Oracle):
        a.set_future(demand)
    b = None
    replicas = 2
    for t in range(300, 860, 5):
        fc = Forecast(float(t), 60.0, np.full(3, demand[t] / 2.0), np.full(3, demand[t] / 1.5), 99)
        if t == 440 and b is None:  # 20 s after the burst: the holds are active
            b = AUTOSCALERS.build(name, settings)
            if isinstance(b, Oracle):
                b.set_future(demand)
            b.recall(json.loads(json.dumps(a.memory())))
        s = _state(float(t), demand[: t + 1], replicas)
        pa = a.decide(s, fc)
        if b is not None:
            pb = b.decide(s, fc)
            assert (pb.desired, pb.reason) == (pa.desired, pa.reason), t
        replicas = pa.desired
    assert b is not None
