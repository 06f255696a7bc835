"""The default SLO and per-replica capacity a serving profile implies (plan.serving_profiles, #25 point 6)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import HookConfig
from gpufleet.hook.serve import with_profile_capacity
from gpufleet.plan.serving_profiles import default_slo, replica_capacity
from gpufleet.sim.serving import DEFAULT_PROFILES, ServingConfig


def test_diffusion_is_an_alias_of_sd_a10() -> None:
    assert DEFAULT_PROFILES["diffusion"] is DEFAULT_PROFILES["sd-a10"]


def test_capacity_is_slots_times_batch() -> None:
    assert replica_capacity("diffusion") == 1  # one image run at a time, batch 1
    assert replica_capacity("ranking-a10") == 64  # one run of up to 64
    assert replica_capacity("llama7b-a10") == 8  # max_seqs sequences


def test_llm_keeps_ttft_default() -> None:
    frame = pl.DataFrame({"arrival_time": [0.0, 1.0], "input_tokens": [10, 10], "output_tokens": [10, 10]})
    assert default_slo(frame, ServingConfig())[0] == "ttft_p99<=2"


def test_fixed_default_slo_hand_worked(tmp_path: Path) -> None:
    # 30 requests every 10 s, service 1..30 s; the selection window is arrival < 2/3 x 290 s: services 1..20,
    # p99 = 19 + 0.81 x (20 - 19) = 19.81 s; + cold start 41.3 s = 61.11 s, rounded up to 70 s
    prof = tmp_path / "p.yaml"
    prof.write_text("name: obs\ngpu_type: A10\nwork: fixed\nwork_settings: {column: service_time}\n")
    frame = pl.DataFrame(
        {
            "request_id": [str(i) for i in range(30)],
            "arrival_time": [10.0 * i for i in range(30)],
            "service_time": [float(i + 1) for i in range(30)],
        }
    )
    slo, why = default_slo(frame, ServingConfig(profile=str(prof)))
    assert slo == "e2e_p99<=70"
    assert "20 s" in why and "41.3 s" in why
    assert default_slo(frame, ServingConfig(profile=str(prof), cold_start_s=0))[0] == "e2e_p99<=20"


def _hook(workload: dict[str, object]) -> HookConfig:
    return HookConfig.model_validate(
        {"telemetry": {"url": "http://127.0.0.1:9"}, "workloads": [{"namespace": "sd", "name": "w", **workload}]}
    )


def test_hook_workload_takes_the_profiles_capacity() -> None:
    assert with_profile_capacity(_hook({"profile": "diffusion"})).workloads[0].slots_per_replica == 1
    assert with_profile_capacity(_hook({})).workloads[0].slots_per_replica == 8  # unchanged without a profile
    with pytest.raises(GpufleetError, match="contradicts profile 'diffusion'"):
        with_profile_capacity(_hook({"profile": "diffusion", "slots_per_replica": 8}))
    with pytest.raises(GpufleetError, match="workload sd/w: profile:"):
        with_profile_capacity(_hook({"profile": "nope"}))


def test_compare_autoscalers_states_the_default_e2e_slo(tmp_path: Path) -> None:
    """A non-LLM profile without --slo is scored against the selection window's bound, printed with its reason."""
    import json

    from typer.testing import CliRunner

    from gpufleet.cli import app

    prof = tmp_path / "p.yaml"
    prof.write_text("name: obs\ngpu_type: A10\nwork: fixed\nwork_settings: {column: service_time}\n")
    reqs = tmp_path / "r.csv"
    pl.DataFrame(
        {
            "request_id": [str(i) for i in range(30)],
            "arrival_time": [10.0 * i for i in range(30)],
            "service_time": [float(i + 1) for i in range(30)],
        }
    ).write_csv(reqs)
    args = ["compare-autoscalers", "--requests", str(reqs), "--profile", str(prof), "--policies", "target-tracking"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["slo"] == "e2e_p99<=70" and "41.3 s" in got["slo_why"]
    assert got["policies"][0]["slo"] == "e2e_p99<=70"
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "SLO e2e_p99<=70 (default:" in r.stdout and "e2e p99 s" in r.stdout
    r = CliRunner().invoke(app, [*args, "--slo", "e2e_p99<=30", "--json"])
    assert json.loads(r.stdout)["slo"] == "e2e_p99<=30"
