"""Serving simulator invariants, an M/M/c check, the CLI, and the Azure replays."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import ReplicaProfile, ServingConfig, parse_slo, simulate_serving
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.run import unlimited_concurrency


def requests(n: int = 3000, rate: float = 4.0, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / rate, n))
    t[n // 2 :] = t[n // 2] + np.cumsum(rng.exponential(1 / (3 * rate), n - n // 2))  # demand triples midway
    return pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_time": t,
            "input_tokens": rng.integers(100, 3000, n),
            "output_tokens": rng.integers(5, 300, n),
        }
    )


@pytest.mark.parametrize("policy", AUTOSCALERS.names())
def test_every_request_completes_once_within_capacity(policy: str) -> None:
    res = simulate_serving(requests(), ServingConfig(policy=policy, warmup_s=0))
    r = res.requests
    assert r.height == 3000 and r["e2e_s"].null_count() == 0 and not r["e2e_s"].is_nan().any()
    assert (r["e2e_s"] >= r["service_s"] - 1e-9).all(), "latency >= service time"
    assert (r["ttft_s"] <= r["e2e_s"] + 1e-9).all() and (r["wait_s"] >= -1e-9).all()
    tl = res.timeline
    assert (tl["utilization"] <= 1.0 + 1e-9).all(), "never more running than slots"
    assert res.summary.gpu_hours > 0 and 0 <= res.summary.slo_attainment <= 1


def test_slots_are_never_exceeded_at_any_instant() -> None:
    prof = ReplicaProfile(name="t", gpu_type="A10", prefill_tps=2000, decode_tps=200, max_seqs=4)
    req = requests(800)
    from gpufleet.sim.serving.run import request_times

    a, pre, svc, _ = request_times(req, prof)
    meter = FleetMeter()
    sim = ServingSim(
        a - a[0],
        pre,
        svc,
        prof,
        AUTOSCALERS.build("target-tracking"),
        cold_start_s=30,
        initial_replicas=2,
        observers=[meter],
    )
    seen = []
    orig = sim._start

    def spy(t, r, members):  # type: ignore[no-untyped-def]
        out = orig(t, r, members)
        seen.append(r.busy)
        return out

    sim._start = spy  # type: ignore[method-assign]
    sim.run()
    assert max(seen) <= prof.max_seqs
    assert np.isfinite(meter.finish).all() and (np.sort(meter.finish) > 0).all()


def test_mm_c_waiting_matches_erlang_c() -> None:
    """Fixed fleet (one replica of 4 slots: 4 servers, one FIFO queue), Poisson arrivals, exponential service:
    the mean wait and the share that waits must match Erlang C for M/M/4 (within sampling error)."""
    rng = np.random.default_rng(3)
    lam, mu, c, n = 3.0, 1.0, 4, 60_000
    arrival = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(1 / mu, n)
    prof = ReplicaProfile(name="mmc", gpu_type="A10", prefill_tps=1e9, decode_tps=1e9, max_seqs=4)
    scaler = AUTOSCALERS.build("target-tracking", None, guardrails=Guardrails(min_replicas=1, max_replicas=1))
    meter = FleetMeter()
    sim = ServingSim(arrival, np.zeros(n), service, prof, scaler, cold_start_s=0, initial_replicas=1, observers=[meter])
    sim.run()
    wait = (meter.start - arrival)[n // 10 :]
    a = lam / mu
    rho = a / c
    erlang_c = (a**c / math.factorial(c) / (1 - rho)) / (
        sum(a**k / math.factorial(k) for k in range(c)) + a**c / math.factorial(c) / (1 - rho)
    )
    expected = erlang_c / (c * mu - lam)
    assert wait.mean() == pytest.approx(expected, rel=0.08)
    assert (wait > 1e-9).mean() == pytest.approx(erlang_c, rel=0.05)


def test_unlimited_concurrency_integrates_exactly() -> None:
    conc = unlimited_concurrency(np.array([0.5, 1.0]), np.array([1.0, 2.5]))
    # request 1 covers [0.5, 1.5), request 2 [1.0, 3.5): seconds 0..3 hold 0.5, 1.5, 1.0, 0.5
    assert np.allclose(conc[:4], [0.5, 1.5, 1.0, 0.5])
    assert conc.sum() == pytest.approx(3.5)


def test_slo_spec_and_bad_profile(tmp_path: Path) -> None:
    assert parse_slo("ttft_p99<=2").seconds == 2.0
    res = CliRunner().invoke(app, ["autoscale-sim", "--requests", "synthetic:requests", "--slo", "p99 fast"])
    assert res.exit_code == 2 and "--slo" in res.stderr
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\ngpu_type: A10\nprefill_tps: -1\ndecode_tps: 10\nmax_seqs: 4\n")
    res = CliRunner().invoke(app, ["autoscale-sim", "--requests", "synthetic:requests", "--profile", str(bad)])
    assert res.exit_code == 2 and "p.yaml" in res.stderr and "prefill_tps" in res.stderr


def test_cli_autoscale_sim_writes_a_run_dir(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "autoscale-sim",
            "--requests",
            "synthetic:requests",
            "-p",
            "hours=2",
            "--policy",
            "kpa",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["policy"] == "kpa" and s["requests"] > 0
    assert {p.name for p in out.iterdir()} >= {"summary.json", "config.yaml", "requests.parquet", "timeline.parquet"}


@pytest.mark.traces
def test_compare_autoscalers_on_azure_conv(data_dir: Path) -> None:
    res = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "compare-autoscalers", "--requests", "azure-llm:conv", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = {r["policy"]: r for r in out["policies"]}
    assert set(rows) == {"target-tracking", "kpa", "predictive", "oracle"}
    # one request of 17,921 scored has a prefill above 2 s: feasible, and nobody can do better than the rest
    assert out["feasibility"]["unattainable"] == 1 and out["feasibility"]["slo_feasible"]
    assert all(r["slo_attainment"] <= out["feasibility"]["attainable_share"] for r in rows.values())
    assert rows["oracle"]["gap_closed"] == 1.0 and rows["target-tracking"]["gap_closed"] == 0.0
    # the defaults were chosen on other traces (bench/exp_autoscale_defaults.py); here they close over half
    assert rows["predictive"]["gap_counts"] and rows["predictive"]["gap_closed"] > 0.5
    oracle = rows["oracle"]
    assert oracle["slo_attainment"] >= 0.99
    for r in rows.values():  # knowing the future is never beaten on GPU-hours at the SLO
        if r["slo_attainment"] >= oracle["slo_attainment"]:
            assert r["gpu_hours"] >= 0.95 * oracle["gpu_hours"]


@pytest.mark.traces
def test_servegen_windows_become_arrivals_at_the_window_rates(data_dir: Path) -> None:
    from gpufleet.traces import load

    win = load("servegen:m-mid", data_dir).frame
    req = load("servegen:m-mid-requests", data_dir, hours=1, start_h=2, scale=0.001, seed=1).frame
    expected = float(
        win.filter((pl.col("ds").dt.epoch("s") >= 7200) & (pl.col("ds").dt.epoch("s") < 10800))["y"].sum() * 600 * 0.001
    )
    assert req.height == pytest.approx(expected, rel=0.1)
    a = req["arrival_time"].to_numpy()
    assert (np.diff(a) >= 0).all() and a.min() >= 0 and a.max() < 3600
    again = load("servegen:m-mid-requests", data_dir, hours=1, start_h=2, scale=0.001, seed=1).frame
    assert again.equals(req), "seeded"
    res = simulate_serving(req, ServingConfig(policy="target-tracking"))
    assert res.summary.requests == req.height
