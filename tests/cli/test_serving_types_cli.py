"""Heterogeneous serving and model swaps through the CLI: `serving-types` (each GPU type alone, then the mix),
`--gpu-types` on autoscale-sim / compare-autoscalers, swap figures in `compare-autoscalers --json`, and one-line
errors for what a user can get wrong. On the first two days of genai:requests (203 requests, 14 base models)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.prices import default_prices
from gpufleet.plan.references import load_requests

runner = CliRunner()


@pytest.fixture(scope="module")
def two_days(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = load_requests("genai:requests", data_dir)
    path = tmp_path_factory.mktemp("genai") / "two_days.csv"
    f.filter(pl.col("arrival_time") < 2 * 86400).write_csv(path)
    return path


def run_json(*args: str) -> dict:  # type: ignore[type-arg]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_serving_types_compares_each_type_alone_with_the_mix(two_days: Path) -> None:
    d = run_json("serving-types", "--requests", str(two_days), "--gpu-types", "A10:3,A100-80GB,H100")
    fleets = d["fleets"]
    assert d["fleet_order"] == ["A10:3", "A100-80GB", "H100", "mixed"] and set(fleets) == set(d["fleet_order"])
    assert d["swaps_modelled"] is True
    prices = default_prices()
    for name, s in fleets.items():
        by_type = s["gpu_hours_by_type"]
        assert sum(by_type.values()) == pytest.approx(s["gpu_hours"])
        assert s["cost"] == pytest.approx(sum(h * (prices.rate(k) or 0.0) for k, h in by_type.items()))
        assert s["swaps"] > 0, f"{name}: replicas swap base models"
    assert fleets["A10:3"]["max_replicas"] <= 3, "a quota holds on a type alone"
    assert set(fleets["A100-80GB"]["gpu_hours_by_type"]) == {"A100-80GB"}
    # the mix: A10 is the cheapest throughput; past its quota of three it adds the next cheapest (A100), never
    # the dearest (H100)
    mix = fleets["mixed"]["gpu_hours_by_type"]
    assert mix["A10"] > 0 and mix["A100-80GB"] > 0 and mix["H100"] == 0
    speeds = {t["gpu_type"]: t["speed"] for t in d["types"]}
    assert speeds == {"A10": 1.0, "A100-80GB": 2.54, "H100": 3.77}
    # what the mix costs against the dearer one-type fleets that meet the SLO (computed from the rows, not assumed)
    cheapest = d["cheapest_single_type_meeting_slo"]
    ok = [k for k, s in fleets.items() if k != "mixed" and s["slo_met"]]
    assert cheapest == (min(ok, key=lambda k: fleets[k]["cost"]) if ok else None)


def test_compare_autoscalers_prints_swap_figures_and_no_swaps_turns_them_off(two_days: Path) -> None:
    args = ["compare-autoscalers", "--requests", str(two_days), "--profile", "diffusion"]
    d = run_json(*args, "--policies", "target-tracking,oracle")
    for row in d["policies"]:
        assert row["swaps"] > 0 and row["lora_loads"] >= 0 and row["controlnet_loads"] >= 0
        assert row["load_replica_hours"] > 0 and row["gpu_hours"] > 0 and "e2e_p99_s" in row
    off = run_json(*args, "--policies", "target-tracking", "--no-swaps")
    assert "swaps" not in off["policies"][0]
    # loading models costs replica time: the swapping fleet holds more GPU-hours than one that never loads
    assert d["policies"][0]["gpu_hours"] > off["policies"][0]["gpu_hours"]
    # the table, with its swaps column
    r = runner.invoke(app, [*args, "--policies", "target-tracking"], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and "swaps" in r.output


def test_autoscale_sim_on_another_gpu_type_prices_it_there(two_days: Path) -> None:
    s = run_json("autoscale-sim", "--requests", str(two_days), "--profile", "diffusion", "--gpu-types", "H100")
    rate = default_prices().rate("H100")
    assert rate is not None and set(s["gpu_hours_by_type"]) == {"H100"}
    assert s["cost"] == pytest.approx(s["gpu_hours"] * rate) and s["gpu_type"] == "A10"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu-types", "A10,L9"], "--gpu-types L9: profile 'sd-a10' has no speed on L9"),
        (["--gpu-types", "A10:0"], "the quota after ':' is a whole number"),
        (["--gpu-types", "A10,A10G"], "--gpu-types: a GPU type is named twice"),
    ],
)
def test_bad_gpu_types_are_one_line_and_exit_2(two_days: Path, args: list[str], message: str) -> None:
    for cmd in (["serving-types"], ["compare-autoscalers", "--profile", "diffusion"]):
        r = runner.invoke(app, [*cmd, "--requests", str(two_days), *args])
        assert r.exit_code == 2 and message in r.output, r.output
        assert "Traceback" not in r.output and "internal error" not in r.output


def test_a_mix_with_an_unpriced_type_is_refused_and_swaps_need_models(tmp_path: Path, two_days: Path) -> None:
    prof = tmp_path / "sd.yaml"
    prof.write_text("name: sd-x\ngpu_type: A10\nwork: diffusion\nspeeds:\n  X9: {speed: 2, source: ours}\n")
    r = runner.invoke(
        app, ["serving-types", "--requests", str(two_days), "--profile", str(prof), "--gpu-types", "A10,X9"]
    )
    assert r.exit_code == 2 and "no price for X9" in r.output and "--prices" in r.output
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpus:\n  X9: 1.5\n")
    d = run_json("serving-types", "--requests", str(two_days), "--profile", str(prof), "--gpu-types", "A10,X9",
                 "--prices", str(prices))  # fmt: skip
    assert d["types"][1]["cost_per_reference_replica_hour"] == pytest.approx(1.5 / 2)
    # the load times are diffusion pipelines': --swaps with an LLM profile is one line
    r = runner.invoke(app, ["autoscale-sim", "--requests", "synthetic:requests", "--swaps"])
    assert r.exit_code == 2 and "loading an LLM's weights is not modelled" in r.output
    # a trace without base models has nothing to swap
    plain = tmp_path / "plain.csv"
    plain.write_text("request_id,arrival_time,service_time\n1,0,20\n2,5,25\n3,9,30\n")
    r = runner.invoke(app, ["autoscale-sim", "--requests", str(plain), "--profile", "diffusion", "--swaps"])
    assert r.exit_code == 2 and "no base model" in r.output
