"""`gpufleet plan capacity` through typer's runner: bad input is one line and exit 2; an answer on synthetic jobs;
and the done-when check on Philly: an independent `gpufleet simulate` of the recommended fleet meets the target
and the same fleet with one node fewer of the chosen type misses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=300", "-p", "days=2"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<1h"], "--target 'p95_wait<1h': expected"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=soon"], "give seconds or a duration"),
        (["--fleet", "2x8:V100", "--add", "A100,X100", "--target", "p95_wait<=1h"], "--add 'X100': unknown GPU type"),
        (["--fleet", "2x8:V100", "--add", ",", "--target", "p95_wait<=1h"], "--add: name at least one GPU type"),
        (["--add", "A100", "--target", "p95_wait<=1h"], "--fleet: give the existing fleet"),
        (["--fleet", "2x8:V100", "--from-scratch", "--add", "A100", "--target", "p95_wait<=1h"], "--from-scratch"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=1h", "--growth", "lots"], "--growth 'lots'"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=1h", "--growth", "-2"], "finite number > 0"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=1h", "--growth", "forecast:nope"], "nope"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=1h", "--speeds", "A100=fast"], "--speeds"),
        (["--fleet", "2x8:V100", "--add", "A100", "--target", "p95_wait<=1h", "--scheduler", "nope"], "nope"),
        (["--fleet", "2y8:V100", "--add", "A100", "--target", "p95_wait<=1h"], "unknown dataset '2y8'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    r = runner.invoke(app, ["plan", "capacity", *SYN, *args])
    assert r.exit_code == 2, r.output
    assert says in r.output and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_an_answer_on_synthetic_jobs_with_growth(tmp_path: Path) -> None:
    base = ["plan", "capacity", *SYN, "--fleet", "2x8:V100,2x4:A10,2x4:T4", "--add", "A100,H100", "--workers", "1"]
    r = runner.invoke(app, [*base, "--target", "p95_wait<=2h", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["met"] and set(d["add"]) <= {"A100", "H100"} and d["usd_per_month"] > 0
    assert d["question"]["speeds"] == "spec" and d["question"]["speed_factors"]["H100"] == 5.0
    assert d["unschedulable"]["jobs"] == 0 and d["next_cheaper"] is not None and not d["next_cheaper"]["met"]
    assert d["prices"].startswith("priced by:") and d["answer"].startswith("add ")
    # twice the arrival rate needs at least as much
    g = runner.invoke(app, [*base, "--target", "p95_wait<=2h", "--json", "--growth", "2"])
    assert g.exit_code == 0, g.output
    grown = json.loads(g.stdout)
    assert grown["question"]["growth"] == {"factor": 2.0, "how": "given"}
    assert grown["usd_per_month"] >= d["usd_per_month"]
    # the table says the same: the addition, the $, the speeds, the evidence
    t = runner.invoke(app, [*base, "--target", "p95_wait<=2h"])
    assert t.exit_code == 0, t.output
    for word in ("cost of the addition", "per month", "'spec' (GPU table, V100 = 1)", "evidence", "next cheaper"):
        assert word in t.stdout


@pytest.mark.slow
def test_philly_answer_is_confirmed_by_an_independent_replay(data_dir: Path, tmp_path: Path) -> None:
    target = "p95_wait<=1h"
    ask = ["plan", "capacity", "--jobs", "philly:jobs", "--fleet", "40x8:V100", "--add", "A100,H100"]
    r = runner.invoke(app, [*ask, "--target", target, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["met"] and d["unschedulable"]["jobs"] == 0 and d["value_s"] <= 3600
    add = d["add"]

    def replay(nodes: dict[str, int], name: str) -> dict[str, object]:
        spec = ",".join(["40x8:V100"] + [f"{n}x8:{t}" for t, n in nodes.items() if n > 0])
        same = ["--scheduler", "fifo-backfill", "--predictor", "auto", "--speeds", "spec"]
        s = runner.invoke(
            app,
            ["simulate", "--jobs", "philly:jobs", "--cluster", spec, *same, "--out", str(tmp_path / name), "--json"],
        )
        assert s.exit_code == 0, s.output
        return json.loads(s.stdout)  # type: ignore[no-any-return]

    # the plain simulator, on the recommended fleet, meets the target with every job run to the end
    ok = replay(add, "answer")
    assert ok["unfinished"] == 0 and ok["unschedulable"] == 0
    assert ok["p95_wait_s"] <= 3600 and ok["p95_wait_s"] == pytest.approx(d["value_s"])
    # and one node fewer of the chosen type (the costliest one, if the answer mixes types) misses it
    chosen = max(add, key=lambda t: d["usd_per_gpu_hour"][t])
    fewer = replay(add | {chosen: add[chosen] - 1}, "fewer")
    assert fewer["unfinished"] > 0 or fewer["p95_wait_s"] > 3600
