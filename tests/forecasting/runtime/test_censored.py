"""Censored learning, the gpu-class baseline, the `auto` champion/challenger and the cross-trace protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.forecasting.runtime import PREDICTORS, AFTRuntime, AutoRuntime, AutoSettings, LightGBMRuntime
from gpufleet.forecasting.runtime.backtest import backtest_runtime
from gpufleet.forecasting.runtime.calibrate import censored_log_errors, censored_quantiles, conformal_widen
from gpufleet.forecasting.runtime.crosstrace import backtest_traces, summarize
from gpufleet.forecasting.runtime.known import known_at
from gpufleet.traces import expand_refs

runner = CliRunner()
H = 3600.0


def _jobs(sub: list[float], dur: list[float | None], gpus: list[float] | None = None) -> pl.DataFrame:
    n = len(sub)
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_time": [float(x) for x in sub],
            "duration": pl.Series(dur, dtype=pl.Float64),
            "num_gpus": [float(g) for g in (gpus or [1.0] * n)],
            "kind": ["train"] * n,
        }
    )


def test_known_at_keeps_running_jobs_as_lower_bounds_and_drops_the_unsubmitted() -> None:
    j = _jobs([0, 10, 20, 50, 99], [5, 100, None, 10, 1])
    ts = known_at(j, origin=60.0)
    # job 0 finished (5); job 1 runs since 10 (>= 50 s); job 2 has no recorded duration (>= 40 s);
    # job 3 runs since 50 (finishes at 60: finished exactly at the cutoff); job 4 is not submitted yet
    assert ts.height == 4
    assert ts.lower.tolist() == [5.0, 50.0, 40.0, 10.0]
    assert ts.finished.tolist() == [True, False, False, True]
    assert np.isinf(ts.upper[1]) and ts.upper[0] == 5.0


def test_kaplan_meier_residual_quantiles_worked_by_hand() -> None:
    # all finished: the plain quantiles
    r = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.allclose(censored_quantiles(r, np.ones(5, bool), (0.5,)), [3.0])
    # 5 replaced by "more than 1.5": S(1) = 4/5, the censored one leaves, S(2) = 0.8 * 2/3, S(3) = 0.8 / 3
    # -> the median is 3 (dropping the censored row would say 2.5) and p10 is 1
    got = censored_quantiles(np.array([1.0, 2.0, 3.0, 4.0, 1.5]), np.array([1, 1, 1, 1, 0], bool), (0.1, 0.5))
    assert np.allclose(got, [1.0, 3.0])
    assert censored_quantiles(r, np.zeros(5, bool)) is None
    # a censored row only counts the error already certain: predicting 10 s for a job running 100 s
    e = censored_log_errors(np.array([10.0, 1000.0]), np.array([100.0, 100.0]), np.array([False, False]))
    assert e[0] == pytest.approx(np.log1p(100) - np.log1p(10)) and e[1] == 0.0


def test_gpu_class_quantiles_are_causal_and_per_class() -> None:
    # three 1-GPU jobs finish (10, 20, 30 s) before job 3 is submitted; the 8-GPU job 4 has no class-mate
    j = _jobs([0, 0, 0, 100, 100, 200], [10, 20, 30, 1e6, 5, 1], [1, 1, 1, 1, 8, 8])
    p = PREDICTORS.build("gpu-class").predict(j)
    assert p["p50"][3] == 20.0 and p["p10"][3] == 10.0 and p["p90"][3] == 30.0
    assert p["p50"][4] == 20.0  # no finished 8-GPU job yet: all finished jobs
    assert p["p50"][5] == 5.0  # job 4 finished at 105: now the 8-GPU class has one member
    assert p["p50"][0] == 3600.0  # nothing finished yet: the default


def _survivorship_trace(seed: int = 0) -> tuple[pl.DataFrame, float]:
    # 1-GPU jobs run about 10 minutes, 8-GPU jobs about 40 hours; the trace is 6 days. At the cutoff most
    # 8-GPU jobs of the last two days still run: a model of finished jobs sees mostly the short ones.
    rng = np.random.default_rng(seed)
    n = 3000
    sub = np.sort(rng.uniform(0, 6 * 86400, n))
    big = rng.random(n) < 0.3
    dur = np.where(big, np.exp(rng.normal(np.log(40 * H), 0.6, n)), np.exp(rng.normal(np.log(600), 0.5, n)))
    j = _jobs(sub.tolist(), dur.tolist(), np.where(big, 8.0, 1.0).tolist())
    return j, float(np.quantile(sub, 0.7))


def test_censored_model_sees_the_long_jobs_that_are_still_running() -> None:
    j, cut = _survivorship_trace()
    after = (j["submit_time"] >= cut) & (j["num_gpus"] == 8)
    truth = np.log1p(j.filter(after)["duration"].to_numpy())
    bias = {}
    for name, m in {"lightgbm": LightGBMRuntime(), "xgb-aft": AFTRuntime()}.items():
        m.fit_at(j, cut)
        p = m.predict(j).filter(after)["p50"].to_numpy()
        bias[name] = float(np.mean(np.log1p(p) - truth))
    print(bias)
    assert bias["lightgbm"] < -0.5  # survivorship: finished 8-GPU jobs are the short ones
    assert abs(bias["xgb-aft"]) < 0.3 and abs(bias["xgb-aft"]) < abs(bias["lightgbm"]) / 2


def test_aft_round_trip_and_quantile_order(tmp_path: Path) -> None:
    from gpufleet.plan.modelstore import load_runtime_model, save_runtime_model

    j, cut = _survivorship_trace(1)
    m = AFTRuntime().fit_at(j, cut)
    assert m.censored > 0 and m.offsets[0] <= m.offsets[1] <= m.offsets[2]
    save_runtime_model(m, tmp_path / "m", {})
    again = load_runtime_model(tmp_path / "m")
    a, b = m.predict(j), again.predict(j)
    assert np.allclose(a["p50"].to_numpy(), b["p50"].to_numpy())
    assert ((a["p10"] <= a["p50"]) & (a["p50"] <= a["p90"])).all()


def _hour_trace(seed: int, n: int = 2500) -> pl.DataFrame:
    # duration set by the hour of submission (night jobs are long): no baseline can see it, a model can
    rng = np.random.default_rng(seed)
    sub = np.sort(rng.uniform(0, 14 * 86400, n))
    night = (sub // H % 24) < 8
    dur = np.where(night, 8 * H, 600.0) * np.exp(rng.normal(0, 0.2, n))
    return _jobs(sub.tolist(), dur.tolist())


def test_auto_picks_a_model_only_when_it_wins_on_validation() -> None:
    j = _hour_trace(0)
    cut = float(j["submit_time"].quantile(0.8))
    m = AutoRuntime(AutoSettings(members=("user-history", "gpu-class", "lightgbm"))).fit_at(j, cut)
    assert m.choice is not None and m.choice["member"] in ("lightgbm", "blend(lightgbm+gpu-class)")
    assert m.choice["scores"]["lightgbm"] < m.choice["scores"]["gpu-class"]
    # durations that no feature explains: the baseline stays
    rng = np.random.default_rng(1)
    noise = j.with_columns(pl.Series("duration", np.exp(rng.normal(8, 1, j.height))))
    m2 = AutoRuntime(AutoSettings(members=("user-history", "gpu-class", "lightgbm"))).fit_at(noise, cut)
    assert m2.choice is not None and m2.choice["member"] in (
        "user-history",
        "gpu-class",
        "blend(gpu-class+user-history)",
    )
    lo, mid, hi = m2.offsets
    assert lo < 0 == mid < hi  # calibrated intervals around a point baseline


def test_auto_rolling_predictions_never_see_the_future() -> None:
    j = _hour_trace(2, n=1500)
    cut = float(j["submit_time"].quantile(0.6))
    future = (j["submit_time"] > cut).to_numpy()
    d = j["duration"].to_numpy().copy()
    d[future] = np.random.default_rng(0).permutation(d[future]) * 7
    shuffled = j.with_columns(pl.Series("duration", d))
    past = pl.Series(~future)
    for name in ("auto", "xgb-aft"):
        a = PREDICTORS.build(name).predict(j).filter(past)
        b = PREDICTORS.build(name).predict(shuffled).filter(past)
        assert a.equals(b), name


def test_auto_falls_back_to_a_baseline_on_users_it_never_saw(tmp_path: Path) -> None:
    from gpufleet.plan.modelstore import load_runtime_model, save_runtime_model

    j = _hour_trace(4)
    users = np.random.default_rng(4).integers(0, 20, j.height)
    train = j.with_columns(pl.Series("user", [f"u{k}" for k in users]))
    m = AutoRuntime(AutoSettings(members=("gpu-class", "lightgbm"))).fit(train)
    assert m.fitted and "user" in m.fitted["lightgbm"].encoder.features  # type: ignore[attr-defined]
    save_runtime_model(m, tmp_path / "a", {})
    loaded = load_runtime_model(tmp_path / "a")
    other = train.with_columns(("stranger-" + pl.col("user")).alias("user"))
    p = loaded.predict(other)
    assert loaded.notes and "never seen" in loaded.notes[0] and loaded.fallback in loaded.notes[0]
    assert np.isfinite(p["p50"].to_numpy()).all()
    assert not loaded.predict(train).is_empty() and loaded.notes == []  # known users: no note


def test_leave_one_out_trains_on_the_other_traces() -> None:
    traces = {f"s{k}": _hour_trace(k, n=1200) for k in range(3)}
    loo, chosen = backtest_traces(traces, ["user-history", "gpu-class", "lightgbm", "auto"], scheme="leave-one-out")
    own, _ = backtest_traces(traces, ["user-history", "gpu-class", "lightgbm"], scheme="time")
    assert loo.height == 12 and set(loo["trace"]) == set(traces)
    lg = loo.filter(pl.col("model") == "lightgbm").sort("trace")["log_mae"].to_numpy()
    lg_own = own.filter(pl.col("model") == "lightgbm").sort("trace")["log_mae"].to_numpy()
    assert not np.allclose(lg, lg_own)  # the pool changed what the learner saw
    base = own.filter(pl.col("model") == "user-history").sort("trace")["log_mae"].to_numpy()
    assert np.allclose(loo.filter(pl.col("model") == "user-history").sort("trace")["log_mae"].to_numpy(), base)
    assert {c["trace"] for c in chosen} == set(traces) and all("scores" in c for c in chosen)
    s = {r["model"]: r for r in summarize(loo)}
    assert s["user-history"]["median_vs_user_history"] == 1.0 and s["auto"]["worst_vs_best_baseline"] > 0
    with pytest.raises(ValueError, match="at least two"):
        backtest_traces({"a": traces["s0"]}, ["user-history"], scheme="leave-one-out")


def test_bias_is_reported_and_signed() -> None:
    j = _hour_trace(3, n=600)
    t = backtest_runtime(j, ["oracle", "gpu-class"]).to_dicts()
    assert t[0]["bias"] == 0 and t[0]["log_mae"] == 0
    assert t[1]["bias"] != 0 and abs(t[1]["bias"]) <= t[1]["log_mae"]


def test_star_references_take_the_parts_whose_files_are_present(tmp_path: Path) -> None:
    folder = tmp_path / "microsoft-itp-elasticflow"
    folder.mkdir()
    for c in ("cluster03", "cluster08"):
        (folder / f"itp_{c}.csv.gz").write_bytes(b"")
    assert expand_refs("itp:*", tmp_path) == ["itp:cluster03", "itp:cluster08"]
    assert expand_refs("itp:*,philly:jobs,itp:cluster03", tmp_path) == ["itp:cluster03", "itp:cluster08", "philly:jobs"]
    (folder / "itp_cluster03.csv.gz").unlink()
    (folder / "itp_cluster08.csv.gz").unlink()
    with pytest.raises(Exception, match="no part of 'itp'"):
        expand_refs("itp:*", tmp_path)


def test_backtest_cli_adds_baselines_and_refuses_bad_schemes() -> None:
    base = ["backtest", "runtime", "--data", "synthetic:jobs", "-p", "n_jobs=800", "-p", "days=4", "--no-sim"]
    r = runner.invoke(app, [*base, "--models", "lightgbm", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [m["model"] for m in out["metrics"]] == ["user-history", "gpu-class", "lightgbm"]
    assert out["baselines_added"] == ["user-history", "gpu-class"] and "bias" in out["metrics"][0]
    bad = runner.invoke(app, [*base, "--scheme", "leave-one-out"])
    assert bad.exit_code == 2 and "at least two traces" in bad.stderr
    bad2 = runner.invoke(app, [*base, "--scheme", "random"])
    assert bad2.exit_code == 2 and "--scheme 'random'" in bad2.stderr


def test_rolling_auto_keeps_its_champion_unless_clearly_beaten() -> None:
    from gpufleet.forecasting.runtime.features import runtime_features

    rng = np.random.default_rng(5)
    j = _hour_trace(5, n=1500).with_columns(pl.Series("duration", np.exp(rng.normal(8, 1, 1500))))
    cut = float(j["submit_time"].quantile(0.8))
    feats = runtime_features(j)
    members = ("user-history", "gpu-class")
    fresh = AutoRuntime(AutoSettings(members=members, blend=False))
    fresh._choose(j, feats, cut, None, fresh._causal(j))
    other = next(m for m in members if (m,) != fresh.chosen)
    sticky = AutoRuntime(AutoSettings(members=members, blend=False, margin=0.5))
    sticky._choose(j, feats, cut, None, sticky._causal(j), incumbent=(other,))
    assert sticky.chosen == (other,) and sticky.choice and "kept the last champion" in sticky.choice["why"]
    loose = AutoRuntime(AutoSettings(members=members, blend=False, margin=0.5, sticky=False))
    loose._choose(j, feats, cut, None, loose._causal(j), incumbent=(other,))
    assert loose.chosen == fresh.chosen


def test_a_replay_with_auto_says_what_it_chose_at_each_refit() -> None:
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate

    j = _hour_trace(6, n=1500)
    s = simulate(j, parse_spec("2x8:V100"), SimConfig(scheduler="sjf", predictor="auto")).summary
    c = s.predictor_choice
    assert c is not None and len(c["refits"]) >= 1 and c["member"] == c["refits"][-1]["member"]
    assert all(
        r["member"] in ("user-history", "gpu-class") or "lightgbm" in r["member"] or "xgb-aft" in r["member"]
        for r in c["refits"]
    )
    assert (
        simulate(j, parse_spec("2x8:V100"), SimConfig(scheduler="sjf", predictor="gpu-class")).summary.predictor_choice
        is None
    )


def test_conformal_move_makes_the_members_interval_cover_80_percent_of_validation() -> None:
    rng = np.random.default_rng(7)
    y = np.exp(rng.normal(8, 1, 4000))
    mid = np.full(4000, np.exp(8.0))
    narrow = np.column_stack([mid * np.exp(-0.1), mid, mid * np.exp(0.1)])
    wide = np.column_stack([mid * np.exp(-5), mid, mid * np.exp(5)])
    done = np.ones(4000, bool)
    for q, sign in ((narrow, 1), (wide, -1)):
        w = conformal_widen(q, y, done)
        assert np.sign(w) == sign
        lo, hi = np.log(q[:, 0]) - w, np.log(q[:, 2]) + w
        inside = np.mean((np.log(y) >= lo) & (np.log(y) <= hi))
        assert abs(inside - 0.8) < 0.02
    # jobs still running past p90 can only widen the interval (their scores are lower bounds)
    running = done.copy()
    running[:400] = False
    y2 = y.copy()
    y2[:400] = mid[:400] * np.exp(0.5)  # elapsed so far: above the narrow p90 already
    assert (
        conformal_widen(narrow, y2, running)
        >= conformal_widen(narrow, np.where(running, y2, mid * np.exp(0.5)), done) - 1e-9
    )


def test_conformal_move_leaves_the_sjf_rank_key_alone() -> None:
    j = _hour_trace(8, n=1500)
    on = PREDICTORS.build("auto").predict(j)
    off = AutoRuntime(AutoSettings(conformal=False)).predict(j)

    def key(p: pl.DataFrame) -> np.ndarray:  # the simulator's: the geometric mean of the three
        return np.log(np.clip(p.select("p10", "p50", "p90").to_numpy(), 1e-9, None)).mean(axis=1)

    assert np.allclose(key(on), key(off)) and np.allclose(on["p50"].to_numpy(), off["p50"].to_numpy())
    assert (on["p10"] >= 0).all() and ((on["p10"] <= on["p50"]) & (on["p50"] <= on["p90"])).all()
