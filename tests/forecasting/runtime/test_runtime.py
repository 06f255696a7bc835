"""Runtime predictors: the conformance suite over PREDICTORS, no leakage, persistence, real-trace targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.forecasting.runtime.backtest import backtest_runtime
from gpufleet.forecasting.runtime.features import runtime_features
from gpufleet.plan.downstream import downstream, nudge
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.traces import load

runner = CliRunner()


@pytest.fixture(scope="module")
def jobs() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=3000, days=10).frame


def _small(m: str) -> object:
    # a quick LightGBM for the suite; rolling refits daily so several models are exercised
    if m == "lightgbm":
        return PREDICTORS.build(m, {"n_estimators": 40, "refit_every_s": 86400, "min_train": 100})
    return PREDICTORS.build(m)


def test_features_never_see_the_future(jobs: pl.DataFrame) -> None:
    # Shuffle the durations of every job submitted after a cut: features (and rolling predictions) of jobs
    # submitted before it must not change at all.
    cut = float(jobs["submit_time"].quantile(0.6))
    future = (jobs["submit_time"] > cut).to_numpy()
    rng = np.random.default_rng(0)
    d = jobs["duration"].to_numpy().copy()
    d[future] = rng.permutation(d[future]) * rng.uniform(0.1, 10, future.sum())
    shuffled = jobs.with_columns(pl.Series("duration", d))
    f0, f1 = runtime_features(jobs), runtime_features(shuffled)
    past = pl.Series(~future)
    assert f0.filter(past).equals(f1.filter(past))
    assert not f0.filter(~past).equals(f1.filter(~past))  # the shuffle did change something
    p0 = _small("lightgbm").predict(jobs)  # type: ignore[attr-defined]
    p1 = _small("lightgbm").predict(shuffled)  # type: ignore[attr-defined]
    assert p0.filter(past).equals(p1.filter(past))


def test_model_says_which_features_it_could_use(jobs: pl.DataFrame) -> None:
    bare = jobs.select("job_id", "submit_time", "duration", "num_gpus", "kind")
    m = PREDICTORS.build("lightgbm", {"n_estimators": 20}).fit(bare)
    state = m.to_state()  # type: ignore[attr-defined]
    assert "user" in state["features_missing"] and "name" in state["features_missing"]
    assert "log2_gpus" in state["features"] and "user" not in state["features"]


def test_save_load_round_trip_and_schema_checks(jobs: pl.DataFrame, tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "train",
            "runtime",
            "--jobs",
            "synthetic:jobs",
            "-p",
            "n_jobs=1500",
            "-p",
            "days=6",
            "--out",
            str(tmp_path / "m"),
            "--model",
            "lightgbm",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert "user" in info["features_used"] and info["trained_on_jobs"] > 1000
    p = runner.invoke(
        app,
        [
            "predict",
            "runtime",
            "--model",
            str(tmp_path / "m"),
            "--jobs",
            "synthetic:jobs",
            "-p",
            "n_jobs=300",
            "-p",
            "seed=5",
            "--out",
            str(tmp_path / "p.parquet"),
            "--json",
        ],
    )
    assert p.exit_code == 0, p.output
    assert pl.read_parquet(tmp_path / "p.parquet").height == 300
    # jobs without users: the lightgbm model answers with its user-free twin and says so on one line
    from gpufleet.forecasting.runtime import AFTRuntime
    from gpufleet.plan.modelstore import load_runtime_model

    m = load_runtime_model(tmp_path / "m")
    m.check_columns(jobs.drop("user"))
    pred = m.predict(jobs.drop("user"))
    assert np.isfinite(pred["p50"].to_numpy()).all() and m.notes and "never seen" in m.notes[0]
    # a model without such a twin (xgb-aft) refuses, with one clear line
    with pytest.raises(GpufleetError, match="trained with .*user"):
        AFTRuntime().fit(jobs).check_columns(jobs.drop("user"))  # type: ignore[attr-defined]
    # a state from another feature schema is refused
    state = json.loads((tmp_path / "m" / "model.json").read_text())
    state["feature_schema_version"] = 999
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.json").write_text(json.dumps(state))
    bad = runner.invoke(app, ["predict", "runtime", "--model", str(tmp_path / "old"), "--jobs", "synthetic:jobs"])
    assert bad.exit_code == 2 and "feature schema v999" in bad.stderr
    none = runner.invoke(app, ["predict", "runtime", "--model", str(tmp_path / "nowhere"), "--jobs", "synthetic:jobs"])
    assert none.exit_code == 2 and "not a model directory" in none.stderr
    untrainable = runner.invoke(
        app, ["train", "runtime", "--jobs", "synthetic:jobs", "--model", "oracle", "--out", str(tmp_path / "o")]
    )
    assert untrainable.exit_code == 2 and "nothing to train or save" in untrainable.stderr


@pytest.mark.traces
def test_philly_target_lightgbm_beats_user_history_by_20pct(data_dir: Path) -> None:
    jobs = load("philly:jobs", data_dir).frame
    t = {r["model"]: r for r in backtest_runtime(jobs, ["user-history", "lightgbm"], test_frac=0.2).to_dicts()}
    print({k: round(v["log_mae"], 3) for k, v in t.items()})
    assert t["lightgbm"]["log_mae"] <= 0.8 * t["user-history"]["log_mae"]
    assert 0.6 <= t["lightgbm"]["cover_p10_p90"] <= 0.95  # nominal 0.8: the interval means something


@pytest.mark.integration  # the downstream replays run in worker processes
@pytest.mark.traces
def test_backtest_cli_json(data_dir: Path) -> None:
    r = runner.invoke(
        app,
        [
            "--data-dir",
            str(data_dir),
            "backtest",
            "runtime",
            "--data",
            "itp:cluster05",
            "--models",
            "user-history,lightgbm,oracle",
            "--nudges",
            "1",
            "--fixed",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    # the gpu-class baseline is always run beside what was asked
    assert [m["model"] for m in out["metrics"]] == ["gpu-class", "user-history", "lightgbm", "oracle"]
    assert out["metrics"][3]["log_mae"] == 0 and out["downstream"]
    assert {d["scheduler"] for d in out["downstream"]} == {"sjf", "qssf"}
    # FIFO and the oracle once; predictors with and without the mates' refresh (--fixed)
    sjf = {(d["predictor"], d["mates"]): d for d in out["downstream"] if d["scheduler"] == "sjf"}
    assert sorted(sjf) == [
        ("fifo", "-"),
        ("gpu-class", "fixed"),
        ("gpu-class", "refreshed"),
        ("lightgbm", "fixed"),
        ("lightgbm", "refreshed"),
        ("oracle", "-"),
        ("user-history", "fixed"),
        ("user-history", "refreshed"),
    ]
    assert sjf[("fifo", "-")]["gain_captured"] == 0 and sjf[("oracle", "-")]["gain_captured"] == 1
    assert sjf[("gpu-class", "refreshed")]["nudged_mean"] is not None


@pytest.mark.integration  # workers=2 starts processes
def test_downstream_nudged_replays_report_how_far_one_replay_can_move() -> None:
    jobs = load("synthetic:jobs", n_jobs=400, days=1, seed=3).frame
    nodes = parse_spec("2x8:V100")  # loaded: the order SJF picks decides who waits
    rows = downstream(jobs, nodes, ["user-history", "oracle"], schedulers=("sjf",), nudges=3, fixed=True, workers=1)
    oracle = next(r for r in rows if r["predictor"] == "oracle")
    fifo = next(r for r in rows if r["predictor"] == "fifo")
    assert oracle["nudged_mean"] is None and oracle["vs_oracle"] == 1.0 and fifo["avg_jct_s"] > oracle["avg_jct_s"]
    learned = [r for r in rows if r["predictor"] == "user-history"]
    assert len(learned) == 2
    for r in learned:
        assert r["nudged_min"] <= r["nudged_mean"] <= r["nudged_max"]
        # gain_captured is computed from the nudged mean, worked out here from the rows themselves
        mean_jct = r["nudged_mean"] * oracle["avg_jct_s"]
        want = (fifo["avg_jct_s"] - mean_jct) / (fifo["avg_jct_s"] - oracle["avg_jct_s"])
        assert r["gain_captured"] == pytest.approx(want)
    assert any(r["nudged_min"] < r["nudged_max"] for r in learned)  # a 1% nudge does move a loaded replay
    again = downstream(jobs, nodes, ["user-history"], schedulers=("sjf",), nudges=3, fixed=True, workers=2)
    assert again == rows  # seeded, and the same in worker processes: the same spread again
    # one draw per job, shared by its three quantiles
    p = pl.DataFrame({"job_id": ["a", "b"], "p10": [10.0, 20.0], "p50": [20.0, 40.0], "p90": [40.0, 80.0]})
    n = nudge(p, 1)
    assert np.allclose(n["p50"] / p["p50"], n["p10"] / p["p10"]) and not np.allclose(n["p50"], p["p50"])
