"""The serving-side policy kinds (forecasters, autoscalers, right-sizers) on the one recipe: every member builds
from `build(name)` with its default settings, a bad setting is one line naming the kind, the member and the
field (the same from the library and from the CLI's --set), and the right-sizers' settings do what they say."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.errors import SettingsError
from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.forecasting.series import FORECASTERS
from gpufleet.optimizer.autoscaling import AUTOSCALERS
from gpufleet.optimizer.rightsizing import RIGHTSIZERS, histories

KINDS: list[tuple[str, PolicyRegistry]] = [  # type: ignore[type-arg]
    ("forecaster", FORECASTERS),
    ("autoscaler", AUTOSCALERS),
    ("rightsizer", RIGHTSIZERS),
]
MEMBERS = [(kind, reg, name) for kind, reg in KINDS for name in reg.names()]
IDS = [f"{kind}:{name}" for kind, _, name in MEMBERS]


@pytest.mark.parametrize(("kind", "reg", "name"), MEMBERS, ids=IDS)
def test_every_member_builds_with_its_default_settings(kind: str, reg: PolicyRegistry, name: str) -> None:  # type: ignore[type-arg]
    model = reg.settings_model(name)
    assert issubclass(model, PolicySettings)
    a, b = reg.build(name), reg.build(name)
    assert a is not b, "a fresh object per build: no state shared between runs"
    assert a.settings == model()  # type: ignore[attr-defined]
    assert isinstance(type(a).learned, bool)  # type: ignore[attr-defined]


def _bad_value(model: type[PolicySettings]) -> tuple[str, object]:
    """A field of `model` and a value its type refuses."""
    for field, info in model.model_fields.items():
        if info.annotation in (int, float, float | None, int | None):
            return field, "not-a-number"
    raise AssertionError(f"{model.__name__} has no numeric setting")


@pytest.mark.parametrize(("kind", "reg", "name"), MEMBERS, ids=IDS)
def test_a_bad_setting_is_one_line_naming_kind_member_and_field(kind: str, reg: PolicyRegistry, name: str) -> None:  # type: ignore[type-arg]
    field, value = _bad_value(reg.settings_model(name))
    with pytest.raises(SettingsError) as e:
        reg.build(name, {field: value})
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith(f"{kind} '{name}': {field}: "), line
    with pytest.raises(SettingsError, match=rf"^{kind} '{name}': no_such: not a setting \(valid: "):
        reg.build(name, {"no_such": 1})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["autoscale-sim", "--requests", "synthetic:requests", "--set", "tolerance=2"],
            "autoscaler 'target-tracking': --set tolerance=2: Input should be less than 1",
        ),
        (
            ["rightsize", "--samples", "synthetic:gpu-samples", "--sizer", "krr-simple", "--set", "margin=0.5"],
            "rightsizer 'krr-simple': --set margin=0.5: Input should be greater than or equal to 1",
        ),
        (
            ["forecast", "--series", "synthetic:gpu-samples", "--out", "{tmp}/f.parquet", "--set", "window=1"],
            "forecaster 'lightgbm': --set window=1: not a setting (valid: ",
        ),
    ],
)
def test_cli_set_errors_name_kind_member_and_item(args: list[str], expected: str, tmp_path: object) -> None:
    r = CliRunner().invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.exit_code == 2, r.output
    assert expected in r.output and r.output.count("\n") == 1, r.output


# -- right-sizer settings change what they say --------------------------------------------------------------------
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _history(n: int, step_s: float = 60.0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=i * step_s) for i in range(n)],
            "gpu_uuid": ["GPU-1"] * n,
            "gpu_model": ["A100-80GB"] * n,
            "util": rng.uniform(0.0, 0.3, n),
            "mem_used_bytes": rng.uniform(5e9, 9e9, n).astype(np.int64),
            "cpu_used_cores": rng.uniform(0.5, 2.0, n),
            "host_mem_used_bytes": rng.uniform(1e9, 2e9, n).astype(np.int64),
            "namespace": ["prod"] * n,
            "pod": ["web-7d4b9c8f6d-x2x5z"] * n,
        }
    )
    return histories(frame)[0]


@pytest.mark.parametrize("name", RIGHTSIZERS.names())
def test_min_history_settings_decide_when_there_is_an_opinion(name: str) -> None:
    short = _history(150)  # 2.5 h: below the default 3 h
    assert not RIGHTSIZERS.build(name).recommend(short).opinion
    r = RIGHTSIZERS.build(name, {"min_history_s": 3600}).recommend(short)
    assert r.opinion and r.proposed_gpus is not None
    assert not RIGHTSIZERS.build(name, {"min_history_s": 3600, "min_samples": 500}).recommend(short).opinion


@pytest.mark.parametrize("name", RIGHTSIZERS.names())
def test_margin_scales_the_memory_target(name: str) -> None:
    h = _history(600)
    base = RIGHTSIZERS.build(name).recommend(h)
    wider = RIGHTSIZERS.build(name, {"margin": 1.5}).recommend(h)
    assert base.mem_target is not None and wider.mem_target is not None
    assert math.isclose(wider.mem_target / base.mem_target, 1.5 / 1.15, rel_tol=1e-9)


def test_krr_cpu_percentile_is_the_request_without_margin() -> None:
    h = _history(600)
    r = RIGHTSIZERS.build("krr-simple", {"cpu_q": 0.5}).recommend(h)
    assert r.cpu_target == r.evidence["cpu_p50"] == r.cpu_lower == r.cpu_upper
    assert RIGHTSIZERS.build("krr-simple").recommend(h).cpu_target == r.evidence["cpu_p95"]


def test_a_time_sliced_share_follows_share_step() -> None:
    h = _history(600)
    h.gpu_model, h.gpu_mem_total = "T4", 16e9  # no MIG: a share of one GPU
    coarse = RIGHTSIZERS.build("vpa", {"share_step": 0.25}).recommend(h)
    fine = RIGHTSIZERS.build("vpa").recommend(h)
    assert coarse.proposed_gpus is not None and fine.proposed_gpus is not None
    assert math.isclose(coarse.proposed_gpus / 0.25, round(coarse.proposed_gpus / 0.25))
    assert fine.proposed_gpus <= coarse.proposed_gpus


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ({"settings": {"target_util": 2}}, "settings: autoscaler 'predictive': target_util: Input should be less"),
        ({"forecaster": "recent-windw"}, "forecaster: unknown forecaster 'recent-windw'; valid: "),
        ({"forecaster_settings": {"window": 1}}, "forecaster: forecaster 'recent-window': window: Input should be"),
    ],
)
def test_hook_config_checks_the_policy_and_forecaster_when_read(workload: dict[str, object], expected: str) -> None:
    """A live workload's autoscaler and forecaster settings are refused when hook.yaml is read, with one line
    naming the field, never when the first decision builds them."""
    from pydantic import ValidationError

    from gpufleet.core.errors import validation_line
    from gpufleet.hook.config import HookConfig

    cfg = {"telemetry": {"url": "http://127.0.0.1:9"}, "workloads": [{"namespace": "llm", "name": "chat", **workload}]}
    with pytest.raises(ValidationError) as e:
        HookConfig.model_validate(cfg)
    line = validation_line(e.value)
    assert line.startswith(f"workloads.0: {expected}") and "\n" not in line, line
