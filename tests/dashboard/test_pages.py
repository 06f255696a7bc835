"""Every dashboard page under Streamlit's AppTest: on the demo's run directory (numbers match its summary),
on nothing at all (the embedded synthetic fleet), and the What-if page driven to finished simulations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gpufleet.dashboard.data import ENV_RUNS, ENV_STORE

PAGES = Path(__file__).resolve().parents[2] / "src" / "gpufleet" / "dashboard" / "pages"
NAMES = ["fleet", "workloads", "cost", "forecasts", "whatif", "autoscaling"]


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def set_sources(runs: Path | None, store: Path | None = None) -> None:
        monkeypatch.setenv(ENV_RUNS, str(runs) if runs else "/nonexistent-runs")
        if store:
            monkeypatch.setenv(ENV_STORE, str(store))
        else:
            monkeypatch.delenv(ENV_STORE, raising=False)

    yield set_sources


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_page_runs_on_the_demo(name: str, demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page(name).run()
    assert not at.exception, at.exception
    assert at.title[0].value and "What to do with it" in at.markdown[0].value
    assert not _stray(at)


@pytest.mark.parametrize("name", NAMES)
def test_pages_run_with_no_data_at_all(name: str, on) -> None:  # type: ignore[no-untyped-def]
    on(None)
    at = page(name).run()
    assert not at.exception, at.exception
    assert not _stray(at)  # no page writes an object's repr or docstring (Streamlit's magic on a bare expression)


@pytest.mark.slow
def test_autoscaling_page_numbers_match_the_runs(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page("autoscaling").run()
    shown = at.dataframe[0].value
    for policy in ("target-tracking", "predictive", "oracle"):
        s = json.loads((demo / "serving" / policy / "summary.json").read_text())
        row = shown[shown["policy"] == policy].iloc[0]
        assert row["GPU-hours"] == pytest.approx(s["gpu_hours"])
        assert row["SLO attainment %"] == pytest.approx(100 * s["slo_attainment"])
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.slow
def test_workloads_page_matches_the_demo_recommendations(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page("workloads").run()
    s = json.loads((demo / "summary.json").read_text())
    recs = s["rightsizing"]["recommendations"]
    shown = at.dataframe[0].value
    assert len(shown) == len(recs)
    want = sum(r["gpus_saved"] or 0 for r in recs)
    assert at.metric[1].value == f"{want:.1f}"


@pytest.mark.slow
def test_fleet_page_gpu_count_matches_the_nodes(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    import polars as pl

    on(demo.parent)
    at = page("fleet").run()
    gpus = int(pl.read_parquet(demo / "nodes.parquet")["num_gpus"].sum())
    assert at.metric[0].value == f"{gpus:,}"
    assert len(at.get("plotly_chart")) >= 3  # by type, over time, stranded in the simulation runs


@pytest.mark.slow
def test_whatif_page_runs_simulations_to_the_end(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page("whatif").run()
    at.number_input[0].set_value(400)
    at.text_input[0].set_value("4x8:A100")
    at.multiselect[0].set_value(["fifo", "sjf", "tiresias"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["scheduler"]) == ["fifo", "sjf", "tiresias"]
    assert (table["GPUs"] == 32).all()
    assert list(table["predictor"]) == ["none", "auto", "none"]  # only sjf reads predictions; auto by default
    # and the capacity question: the cheapest A100/H100 nodes to add to the fleet in the form, in $
    at.number_input[1].set_value(600)
    at.number_input[2].set_value(400)
    at.button[1].click().run()
    assert not at.exception, at.exception
    assert at.success and at.success[0].value.startswith("add ") and "per month" in at.success[0].value
    assert any(m.label == "jobs no GPU type can run" for m in at.metric)


@pytest.mark.slow
def test_whatif_page_runs_sjf_with_a_learned_predictor(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page("whatif").run()
    at.number_input[0].set_value(400)
    at.text_input[0].set_value("4x8:A100")
    at.multiselect[0].set_value(["sjf"])
    pred = next(s for s in at.selectbox if s.label.startswith("runtime predictor"))
    pred.set_value("user-history")
    at.button[0].click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["predictor"]) == ["user-history"]
    assert any("predictor user-history" in c.value for c in at.caption)


@pytest.mark.slow
def test_whatif_page_compares_pooled_and_partitioned(demo: Path, on) -> None:  # type: ignore[no-untyped-def]
    on(demo.parent)
    at = page("whatif").run()
    at.number_input[3].set_value(600)
    at.text_input(key="ten_nodes").set_value("8x8:A100")
    at.button[2].click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["model"]) == {"pooled", "partitioned", "quota"}
    pooled = table[table["model"] == "pooled"]
    assert pooled["jobs"].sum() == 600  # every job, once, in the pooled model


def test_policy_choices_and_settings_come_from_the_registries(on) -> None:  # type: ignore[no-untyped-def]
    """The forecaster and right-sizer pickers list the registries' members, and each setting of the chosen one
    is a widget with its model's default; changing one changes the answer (and a refused value is one line)."""
    from gpufleet.forecasting.series import FORECASTERS
    from gpufleet.optimizer.rightsizing import RIGHTSIZERS

    on(None)
    at = page("forecasts").run()
    picker = next(s for s in at.sidebar.selectbox if s.label == "model")
    assert list(picker.options) == FORECASTERS.names()
    at = picker.set_value("window-mean").run()
    assert not at.exception, at.exception
    window = at.sidebar.number_input(key="forecaster.window-mean.window")
    assert window.value == FORECASTERS.settings_model("window-mean")().window  # type: ignore[attr-defined]
    before = at.get("plotly_chart")[0].proto.spec
    at = window.set_value(1).run()
    assert not at.exception and at.get("plotly_chart")[0].proto.spec != before

    at = page("workloads").run()
    sizer = next(s for s in at.sidebar.selectbox if s.label == "right-sizer")
    assert list(sizer.options) == RIGHTSIZERS.names()
    margin = at.sidebar.number_input(key="rightsizer.vpa.margin")
    assert margin.value == RIGHTSIZERS.settings_model("vpa")().margin  # type: ignore[attr-defined]
    saved = at.metric[1].value
    at = margin.set_value(3.0).run()
    assert not at.exception and at.metric[1].value != saved  # a wider margin saves fewer GPUs
    at = at.sidebar.number_input(key="rightsizer.vpa.share_step").set_value(0.0).run()
    assert "rightsizer 'vpa': share_step: Input should be greater than 0" in at.error[0].value


