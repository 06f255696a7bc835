"""naive-last and window-mean worked out by hand, observed-only windows, `ends`, bounds and clipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from gpufleet.forecasting.series import FORECASTERS, Bounds, clip_forecast
from gpufleet.forecasting.series.baselines import rolling_window_means

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(minutes=5)


def frame(values: dict[str, list[float | None]]) -> pl.DataFrame:
    """One row per non-None value at T0 + i * STEP (None: that step has no sample, a gap)."""
    rows = [(k, T0 + i * STEP, float(v)) for k, vs in values.items() for i, v in enumerate(vs) if v is not None]
    return pl.DataFrame(
        rows, schema={"unique_id": pl.Utf8, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64}, orient="row"
    )


def means(pred: pl.DataFrame, uid: str) -> list[float]:
    return pred.filter(pl.col("unique_id") == uid)["mean"].to_list()


def test_naive_last_and_window_mean_by_hand() -> None:
    df = frame({"a": [1, 2, 3, 4, 5, 6], "b": [10, 0, 10, 0]})
    naive = FORECASTERS.build("naive-last", {"step_s": 300}).fit(df).predict(3)
    assert means(naive, "a") == [6, 6, 6] and means(naive, "b") == [0, 0, 0]
    wm = FORECASTERS.build("window-mean", {"window": 4, "step_s": 300}).fit(df).predict(2)
    assert means(wm, "a") == [4.5, 4.5] and means(wm, "b") == [5, 5]  # (3+4+5+6)/4 and (10+0+10+0)/4


def test_window_mean_averages_observed_values_only() -> None:
    # steps 3 and 4 have no sample: they are forward-filled for every model, but they are not observations
    df = frame({"a": [0, 0, 8, None, None, 2]})
    wm = FORECASTERS.build("window-mean", {"window": 4, "step_s": 300}).fit(df).predict(1)
    assert means(wm, "a") == [5.0]  # window = steps 2..5, observed 8 and 2 (a filled mean would be (8+8+8+2)/4)
    obs = np.array([True, True, True, False, False, True])
    assert rolling_window_means(np.array([0, 0, 8, 8, 8, 2.0]), obs, 4).tolist() == [0, 0, 8 / 3, 8 / 3, 4, 5]


def test_empty_window_falls_back_to_the_last_observed_value() -> None:
    obs = np.array([True, False, False, False])
    assert rolling_window_means(np.array([7.0, 7, 7, 7]), obs, 2).tolist() == [7, 7, 7, 7]


def test_ends_carry_a_series_forward_to_its_known_end() -> None:
    df = frame({"a": [1, 2, 3, 4], "b": [5, 5, 5, 5, 5, 5]})
    end = T0 + 5 * STEP  # a is known to be live until step 5; its last two samples are missing
    wm = FORECASTERS.build("window-mean", {"window": 3, "step_s": 300}).fit(df, ends={"a": end}).predict(2)
    a = wm.filter(pl.col("unique_id") == "a")
    assert a["ds"].to_list() == [T0 + 6 * STEP, T0 + 7 * STEP]  # starts where b's forecast starts
    assert a["mean"].to_list() == [4.0, 4.0]  # window steps 3..5: only step 3 (4.0) was observed


def test_bounds_clip_every_column_and_per_series_capacity_wins() -> None:
    df = frame({"a": [0.2, 0.5, 0.8, 1.1], "b": [-3, -2, -1, -0.5]})
    f = FORECASTERS.build("naive-last", {"step_s": 300}).fit(df, bounds=Bounds(0.0, 1.0))
    out = f.predict(2, [80])
    assert means(out, "a") == [1.0, 1.0] and means(out, "b") == [0.0, 0.0]
    assert out["lo-80"].min() >= 0 and out["hi-80"].max() <= 1
    capped = clip_forecast(out.with_columns(pl.lit(30.0).alias("mean")), Bounds(0.0, None, {"a": 16.0}))
    assert means(capped, "a") == [16.0, 16.0] and means(capped, "b") == [30.0, 30.0]
    with pytest.raises(ValueError):
        Bounds(1.0, 0.0)


def test_lightgbm_extrapolating_a_ramp_is_clipped_at_the_declared_bound() -> None:
    ramp = np.linspace(0.0, 0.99, 200)
    df = frame({"a": list(ramp), "b": list(ramp[::-1])})
    free = FORECASTERS.build("lightgbm", {"step_s": 300, "horizon": 12}).fit(df).predict(12)
    assert free["mean"].max() > 1.0 or free["mean"].min() < 0.0  # unclipped, the trend runs out of range
    clipped = FORECASTERS.build("lightgbm", {"step_s": 300, "horizon": 12}).fit(df, bounds=Bounds(0.0, 1.0)).predict(12)
    assert clipped["mean"].max() <= 1.0 and clipped["mean"].min() >= 0.0
    assert (clipped.select(pl.exclude("unique_id", "ds")).to_numpy() <= 1.0).all()
