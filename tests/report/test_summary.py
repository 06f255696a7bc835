"""The report's executive summary and naming, on hand-made summaries: what each run is called, how the
recommendations rank, when a saving counts, how it is priced, and that chart axes never go below zero."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import pytest

from gpufleet.core.prices import default_prices, load_prices
from gpufleet.report import summary
from gpufleet.report.charts import bars, clamp_axes
from gpufleet.report.summary import Recommendation, rank, run_label, unique_labels
from gpufleet.report.tables import group_tables
from gpufleet.sim.summary import ServingSummary, Summary


def sim(**kw: object) -> Summary:
    base = dict(
        scheduler="fifo", placement="best-fit", predictor="none", cluster_gpus=16.0, jobs=10, finished=10,
        unfinished=0, unschedulable=0, unschedulable_jobs=[], avg_jct_s=1.0, p50_jct_s=1.0, p95_jct_s=1.0,
        p99_jct_s=1.0, avg_wait_s=0.0, p50_wait_s=0.0, p95_wait_s=3600.0, p99_wait_s=0.0, avg_slowdown=1.0,
        preemptions=0, makespan_s=3600.0, avg_gpu_allocation=0.5, avg_stranded_gpus=0.0, gpu_hours=16.0,
        events=1, wall_s=0.1,
    )  # fmt: skip
    return Summary.model_validate(base | kw)


def served(policy: str, gpu_hours: float, attainment: float, gpu_type: str = "A10") -> ServingSummary:
    return ServingSummary.model_validate(
        dict(
            policy=policy,
            profile="p",
            gpu_type=gpu_type,
            requests=10,
            requests_scored=10,
            warmup_s=0.0,
            requests_skipped_no_size=0,
            duration_h=24.0,
            gpu_hours=gpu_hours,
            replica_hours=gpu_hours,
            slo="ttft_p99<=2",
            slo_attainment=attainment,
            attainable_share=1.0,
            requests_unattainable=0,
            slo_feasible=True,
            slo_attainment_attainable=attainment,
            slo_quantile_s=1.0,
            slo_met=True,
            ttft_p50_s=0.1,
            ttft_p99_s=1.0,
            e2e_p50_s=1.0,
            e2e_p99_s=2.0,
            wait_p99_s=0.1,
            scaling_actions=3,
            max_replicas=4,
            mean_utilization=0.5,
            events=1,
        )
    )


def test_runs_are_named_for_what_they_are_never_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_label(sim().dump(), tmp_path) == "fifo + best-fit"
    assert run_label(sim(scheduler="sjf", predictor="lightgbm").dump(), tmp_path) == "sjf + best-fit + lightgbm"
    assert run_label(sim(model="quota").dump(), tmp_path) == "quota: fifo + best-fit"
    assert run_label(served("predictive", 1, 1).dump(), tmp_path) == "predictive autoscaler"
    demo = tmp_path / "demo"
    demo.mkdir()
    monkeypatch.chdir(demo)
    assert run_label({"kind": "demo"}, Path(".")) == "demo"  # the report of `--run .` used to call it "."
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert run_label({"kind": "demo"}, other) == "demo"  # not the directory: identical demos, identical reports
    assert run_label({}, other) == "elsewhere"  # anything else: its directory's name
    a, b = tmp_path / "a", tmp_path / "b"
    assert unique_labels(["x", "x", "y"], [a, b, tmp_path]) == ["x [a]", "x [b]", "y"]


def rec(kind: str, usd: float | None, hours: float | None = None) -> Recommendation:
    return Recommendation(kind, kind, "", usd, hours, "e")


def test_capacity_first_then_savings_by_dollars_unpriced_last() -> None:
    ranked = rank([rec("a", 10.0), rec("unpriced", None, 500.0), rec("capacity", 9e9), rec("b", 300.0)])
    assert [r.kind for r in ranked] == ["capacity", "b", "a", "unpriced"]


def test_autoscaling_saving_counts_only_at_the_same_slo_and_is_priced_per_gpu_type() -> None:
    prices = default_prices()
    base = served("target-tracking", 70.0, 0.984)
    r = summary.autoscaling(
        {"t": base, "p": served("predictive", 61.0, 0.981), "o": served("oracle", 1.0, 1.0)}, prices
    )
    assert r is not None and "predictive" in r.headline  # the oracle sees the future: never the recommendation
    assert r.gpu_hours_month == pytest.approx(9.0 / 24 * 730)
    assert r.usd_month == pytest.approx(9.0 / 24 * 730 * (prices.rate("A10") or 0))
    # a cheaper policy that serves the SLO worse is no saving
    assert summary.autoscaling({"t": base, "p": served("predictive", 30.0, 0.95)}, prices) is None
    # a GPU type without a price: the line says so (None), it never prices it at $0
    worse = {"t": served("target-tracking", 70, 0.98, "Z9"), "p": served("predictive", 60, 0.98, "Z9")}
    assert summary.autoscaling(worse, prices).usd_month is None  # type: ignore[union-attr]


def test_rightsizing_and_packing_dollars(tmp_path: Path) -> None:
    prices = default_prices()
    recs = [
        {"workload": "a/x", "gpu_model": "T4", "gpu_hours_saved_per_day": 2.0, "proposed_gpus": 0.5, "current_gpus": 1},
        {"workload": "a/y", "gpu_model": "H100", "gpu_hours_saved_per_day": 0.0},
    ]
    r = summary.rightsizing(recs, prices)
    assert r is not None and r.usd_month == pytest.approx(2.0 * 730 / 24 * (prices.rate("T4") or 0))
    assert "a/x" in r.headline and "more" not in r.headline
    runs = {
        "b": sim(avg_stranded_gpus=0.5),
        "w": sim(placement="worst-fit", avg_stranded_gpus=2.5),
        "s": sim(scheduler="sjf"),
    }
    p = summary.packing(runs, prices, {"A100": 8.0, "T4": 8.0})
    mean = ((prices.rate("A100") or 0) + (prices.rate("T4") or 0)) / 2
    assert p is not None and "best-fit instead of worst-fit" in p.headline
    assert p.usd_month == pytest.approx(2.0 * 730 * mean)
    # a user's price table is what the summary prices with
    (tmp_path / "prices.yaml").write_text("gpus:\n  T4: 1.0\n")
    assert summary.rightsizing(recs, load_prices(tmp_path / "prices.yaml")).usd_month == pytest.approx(2.0 * 730 / 24)  # type: ignore[union-attr]


def test_summary_html_formats_every_dollar_as_currency_and_links_its_evidence() -> None:
    text = summary.summary_html([rec("packing", 1234.5, 10.0), rec("x", None)], html.escape)
    assert "<span class='usd'>$1,234.50</span>/month" in text and "href='#e'" in text and "unpriced" in text
    assert "none" not in text.lower() and "nan" not in text.lower()


def test_chart_value_axes_run_from_zero_to_the_data_maximum() -> None:
    fig = go.Figure([go.Scatter(x=[0.5, 2, 3], y=[1, 5, 4]), go.Scatter(x=[1, 2], y=[3, 40], yaxis="y2")])
    fig.update_layout(yaxis2={"overlaying": "y"})
    clamp_axes(fig)
    assert list(fig.layout.yaxis.range) == [0, pytest.approx(5 * 1.04)]
    assert list(fig.layout.yaxis2.range) == [0, pytest.approx(40 * 1.04)]
    assert fig.layout.xaxis.range[0] == 0
    cats = bars(["fifo-backfill + best-fit + user-history", "fifo + best-fit"], [("p95", [1.0, 2.0])], "hours")
    assert cats.data[0].orientation == "h"  # long names on their own lines, never colliding


def test_one_table_per_group_kind_not_one_per_run() -> None:
    from gpufleet.sim.summary import GroupRow

    g = [GroupRow(group=f"team-{i}", jobs=3, finished=3, avg_wait_s=1, p95_wait_s=60 * i, avg_jct_s=1,
                  gpu_hours_used=1, gpus_owned=None, allocation=None) for i in range(3)]  # fmt: skip
    runs = [(f"run {k}", sim(groups=g, groups_by="group")) for k in range(7)]
    text = group_tables(runs)
    assert text.count("<table>") == 1 and text.count("team-2") == 1
    assert all(f"p95 wait: run {k}" in text for k in range(7))


def test_a_capacity_answer_in_the_run_directory_leads_the_summary(tmp_path: Path) -> None:
    import json

    answer = {"met": True, "answer": "add 3 x 8 H100: p95_wait 52.0m <= 1.0h", "target": "p95_wait<=1h"}
    (tmp_path / "capacity.json").write_text(json.dumps(answer | {"usd_per_month": 215_000.5, "probes": []}))
    cap = summary.capacity([tmp_path])
    assert cap is not None and cap.usd_month == 215_000.5 and cap.headline.startswith("add 3 x 8 H100")
    assert rank([rec("packing", 1e9), cap])[0] is cap
    assert summary.capacity([tmp_path / "none"]) is None
    (tmp_path / "capacity.json").write_text("{oops")
    with pytest.raises(Exception, match="capacity.json: not a JSON capacity answer"):
        summary.capacity([tmp_path])