def test_the_capacity_answer_writes_no_stray_object(on) -> None:  # type: ignore[no-untyped-def]
    # Streamlit's "magic" writes the value of a bare expression: `st.success(..) if .. else st.warning(..)` once
    # put the DeltaGenerator's docstring under the answer (#23 point 5)
    on(None)
    at = page("whatif").run()
    at.number_input[1].set_value(300)  # synthetic jobs for the capacity search
    at.number_input[2].set_value(300)  # p95 wait target, minutes
    at.button[1].click().run()
    assert not at.exception, at.exception
    assert at.success or at.warning
    assert not _stray(at)


@pytest.mark.slow
def test_whatif_defaults_replay_every_job_to_the_end(on) -> None:  # type: ignore[no-untyped-def]
    """The form as it opens is a question worth asking: every synthetic job has a node of its GPU type and
    finishes, and SJF ranks by the `auto` predictor, not the oracle's true runtimes."""
    on(None)
    at = page("whatif").run()
    assert at.text_input[0].value == "synthetic:nodes" and at.number_input[0].value == 2000
    assert next(s for s in at.selectbox if s.label.startswith("runtime predictor")).value == "auto"
    at.button[0].click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["scheduler"]) == ["fifo", "sjf"] and list(table["predictor"]) == ["none", "auto"]
    assert (table["unfinished"] == 0).all() and (table["unschedulable"] == 0).all()
    assert (table["GPUs"] == 432).all()
    assert not _stray(at)


def test_whatif_says_how_to_set_the_trace_folder(on, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    on(None)
    monkeypatch.delenv("GPUFLEET_DATA", raising=False)
    monkeypatch.setattr("gpufleet.core.datadir.checkout_traces", lambda: None)
    at = page("whatif").run()
    assert not at.exception, at.exception
    assert any("GPUFLEET_DATA=/path/to/traces gpufleet dashboard" in i.value for i in at.info)
    assert any("--data-dir /path/to/traces dashboard" in i.value for i in at.info)
    assert list(at.selectbox[0].options) == ["synthetic:jobs"]
    monkeypatch.setenv("GPUFLEET_DATA", "/nonexistent-traces")
    at = page("whatif").run()
    assert any("/nonexistent-traces (from GPUFLEET_DATA) does not exist" in i.value for i in at.info)


def test_whatif_offers_the_real_traces_where_the_folder_is(on, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    on(None)
    at = page("whatif").run()
    assert {"itp:cluster04", "philly:jobs"} <= set(at.selectbox[0].options)
    assert not any("trace folder" in i.value for i in at.info)


def _stray(at: AppTest) -> list[str]:
    """What a page should never show: Streamlit's help box of an object (a bare expression's value written by
    its magic), an object's repr, or the DeltaGenerator's docstring."""
    found = [f"help_info: {getattr(h.proto, 'name', h)}" for h in at.get("help_info")]
    return found + [v for v in _values(at.main) + _values(at.sidebar) if "DeltaGenerator" in v or "object at 0x" in v]


def _values(node: object) -> list[str]:
    """The text of every element under `node` (AppTest blocks hold their elements in `children`)."""
    out = [str(getattr(node, "value", ""))] if getattr(node, "type", "") != "dataframe" else []
    for child in getattr(node, "children", {}).values():
        out += _values(child)
    return out
