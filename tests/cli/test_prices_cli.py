"""`--prices` on every command that prints dollars: the user's table prices the run (checked against GPU-hours x
price computed here), the output says which table priced it, and a bad file is one line naming it, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.prices import HOURS_PER_MONTH, default_prices, load_prices

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=150", "-p", "days=1"]
CLUSTER = "4x8:A100,2x8:V100,2x4:T4"
PRICES = "name: our contract\ngpus:\n  A100: 2.0\n  V100: {on_demand: 1.0, spot: 0.3}\n  T4: 0.25\n"


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    p = tmp_path / "prices.yaml"
    p.write_text(PRICES)
    return p


def test_simulate_cost_is_hours_per_type_times_the_users_price(tmp_path: Path, prices: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", CLUSTER, "--out", str(out), "--prices", str(prices)])
    assert r.exit_code == 0, r.output
    assert "priced by: our contract" in r.output and "cost (cluster)" in r.output
    s = json.loads((out / "summary.json").read_text())
    span_h = s["makespan_s"] / 3600
    assert s["gpu_hours_by_type"] == pytest.approx({"A100": 32 * span_h, "V100": 16 * span_h, "T4": 8 * span_h})
    assert s["cost"] == pytest.approx(span_h * (32 * 2.0 + 16 * 1.0 + 8 * 0.25))
    assert s["unpriced_gpu_hours"] == 0 and s["priced_by"] == "our contract"
    # without --prices: the built-in list prices, and the output says so
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", CLUSTER, "--out", str(tmp_path / "b"), "--json"])
    d = default_prices()
    want = span_h * (32 * (d.rate("A100") or 0) + 16 * (d.rate("V100") or 0) + 8 * (d.rate("T4") or 0))
    assert json.loads(r.stdout)["cost"] == pytest.approx(want)
    assert json.loads(r.stdout)["priced_by"].startswith("built-in list prices")


def test_compare_rows_and_run_dirs_carry_the_same_dollars(tmp_path: Path, prices: Path) -> None:
    out = tmp_path / "grid"
    args = ["compare", *SYN, "--cluster", CLUSTER, "--schedulers", "fifo,sjf", "--workers", "1"]
    r = runner.invoke(app, [*args, "--out", str(out), "--prices", str(prices)])
    assert r.exit_code == 0, r.output
    assert "cost" in r.output and "$" in r.output and "priced by: our contract" in r.output
    runs = json.loads((out / "compare.json").read_text())["runs"]
    for run in runs:
        on_disk = json.loads((out / f"{run['scheduler']}__{run['placement']}" / "summary.json").read_text())
        assert on_disk["cost"] == pytest.approx(run["cost"])
        assert run["cost"] == pytest.approx(run["gpu_hours"] / 56 * (32 * 2.0 + 16 * 1.0 + 8 * 0.25))


def test_unpriced_type_is_reported_not_zero(tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", "4x8:A100,2x8", "--out", str(tmp_path / "u"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["cost"] is None and s["unpriced_gpu_hours"] == pytest.approx(16 * s["makespan_s"] / 3600)
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", "4x8:A100,2x8", "--out", str(tmp_path / "v")])
    assert "GPU-h unpriced" in r.output


def test_autoscale_sim_cost_is_gpu_hours_times_the_profile_type(prices: Path) -> None:
    r = runner.invoke(
        app, ["autoscale-sim", "--requests", "synthetic:requests", "-p", "hours=1", "--prices", str(prices), "--json"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    rate = {"A100-80GB": 2.0, "T4": 0.25}.get(s["gpu_type"], default_prices().rate(s["gpu_type"]))
    assert s["cost"] == pytest.approx(s["gpu_hours"] * rate) and s["priced_by"] == "our contract"


def test_rightsize_dollars_follow_the_gpu_hours_saved(prices: Path) -> None:
    r = runner.invoke(
        app,
        ["rightsize", "--samples", "synthetic:gpu-samples", "--prices", str(prices), "--json"],
    )
    assert r.exit_code == 0, r.output
    doc, table = json.loads(r.stdout), load_prices(prices)
    saving = [x for x in doc["recommendations"] if x["opinion"] and x["gpu_hours_saved_per_day"]]
    total = 0.0
    for x in doc["recommendations"]:
        rate = table.rate(x["gpu_model"])
        if x["gpu_hours_saved_per_day"] is not None and rate is not None:
            assert x["dollars_saved_per_month"] == pytest.approx(
                x["gpu_hours_saved_per_day"] * HOURS_PER_MONTH / 24 * rate
            )
            total += x["dollars_saved_per_month"] if x["opinion"] else 0.0
    assert saving, "the synthetic fleet has over-sized workloads"
    assert doc["summary"]["dollars_saved_per_month"] == pytest.approx(total) and total > 0
    assert doc["summary"]["priced_by"] == "our contract"


def test_pack_dollars_are_unallocated_gpus_at_the_fleet_price(tmp_path: Path, prices: Path) -> None:
    pods = tmp_path / "pods.csv"
    pods.write_text(
        "job_id,submit_time,duration,num_gpus,kind\n" + "".join(f"p{i},{i},60,3,train\n" for i in range(15))
    )
    r = runner.invoke(app, ["pack", "--pods", str(pods), "--nodes", CLUSTER, "--prices", str(prices), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    fleet = (32 * 2.0 + 16 * 1.0 + 8 * 0.25) / 56
    assert res["usd_per_gpu_hour"] == pytest.approx(fleet)
    assert res["unallocated_dollars_per_month"] == pytest.approx(res["unallocated_gpus"] * fleet * HOURS_PER_MONTH)


def test_pack_experiment_gpus_freed_and_their_dollars(tmp_path: Path, prices: Path) -> None:
    pods = tmp_path / "pods.csv"
    sizes = [1, 2, 3, 5, 7, 1, 4, 6, 2, 3] * 10
    pods.write_text(
        "job_id,submit_time,duration,num_gpus,kind\n" + "".join(f"p{i},{i},60,{g},train\n" for i, g in enumerate(sizes))
    )
    r = runner.invoke(
        app,
        [
            *("pack-experiment", "--pods", str(pods), "--nodes", CLUSTER, "--policies", "best-fit,random"),
            *("--seeds", "1-3", "--prices", str(prices), "--json"),
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    fleet = (32 * 2.0 + 16 * 1.0 + 8 * 0.25) / 56
    worst = max(p["unallocated_gpus"] for p in res["policies"])
    for p in res["policies"]:
        assert p["gpus_freed"] == pytest.approx(worst - p["unallocated_gpus"]) and p["gpus_freed"] >= 0
        assert p["dollars_per_month_freed"] == pytest.approx(p["gpus_freed"] * fleet * HOURS_PER_MONTH)


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", *SYN, "--cluster", "2x8:A100", "--out", "{t}/r"],
        ["compare", *SYN, "--cluster", "2x8:A100"],
        ["tenancy", *SYN, "--cluster", "{t}/ten.yaml"],
        ["autoscale-sim", "--requests", "synthetic:requests"],
        ["compare-autoscalers", "--requests", "synthetic:requests"],
        ["rightsize", "--samples", "synthetic:gpu-samples"],
        ["pack", "--pods", "synthetic:jobs", "--nodes", "2x8:A100"],
        ["pack-experiment", "--pods", "synthetic:jobs", "--nodes", "2x8:A100"],
        ["demo", "--out", "{t}/demo"],
    ],
    ids=lambda a: a[0],
)
def test_bad_prices_file_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus:\n  H100: {on_demand: -3}\n")
    (tmp_path / "ten.yaml").write_text("nodes: 2x8:A100\nvcs: {a: 1, b: 1}\n")
    r = runner.invoke(app, [a.replace("{t}", str(tmp_path)) for a in args] + ["--prices", str(bad)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.yaml" in lines[0] and "gpus.H100.on_demand" in lines[0], r.output


def test_report_prices_its_runs_with_the_users_table(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["simulate", *SYN, "--cluster", "4x8:T4", "--out", str(run_dir)]).exit_code == 0
    (tmp_path / "p.yaml").write_text("gpus:\n  T4: {on_demand: 9.99}\n")
    month = 32 * HOURS_PER_MONTH
    for extra, rate in (([], default_prices().rate("T4")), (["--prices", str(tmp_path / "p.yaml")], 9.99)):
        out = tmp_path / "r.html"
        res = runner.invoke(app, ["report", "--run", str(run_dir), "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        assert f"${month * rate:,.2f}" in out.read_text()  # the run's fleet for a month at that table's T4 price
    (tmp_path / "bad.yaml").write_text("gpus: {T4: {on_demand: -1}}\n")
    res = runner.invoke(
        app,
        ["report", "--run", str(run_dir), "--out", str(tmp_path / "x.html"), "--prices", str(tmp_path / "bad.yaml")],
    )
    assert res.exit_code == 2 and "bad.yaml" in res.stderr and "\n" not in res.stderr.strip()
    assert not (tmp_path / "x.html").exists()
