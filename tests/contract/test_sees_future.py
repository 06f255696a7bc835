"""`sees_future` is declared, never recognised by name or type: a plugin-like member that declares it is
refused by the live hook's config and the HTTP API, and is told the demand by the serving replay; a member
of a kind that declares the flag cannot join without it; `train runtime` and its help follow `learned`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.errors import GpufleetError, RegistryError
from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.optimizer.autoscaling import AUTOSCALERS
from gpufleet.optimizer.autoscaling.base import AutoscalerSettings, BaseAutoscaler
from gpufleet.optimizer.autoscaling.policies import replicas_for

TOLD: list[int] = []  # lengths of the demand each stand-in was told (what the replay handed over)


class Peeker(BaseAutoscaler[AutoscalerSettings]):
    """A third party's clairvoyant autoscaler: no name or base class in common with the built-in oracle."""

    learned: ClassVar[bool] = False
    sees_future: ClassVar[bool] = True

    def set_future(self, demand: Any) -> None:
        """Remember the demand the replay hands over."""
        self._demand = np.asarray(demand)
        TOLD.append(len(self._demand))

    def _desired(self, state: Any, forecast: Any) -> tuple[float, str]:
        a = int(state.now)
        peak = float(self._demand[a : a + 120].max()) if a < len(self._demand) else 0.0
        return replicas_for(peak, state.slots_per_replica, self.target_util), "peek"


@pytest.fixture
def peeker(monkeypatch: pytest.MonkeyPatch) -> str:
    """`peek` registered as a plugin would be, for this test only."""
    AUTOSCALERS.names()  # load the entry points first, so that undoing restores exactly what was there
    monkeypatch.setitem(AUTOSCALERS._items, "peek", Peeker)
    monkeypatch.setitem(AUTOSCALERS._origin, "peek", "peek-plugin")
    return "peek"


def test_the_oracles_declare_it_and_nothing_else_does() -> None:
    assert AUTOSCALERS.having("sees_future") == ["oracle"]
    assert PREDICTORS.having("sees_future") == ["oracle"]
    assert AUTOSCALERS.describe("oracle")["sees_future"] is True
    assert PREDICTORS.describe("lightgbm")["sees_future"] is False


def test_a_member_of_a_flagged_kind_must_declare_it() -> None:
    reg: PolicyRegistry[Any] = PolicyRegistry("thing", flags=("sees_future",))

    class Vague:
        Settings = PolicySettings
        learned = False

    with pytest.raises(RegistryError, match="declares `sees_future: bool`"):
        reg.add("vague", Vague)
    with pytest.raises(RegistryError, match="declare no 'peeks'"):
        reg.having("peeks")


def test_hook_yaml_refuses_a_plugin_that_sees_the_future(tmp_path: Path, peeker: str) -> None:
    from gpufleet.hook.config import load_hook_config

    p = tmp_path / "hook.yaml"
    p.write_text(f"telemetry: {{url: http://p}}\nworkloads: [{{namespace: llm, name: chat, policy: {peeker}}}]")
    with pytest.raises(GpufleetError) as e:
        load_hook_config(p)
    line = str(e.value)
    assert "\n" not in line and "llm/chat" in line and f"'{peeker}'" in line and "offline only" in line
    assert "target-tracking" in line and "oracle" not in line.split("live:")[1]


def test_http_api_offers_no_member_that_sees_the_future(peeker: str) -> None:
    from gpufleet.hook.http_api import live_policies

    live = live_policies()
    assert peeker not in live and "oracle" not in live and "target-tracking" in live


def test_serving_replay_tells_a_plugin_the_future(peeker: str) -> None:
    from tests.sim.serving.test_serving_sim import requests

    from gpufleet.sim.serving import ServingConfig, simulate_serving

    TOLD.clear()
    res = simulate_serving(requests(), ServingConfig(policy=peeker, warmup_s=0))
    assert len(TOLD) == 1 and TOLD[0] > 0  # without the declared flag it would never be told, and fail
    assert res.requests["e2e_s"].null_count() == 0


def test_train_runtime_refuses_a_member_that_learns_nothing(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["train", "runtime", "--jobs", "synthetic:jobs", "--out", str(tmp_path / "m"), "--model", "user-history"]
    )
    assert r.exit_code == 2
    assert "nothing to train" in r.output and "lightgbm" in r.output and "Traceback" not in r.output


def test_train_runtime_help_lists_the_learned_members() -> None:
    r = CliRunner().invoke(app, ["train", "runtime", "--help"], terminal_width=200)
    assert r.exit_code == 0
    line = next(ln for ln in r.output.splitlines() if "--model" in ln)
    for name in PREDICTORS.having("learned"):
        assert name in line
    assert "user-history" not in line and "oracle" not in line
