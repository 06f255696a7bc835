"""Fleet designs: each design's GPU-hours and latencies are its pools' replays added up (a per-model design is the
single-model replays of each model's requests), fixed fleets cost what a hand count says, hot models come from the
selection window, and `gpufleet serving-designs` answers bad input with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.sim.serving import ServingConfig
from gpufleet.sim.serving.designs import build_design, hot_models, pipelines_of, simulate_design
from gpufleet.sim.serving.replica import Pipelines, SwitchCosts
from gpufleet.sim.serving.run import parse_slo, prepare, replay
from gpufleet.sim.serving.work import RequestWork

COSTS = SwitchCosts(base=np.array([20.0]), lora=np.array([4.0]), control=np.array([4.0]))
FIXED = "fixed-10s.yaml"  # written by the fixture into the test's working folder


def requests(n: int = 600, seed: int = 0) -> pl.DataFrame:
    """Three base models (a hot one, two cold), a request every ~60 s over ~10 h, 10 s each (profile FIXED)."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_time": np.cumsum(rng.exponential(60.0, n)),
            "model": rng.choice(["hot", "b", "c"], n, p=[0.7, 0.2, 0.1]),
            "client": rng.choice(["u1", "u2"], n),
            "num_lora": rng.choice([0, 1], n, p=[0.8, 0.2]),
            "predict_type": rng.choice(["TXT_2_IMG", "IMG_2_IMG"], n, p=[0.9, 0.1]),
        }
    )


@pytest.fixture(autouse=True)
def _profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path
    (d / "fixed-10s.yaml").write_text(
        "name: fixed-10s\ngpu_type: A10\nwork: fixed\nwork_settings: {median_s: 10, p99_s: 10, slots: 1}\n"
    )
    monkeypatch.chdir(d)


def run(design: str, f: pl.DataFrame, cfg: ServingConfig, hot: list[str]):  # type: ignore[no-untyped-def]
    p = prepare(f, cfg)
    models = sorted(set(f["model"].to_list()))
    d = build_design(design, models, hot)
    return simulate_design(d, f, p.work, p.model, p.profile, cfg, parse_slo(cfg.slo), COSTS, ["hot", "b", "c"], [0.0])[
        0
    ]


def test_a_fixed_shared_pool_costs_one_replica_for_the_whole_replay() -> None:
    f = requests()
    cfg = ServingConfig(profile=FIXED, slo="e2e_p99<=120", max_replicas=1, warmup_s=0)
    r = run("shared", f, cfg, [])
    end = float(f["arrival_time"].max() - f["arrival_time"].min())
    # one replica from 0 to the last finish (the last request ends after its arrival, within a few runs)
    assert end / 3600 < r.gpu_hours < (end + 600) / 3600
    assert r.swaps > 0 and r.lora_loads > 0 and r.controlnet_loads > 0 and len(r.pools) == 1


def test_hybrid_pools_each_cost_their_replica_until_the_trace_ends() -> None:
    f = requests()
    cfg = ServingConfig(profile=FIXED, slo="e2e_p99<=120", max_replicas=1, warmup_s=0)
    shared, hybrid = run("shared", f, cfg, []), run("hybrid", f, cfg, ["hot"])
    # two fixed replicas (hot, tail) over the same span: twice the shared pool's hours, to within one run
    assert hybrid.gpu_hours == pytest.approx(2 * shared.gpu_hours, abs=2 * 60 / 3600)
    assert [p.name for p in hybrid.pools] == ["hot", "tail"]
    assert hybrid.pools[0].loads["base"] == 0, "a dedicated pool never switches base models"
    assert hybrid.swaps < shared.swaps


def test_per_model_is_the_single_model_replays_added_up() -> None:
    f = requests()
    cfg = ServingConfig(profile=FIXED, slo="e2e_p99<=120", warmup_s=0)
    design = run("per-model", f, cfg, [])
    assert design.swaps == 0 and len(design.pools) == 3
    p = prepare(f, cfg)
    models = f["model"].to_numpy()[p.work.rows]
    total, lat = 0.0, []
    for m in ("b", "c", "hot"):
        idx = np.flatnonzero(models == m)
        sub = RequestWork(p.work.arrival[idx], p.work.prefill[idx], p.work.service[idx], p.work.rows[idx], 0)
        pipes = pipelines_of(f, sub.rows, ["hot", "b", "c"])
        pipes = Pipelines(pipes.model, pipes.lora, pipes.lora_n, pipes.control, pipes.names, pipes.names.index(m))
        one = cfg.model_copy(update={"min_replicas": 0, "initial_replicas": 0})
        r = replay(sub, p.model, p.profile, one, pipelines=pipes, switch_costs=COSTS, timeline=False)
        total += r.meter.gpu_hours()
        lat += list(r.meter.finish - sub.arrival)
    assert design.gpu_hours == pytest.approx(total, rel=1e-12)
    assert design.e2e_p99_s == pytest.approx(float(np.percentile(lat, 99)), rel=1e-12)


def test_hot_models_come_from_the_selection_window_only() -> None:
    f = pl.DataFrame({"arrival_time": [0.0, 1, 2, 3, 10, 11, 12, 13, 14], "model": list("aaabccccc")})
    assert hot_models(f, until_s=5, share=0.5) == ["a"]
    assert hot_models(f, until_s=5, share=1.0) == ["a", "b"]
    assert hot_models(f, until_s=100, share=0.5) == ["c"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--designs", "per-model,everything"], "unknown design 'everything'"),
        (["--designs", "shared,shared"], "named twice"),
        (["--designs", " , "], "at least one"),
        (["--slo", "fast"], "--slo"),
        (["--policy", "nope"], "nope"),
        (["--profile", "nope.yaml"], "--profile"),
    ],
)
def test_bad_input_is_one_line(args: list[str], needle: str) -> None:
    res = CliRunner().invoke(app, ["serving-designs", "--requests", "synthetic:requests", "-p", "hours=1", *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_requests_without_models_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    pl.DataFrame({"request_id": ["a", "b"], "arrival_time": [0.0, 1.0], "service_time": [1.0, 2.0]}).write_csv(p)
    res = CliRunner().invoke(app, ["serving-designs", "--requests", str(p), "--profile", FIXED])
    assert res.exit_code == 2 and "model" in res.stderr and len(res.stderr.strip().splitlines()) <= 2


def test_json_output_has_every_design_and_window() -> None:
    f = requests(300)
    f.write_csv("r.csv")
    res = CliRunner().invoke(
        app, ["serving-designs", "--requests", "r.csv", "--profile", FIXED, "--slo", "e2e_p99<=120", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["designs"]) == {"per-model", "shared", "hybrid"} and out["slo"] == "e2e_p99<=120"
    for d in out["designs"].values():
        assert d["whole"]["gpu_hours"] > 0 and d["held_back"]["requests_scored"] < d["whole"]["requests_scored"]
