"""On the shared traces, our naive-last and window-mean rows reproduce the independent baselines per series."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from gpufleet.forecasting.series import Bounds
from gpufleet.forecasting.series.protocol_run import run_protocol
from gpufleet.forecasting.series.protocols import PROTOCOLS, bin_samples

DATA = os.environ.get("GPUFLEET_DATA")
REF = Path(DATA or ".").parent / "benchmarks" / "forecast-baselines" / "results_dev.csv"
pytestmark = pytest.mark.skipif(
    not DATA or not REF.exists(), reason="needs GPUFLEET_DATA and ../benchmarks/forecast-baselines/results_dev.csv"
)
THEIRS = {"naive-last": "naive_last", "window-mean": "mean_1h"}


def _frame(protocol: str) -> tuple[pl.DataFrame, Bounds, str]:
    from gpufleet.traces import load

    if protocol == "genai-a":
        f = load("genai:duty-cycle", DATA).frame.filter(pl.col("pod").is_not_null())
        df = f.select(pl.col("pod").alias("unique_id"), pl.col("ts").alias("ds"), pl.col("util").alias("y"))
        return df, Bounds(0.0, 1.0), "alibaba-genai-serving-v2026"
    f = load("helios:earth", DATA).frame
    cap = dict(f.group_by("unique_id").agg(pl.col("capacity").max()).iter_rows())
    return f.select("unique_id", "ds", "y"), Bounds(0.0, None, cap), "sensetime-helios-earth"


@pytest.mark.parametrize("protocol", ["genai-a", "helios-b"])
def test_naive_rows_reproduce_the_independent_figures_per_series(protocol: str) -> None:
    df, bounds, dataset = _frame(protocol)
    p = PROTOCOLS[protocol]
    _, rows = run_protocol(bin_samples(df, p), p, [], bounds=bounds)
    ref = pl.read_csv(REF).filter(pl.col("dataset") == dataset)
    for ours, theirs in THEIRS.items():
        r = ref.filter(pl.col("model") == theirs)
        if r.height == 0:
            continue  # helios has no mean_1h row
        j = r.join(
            rows.filter(pl.col("model") == ours),
            left_on=["series_id", "horizon"],
            right_on=["unique_id", "horizon"],
            how="full",
        )
        assert j.height == r.height and j["MAE_right"].null_count() == 0, "the same series and horizons"
        # the CSV prints 6 significant digits
        for c in ("MAE", "RMSE", "mase_scale"):
            assert ((j[c] - j[f"{c}_right"]).abs() <= 1e-4 * j[c].abs().clip(1.0)).all(), (ours, c)
        assert (j["n_points"] == j["n_points_right"]).all()
