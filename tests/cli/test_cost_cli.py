"""`gpufleet cost` on a store built with the collector's Store API (gpufleet.testing.coststore): the table with
the idle lines in dollars, JSON and CSV carrying the same figures, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.testing.coststore import build_cost_store, write_prices

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("costcli")
    return build_cost_store(root / "store"), write_prices(root / "prices.yaml")


def test_table_prints_dollars_per_namespace_with_the_idle_lines(store: tuple[Path, Path]) -> None:
    r = runner.invoke(app, ["cost", "--store", str(store[0]), "--prices", str(store[1])])
    assert r.exit_code == 0, r.output
    lines = {ln.split("│")[1].strip(): ln for ln in r.stdout.splitlines() if ln.count("│") > 3}
    assert "$5.00" in lines["team-a"]  # 1.25 priced H100-hours at $4 (1 h of an unknown model unpriced)
    assert "$2.00" in lines["llm"] and "$3.70" in lines["llm"]  # $2 / 0.54M tokens
    assert "$4.34" in lines["idle (allocated, unused)"]  # team-a $2.20 + team-b $1.94 + llm $0.20
    assert "$9.29" in lines["idle capacity (no pod)"]  # (4/7 + 0.75 + 1) H100-hours at $4
    assert "$22.00" in lines["total"]
    assert "4 samples name no GPU model" in r.stdout


def test_json_and_csv_carry_the_same_figures(store: tuple[Path, Path]) -> None:
    args = ["cost", "--store", str(store[0]), "--prices", str(store[1]), "--by", "workload"]
    j = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert j["by"] == "workload" and j["priced_by"] == "test prices" and j["currency"] == "USD"
    assert j["total"]["usd"] == pytest.approx(22.0)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, [*args, "--csv"]).stdout)))
    assert [r["workload"] for r in rows] == [r["workload"] for r in j["rows"]]
    by_name = {r["workload"]: float(r["cost_usd"]) for r in rows}
    assert by_name["team-b/infer-b"] == pytest.approx(4 * 3 / 7)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--store", "{tmp}/missing"], "does not exist"),
        (["--store", "{tmp}"], "is not a collector store"),
        (["--store", "{store}", "--by", "pod"], "--by pod: not one of namespace, team, workload"),
        (["--store", "{store}", "--tier", "cheap"], "--tier cheap"),
        (["--store", "{store}", "--since", "last week"], "--since 'last week'"),
        (["--store", "{store}", "--since", "10m", "--until", "30m"], "is not after --since"),
        (["--store", "{store}", "--prices", "{tmp}/none.yaml"], "--prices"),
        (["--store", "{store}", "--since", "2027-01-01"], "no GPU samples in [2027-01-01 00:00:00+00:00, -)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, store: tuple[Path, Path], tmp_path: Path) -> None:
    given = [a.format(tmp=tmp_path, store=store[0]) for a in args]
    r = runner.invoke(app, ["cost", *given])
    assert r.exit_code == 2, r.output
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output
