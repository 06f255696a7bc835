"""The attainable share (what no policy can fix) and gap_closed, worked out by hand; the CLI says plainly
when an SLO is infeasible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.sim.serving import ServingConfig, gap_closed, serving_feasibility, simulate_serving
from gpufleet.sim.serving.scoring import latency_floor, slo_feasibility
from gpufleet.sim.summary import ServingSummary

# llama7b-a10 (the default profile): prefill 5,000 tok/s, decode 320 tok/s across 8 sequences, so one
# output token holds a slot 8 / 320 = 0.025 s.
# Ten requests 10 s apart; prefill = input / 5000 s; slot time = prefill + 0.025 x output.
INPUT = [1000, 5000, 9000, 10_000, 10_001, 12_500, 15_000, 2000, 20_000, 500]
OUTPUT = [40, 40, 40, 40, 40, 40, 40, 400, 40, 40]
# prefill:   0.2  1.0  1.8  2.0  2.0002  2.5  3.0  0.4  4.0  0.1
# slot time: 1.2  2.0  2.8  3.0  3.0002  3.5  4.0 10.4  5.0  1.1


def hand_trace() -> pl.DataFrame:
    n = len(INPUT)
    return pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_time": [10.0 * i for i in range(n)],
            "input_tokens": INPUT,
            "output_tokens": OUTPUT,
        }
    )


def cfg(slo: str) -> ServingConfig:
    return ServingConfig(policy="target-tracking", slo=slo, warmup_s=0.0, initial_replicas=2)


def test_attainable_share_by_hand() -> None:
    # TTFT <= 2 s: prefill above 2 s for 10,001, 12,500, 15,000 and 20,000 tokens (10,000 is exactly 2 s: met)
    f = serving_feasibility(hand_trace(), cfg("ttft_p50<=2"))
    assert (f.requests, f.unattainable) == (10, 4) and f.share == pytest.approx(0.6)
    assert f.feasible  # p50 needs 50%; 60% can meet it
    assert f.floor_s == pytest.approx(4.0)
    # the same bound at p90 needs 90%: no policy can reach it
    f90 = serving_feasibility(hand_trace(), cfg("ttft_p90<=2"))
    assert f90.share == pytest.approx(0.6) and not f90.feasible
    # e2e <= 3 s: slot times above 3 s for 10,001 (3.0002), 12,500, 15,000, the 400-token answer and 20,000
    e2e = serving_feasibility(hand_trace(), cfg("e2e_p50<=3"))
    assert e2e.unattainable == 5 and e2e.share == pytest.approx(0.5) and e2e.feasible
    # a wait can always be zero
    assert serving_feasibility(hand_trace(), cfg("wait_p99<=0.1")).share == 1.0


def test_no_replay_beats_the_attainable_share_and_attainment_is_scored_both_ways() -> None:
    s = simulate_serving(hand_trace(), cfg("ttft_p90<=2")).summary
    # requests 10 s apart on two idle replicas never wait: exactly the attainable ones meet the bound
    assert s.attainable_share == pytest.approx(0.6) and s.requests_unattainable == 4
    assert s.slo_attainment == pytest.approx(0.6) and s.slo_attainment_attainable == 1.0
    assert s.slo_feasible is False and s.slo_met is False


def test_the_warm_up_is_left_out_of_the_share_as_it_is_out_of_attainment() -> None:
    c = ServingConfig(policy="target-tracking", slo="ttft_p50<=2", warmup_s=25.0)
    f = serving_feasibility(hand_trace(), c)  # requests at 0, 10 and 20 s are not scored
    assert (f.requests, f.unattainable) == (7, 4)


def test_latency_floor_and_share_on_arrays() -> None:
    pre, svc = np.array([0.5, 2.5, 1.0]), np.array([3.0, 4.0, 1.5])
    assert latency_floor("ttft", pre, svc).tolist() == [0.5, 2.5, 1.0]
    assert latency_floor("e2e", pre, svc).tolist() == [3.0, 4.0, 1.5]
    assert latency_floor("wait", pre, svc).tolist() == [0.0, 0.0, 0.0]
    f = slo_feasibility("ttft_p99<=2", "ttft", 99.0, 2.0, pre)
    assert f.unattainable == 1 and not f.feasible and "INFEASIBLE" in f.sentence("prefill")
    assert slo_feasibility("x", "ttft", 99.0, 2.0, np.zeros(0)).share == 1.0


def test_gap_closed_on_a_hand_built_summary() -> None:
    def row(policy: str, gpu_hours: float, slo_attainment: float) -> ServingSummary:
        # only what gap_closed reads (a hand-built summary, not a replay's)
        return ServingSummary.model_construct(policy=policy, gpu_hours=gpu_hours, slo_attainment=slo_attainment)

    rows = [row("target-tracking", 10.0, 0.999), row("predictive", 7.0, 0.995), row("kpa", 5.0, 0.95)]
    rows.append(row("oracle", 5.0, 1.0))
    by = {r.policy: r for r in gap_closed(rows)}
    assert by["target-tracking"].gap_closed == 0.0 and by["oracle"].gap_closed == 1.0
    assert by["predictive"].gap_closed == pytest.approx(0.6) and by["predictive"].gap_counts
    # as cheap as the oracle, but below 99% attainment: the saving does not count
    assert by["kpa"].gap_closed == pytest.approx(1.0) and not by["kpa"].gap_counts
    # without the oracle (or with no gap) there is nothing to close
    assert all(r.gap_closed is None for r in gap_closed(rows[:2]))
    same = [rows[0], row("oracle", 10.0, 1.0)]
    assert all(r.gap_closed is None for r in gap_closed(same))


def test_cli_states_an_infeasible_slo_before_the_results(tmp_path: Path) -> None:
    trace = tmp_path / "reqs.csv"
    hand_trace().write_csv(trace)
    args = ["compare-autoscalers", "--requests", str(trace), "--policies", "target-tracking,oracle"]
    res = CliRunner().invoke(app, [*args, "--slo", "ttft_p90<=2"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    # the 90 s replay scores its second half (requests at 50-90 s): 3 of those 5 have prefill above 2 s
    assert text.startswith("SLO ttft_p90<=2: 40.000% of 5 scored requests can meet it at all (3 with prefill")
    assert "INFEASIBLE" in text and "the oracle included, can meet it" in text
    assert text.index("INFEASIBLE") < text.index("GPU-hours")
    res = CliRunner().invoke(app, [*args, "--slo", "ttft_p40<=2", "--json"])
    out = json.loads(res.stdout)
    assert out["feasibility"]["attainable_share"] == pytest.approx(0.4) and out["feasibility"]["slo_feasible"]
    rows = {r["policy"]: r for r in out["policies"]}
    assert rows["oracle"]["gap_closed"] in (1.0, None) and "slo_attainment_attainable" in rows["oracle"]


@pytest.mark.parametrize(
    "extra",
    [["--policies", ","], ["--policies", "oracle,oracle"], ["--policies", "nope"], ["--slo", "ttft<2"]],
)
def test_cli_bad_input_is_one_line_and_exit_2(extra: list[str], tmp_path: Path) -> None:
    trace = tmp_path / "reqs.csv"
    hand_trace().write_csv(trace)
    res = CliRunner().invoke(app, ["compare-autoscalers", "--requests", str(trace), *extra])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
