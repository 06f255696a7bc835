"""Forecasters on real traces at a 1 h horizon (6 steps of 10 min); run with -s to see the figures.

genai duty cycle: the 20 busiest pods by mean utilization (~23 h each, so the MASE scale is the lag-1
naive: a day-long season does not fit). Helios: allocated GPUs (running_gpu_num) of three virtual
clusters over May 2020 (the MASE scale is the one-day seasonal naive). Timings are printed, not asserted.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from gpufleet.forecasting.series import backtest_series, resample, to_series

pytestmark = [pytest.mark.traces, pytest.mark.slow]

STEP = timedelta(minutes=10)
H = 6  # one hour
ORIGINS = 6  # six rolling one-hour windows: the last 6 h of each trace
MODELS = ["seasonal-naive", "lightgbm", "prophet"]
HELIOS_VCS = ("vc8Sj", "vcLJZ", "vcSoL")


def genai_series(data_dir: Path, top: int = 20) -> pl.DataFrame:
    """GPU_SAMPLES (ts, util, pod) of the busiest pods as SERIES at 10 min."""
    from gpufleet.traces import load

    s = to_series(load("genai:duty-cycle", data_dir).frame)  # unique_id = pod, ds = ts, y = util
    busiest = s.group_by("unique_id").agg(pl.col("y").mean()).sort(["y", "unique_id"], descending=True).head(top)
    return resample(s.join(busiest.select("unique_id"), on="unique_id"), STEP)


def helios_series(data_dir: Path) -> pl.DataFrame:
    """running_gpu_num per VC (unique_id = VC) at 10 min."""
    from gpufleet.traces import load

    parts = [
        load(f"helios:{vc}", data_dir)
        .frame.filter(pl.col("unique_id") == "running_gpu_num")
        .with_columns(pl.lit(vc).alias("unique_id"))
        for vc in HELIOS_VCS
    ]
    return resample(pl.concat(parts), STEP)


@pytest.fixture(scope="module")
def scores(data_dir: Path) -> dict[str, pl.DataFrame]:
    out = {}
    for name, df in (("genai", genai_series(data_dir)), ("helios", helios_series(data_dir))):
        res = backtest_series(df, MODELS, h=H, n_origins=ORIGINS, levels=[80, 95])
        out[name] = res.with_columns(
            pl.col(pl.Float64).round(4), (pl.col("fit_s") + pl.col("predict_s")).alias("total_s")
        )
        with pl.Config(tbl_cols=20, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
            print(f"\n{name}: h={H} x 10 min, {ORIGINS} origins\n{out[name]}")
        by = {r["model"]: r for r in out[name].iter_rows(named=True)}
        print(f"{name}: prophet / lightgbm time = {by['prophet']['total_s'] / by['lightgbm']['total_s']:.1f}x")
    return out


@pytest.mark.parametrize("dataset", ["genai", "helios"])
def test_lightgbm_beats_the_seasonal_naive_scale(scores: dict[str, pl.DataFrame], dataset: str) -> None:
    lgbm = scores[dataset].filter(pl.col("model") == "lightgbm").row(0, named=True)
    assert lgbm["n_fallback"] == 0 and lgbm["n_series"] == (20 if dataset == "genai" else len(HELIOS_VCS))
    assert lgbm["mase"] < 1.0


@pytest.mark.parametrize("dataset", ["genai", "helios"])
def test_lightgbm_is_more_accurate_than_prophet(scores: dict[str, pl.DataFrame], dataset: str) -> None:
    mae = dict(scores[dataset].select("model", "mae").iter_rows())
    assert mae["lightgbm"] < mae["prophet"]


@pytest.mark.parametrize("dataset", ["genai", "helios"])
def test_intervals_cover_about_their_level(scores: dict[str, pl.DataFrame], dataset: str) -> None:
    lgbm = scores[dataset].filter(pl.col("model") == "lightgbm").row(0, named=True)
    assert lgbm["coverage-80"] >= 0.7 and lgbm["coverage-95"] >= 0.85
