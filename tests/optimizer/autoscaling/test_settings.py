"""Autoscaler settings are validated by each policy's Settings model (no attribute writes), guardrails are
ordered, and a policy's memory survives a JSON round trip (what the live hook keeps across a restart)."""

from __future__ import annotations

import math

import pytest

from gpufleet.core.errors import SettingsError
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails


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
