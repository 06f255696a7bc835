"""Contract of every registered Forecaster (plugins included): the policy recipe, schema, exactly h rows per
series, ordered intervals, determinism, bad input."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.contract.recipe import check_recipe, members

from gpufleet.core.errors import SettingsError
from gpufleet.core.schemas import UTC_DT
from gpufleet.forecasting.series import FORECASTERS, Forecaster

STEP = timedelta(minutes=10)
T0 = datetime(2026, 1, 5, tzinfo=UTC)
H = 6
NAMES = members("forecaster")


def series_frame(values: dict[str, np.ndarray], start: datetime = T0) -> pl.DataFrame:
    """A long SERIES frame at STEP from `start`, one entry per unique_id."""
    return pl.concat(
        pl.DataFrame(
            {"unique_id": uid, "ds": [start + i * STEP for i in range(len(y))], "y": np.asarray(y, dtype=float)}
        )
        for uid, y in values.items()
    )


def daily(n: int, level: float, seed: int) -> np.ndarray:
    """A utilization-like series: daily cycle plus noise, inside 0..1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.clip(level + 0.25 * np.sin(2 * np.pi * t / 144) + 0.05 * rng.standard_normal(n), 0, 1)


# 3.5 days at 10 min: long enough for the seasonal lag and Prophet's daily season, small enough to stay fast.
CLEAN = series_frame({"gpu-a": daily(504, 0.5, 1), "gpu-b": daily(504, 0.3, 2)})


def fit(name: str, df: pl.DataFrame) -> Forecaster:
    return FORECASTERS.build(name, {"seed": 3}).fit(df)


def check_forecast(out: pl.DataFrame, df: pl.DataFrame, levels: tuple[int, ...] = (80, 95)) -> None:
    """Schema, h rows per series continuing its grid, finite values, lo <= mean <= hi, nested levels."""
    cols = ["unique_id", "ds", "mean"] + [c for lv in sorted(levels) for c in (f"lo-{lv}", f"hi-{lv}")]
    assert out.columns == cols
    assert out.schema["unique_id"] == pl.Utf8 and out.schema["ds"] == UTC_DT
    assert all(out.schema[c] == pl.Float64 for c in cols[2:])
    last = df.group_by("unique_id").agg(pl.col("ds").max().alias("last"))
    assert sorted(out["unique_id"].unique().to_list()) == sorted(last["unique_id"].to_list())
    per = out.join(last, on="unique_id").with_columns(pl.int_range(1, pl.len() + 1).over("unique_id").alias("k"))
    assert per.group_by("unique_id").len()["len"].to_list() == [H] * last.height
    expected = per["last"].dt.epoch("us") + per["k"].cast(pl.Int64) * (STEP // timedelta(microseconds=1))
    assert (per["ds"].dt.epoch("us") == expected).all(), "ds must continue each series at the step"
    values = out.select(cols[2:]).to_numpy()
    assert np.isfinite(values).all(), "NaN or inf in the forecast"
    lv = sorted(levels)
    for a in lv:
        assert (out[f"lo-{a}"] <= out["mean"]).all() and (out["mean"] <= out[f"hi-{a}"]).all()
    for a, b in itertools.pairwise(lv):
        assert (out[f"lo-{b}"] <= out[f"lo-{a}"]).all() and (out[f"hi-{b}"] >= out[f"hi-{a}"]).all()


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("forecaster", name, Forecaster)


@pytest.mark.parametrize("name", NAMES)
def test_clean_input_schema_rows_and_intervals(name: str) -> None:
    f = fit(name, CLEAN)
    check_forecast(f.predict(H), CLEAN)
    assert f.fallbacks == {}


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    assert_frame_equal(fit(name, CLEAN).predict(H), fit(name, CLEAN).predict(H))


@pytest.mark.parametrize("name", NAMES)
def test_levels_any_order_one_pair_each(name: str) -> None:
    out = fit(name, CLEAN).predict(H, levels=[95, 50, 80])
    check_forecast(out, CLEAN, levels=(50, 80, 95))


@pytest.mark.parametrize("name", NAMES)
def test_constant_series(name: str) -> None:
    df = series_frame({"idle": np.full(504, 0.25), "busy": daily(504, 0.6, 4)})
    out = fit(name, df).predict(H)
    check_forecast(out, df)
    idle = out.filter(pl.col("unique_id") == "idle")
    assert np.allclose(idle["mean"].to_numpy(), 0.25, atol=0.05), "a flat history should forecast about flat"


@pytest.mark.parametrize("name", NAMES)
def test_gaps_are_filled(name: str) -> None:
    df = CLEAN.filter(~pl.col("ds").is_between(T0 + 100 * STEP, T0 + 130 * STEP))
    f = fit(name, df)
    check_forecast(f.predict(H), df)
    assert f.info["gaps_filled"] == 62


@pytest.mark.parametrize("name", NAMES)
def test_duplicated_timestamps(name: str) -> None:
    dup = CLEAN.head(40).with_columns(pl.col("y") * 0.5)
    df = pl.concat([CLEAN, dup])
    f = fit(name, df)
    check_forecast(f.predict(H), df)
    assert f.info["duplicates_averaged"] == 40


@pytest.mark.parametrize("name", NAMES)
def test_too_short_series_falls_back_and_says_so(name: str) -> None:
    df = pl.concat([CLEAN, series_frame({"new-pod": np.array([0.1, 0.4, 0.3, 0.5, 0.2])}, start=T0 + 400 * STEP)])
    f = fit(name, df)
    check_forecast(f.predict(H), df)
    if not FORECASTERS.get(name).needs_history:  # declared: it forecasts any series itself, never falls back
        assert f.fallbacks == {}
        return
    assert "new-pod" in f.fallbacks and "naive" in f.fallbacks["new-pod"]
    assert set(f.fallbacks) == {"new-pod"}


@pytest.mark.parametrize("name", NAMES)
def test_single_point_series(name: str) -> None:
    df = pl.concat([CLEAN, series_frame({"blip": np.array([0.7])}, start=T0 + 500 * STEP)])
    f = fit(name, df)
    out = f.predict(H)
    check_forecast(out, df)
    blip = out.filter(pl.col("unique_id") == "blip")
    assert (blip["mean"] == 0.7).all() and (blip["lo-95"] == 0.7).all(), "one point: flat, no spread to learn"


@pytest.mark.parametrize("name", NAMES)
def test_settings_are_typed_and_strict(name: str) -> None:
    with pytest.raises(SettingsError, match=f"^forecaster '{name}': no_such_setting: not a setting"):
        FORECASTERS.build(name, {"no_such_setting": 1})
    fields = FORECASTERS.settings_model(name).model_fields
    assert {"seed", "season_length", "weekly", "step_s"} <= set(fields)
    assert all(f.description for f in fields.values()), "every setting needs a description (it becomes CLI help)"


@pytest.mark.parametrize("name", NAMES)
def test_predict_before_fit_and_bad_h(name: str) -> None:
    with pytest.raises(RuntimeError):
        FORECASTERS.build(name).predict(H)
    f = fit(name, series_frame({"x": daily(30, 0.5, 5)}))
    with pytest.raises(ValueError):
        f.predict(0)
    with pytest.raises(ValueError):
        f.predict(H, levels=[100])
