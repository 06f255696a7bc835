"""The Cost page under Streamlit's AppTest: on a store built with the collector's Store API it shows the same
table as `gpufleet cost` (dollars by core.prices.dollars, the idle and idle-capacity lines); with no store it
allocates the samples the other pages show."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gpufleet.dashboard.data import ENV_PRICES, ENV_RUNS, ENV_STORE
from gpufleet.plan.cost import CAPACITY_LINE, IDLE_LINE, cost_from_store, table_rows
from gpufleet.testing.coststore import build_cost_store, write_prices

PAGE = Path(__file__).resolve().parents[2] / "src" / "gpufleet" / "dashboard" / "pages" / "cost.py"


def test_cost_page_shows_the_cli_table_on_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, prices = build_cost_store(tmp_path / "store"), write_prices(tmp_path / "prices.yaml")
    monkeypatch.setenv(ENV_STORE, str(store))
    monkeypatch.setenv(ENV_PRICES, str(prices))
    monkeypatch.setenv(ENV_RUNS, "/nonexistent-runs")
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    want = table_rows(cost_from_store(store, prices=prices))
    assert shown.to_dict("records") == want
    lines = {r["namespace"]: r for r in want}
    assert lines["team-a"]["cost"] == "$5.00" and lines[IDLE_LINE]["idle cost"] == "$4.34"
    assert lines[CAPACITY_LINE]["idle cost"] == "$9.29"
    assert [m.value for m in at.metric] == ["$22.00", "$4.34", "$9.29", "$3.70"]
    assert any("priced by: test prices" in c.value for c in at.caption)

    at.sidebar.selectbox[0].set_value("workload").run()
    assert not at.exception, at.exception
    assert "team-b/infer-b" in set(at.dataframe[0].value["workload"])


def test_cost_page_runs_without_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_STORE, raising=False)
    monkeypatch.delenv(ENV_PRICES, raising=False)
    monkeypatch.setenv(ENV_RUNS, "/nonexistent-runs")
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception, at.exception
    names = list(at.dataframe[0].value["namespace"])
    assert names[-3:] == [IDLE_LINE, CAPACITY_LINE, "total"]
    assert at.metric[0].value.startswith("$")  # the embedded fleet's A100s have a built-in price


def test_cost_page_says_when_the_store_has_no_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    import polars as pl

    from gpufleet.collector.store import Store

    frame = pl.DataFrame({"unique_id": ["a:gpus"], "ds": [datetime(2026, 1, 1, tzinfo=UTC)], "y": [1.0]})
    Store(tmp_path / "s").append("SERIES", "derived", frame, ["unique_id"])
    monkeypatch.setenv(ENV_STORE, str(tmp_path / "s"))
    monkeypatch.delenv(ENV_PRICES, raising=False)
    monkeypatch.setenv(ENV_RUNS, "/nonexistent-runs")
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception, at.exception
    assert "no GPU samples; it holds none" in at.error[0].value
