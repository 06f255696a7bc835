"""prepare / resample: regular grids, duplicates averaged, gaps forward-filled, every change counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpufleet.core.errors import SchemaError
from gpufleet.core.schemas import SERIES, UTC_DT
from gpufleet.forecasting.series import infer_step, prepare, resample, to_series

T0 = datetime(2020, 5, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def frame(uid: list[str], minutes: list[float], y: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"unique_id": uid, "ds": [T0 + m * MIN for m in minutes], "y": y}, schema_overrides={"y": pl.Float64}
    )


def test_regular_frame_comes_back_unchanged() -> None:
    df = frame(["a"] * 5 + ["b"] * 3, [0, 1, 2, 3, 4, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8])
    frame_out, step = prepare(df.sample(fraction=1.0, shuffle=True, seed=1))
    assert step == MIN
    assert_frame_equal(frame_out, df.with_columns(pl.col("ds").cast(UTC_DT)))
    assert frame_out.schema == SERIES.schema


def test_info_counts_every_change() -> None:
    df = frame(
        ["a"] * 6 + ["b"] * 2,
        [0, 1, 1, 4, 5, 5.5, 0, 1],  # a: duplicate at 1, gap 2..3, 5 and 5.5 share a bucket
        [1.0, 2.0, 4.0, 10.0, 20.0, 30.0, float("nan"), 7.0],
    )
    p = prepare(df, MIN)
    a = p.frame.filter(pl.col("unique_id") == "a")
    assert a["y"].to_list() == [1.0, 3.0, 3.0, 3.0, 10.0, 25.0]  # mean of duplicates, ffill, bucket mean
    assert p.info["invalid_y_removed"] == 1
    assert p.info["duplicates_averaged"] == 1
    assert p.info["merged_in_buckets"] == 1
    assert p.info["gaps_filled"] == 2
    assert p.info["rows_out"] == p.frame.height == 7
    i = p.info
    assert i["rows_in"] - i["invalid_y_removed"] - i["duplicates_averaged"] - i["merged_in_buckets"] == (
        i["rows_out"] - i["gaps_filled"]
    ), "every input row is accounted for"


def test_step_inferred_as_median_spacing() -> None:
    minutes = list(np.cumsum([0, 1, 1, 1.02, 0.98, 1, 7, 1]))
    df = frame(["a"] * len(minutes), minutes, list(range(len(minutes))))
    assert infer_step(df) == MIN
    with pytest.raises(ValueError, match="cannot infer the step"):
        prepare(frame(["a"], [0], [1.0]))


def test_resample_minutes_to_ten_minutes_anchored_at_the_first_timestamp() -> None:
    minutes = list(range(3, 33))  # 30 one-minute samples starting at :03
    df = frame(["vc"] * 30, minutes, [float(m) for m in minutes])
    out = resample(df, timedelta(minutes=10))
    assert out["ds"].to_list() == [T0 + m * MIN for m in (3, 13, 23)]
    assert out["y"].to_list() == [7.5, 17.5, 27.5]


def test_series_are_not_extended_beyond_their_own_span() -> None:
    df = frame(["a", "a", "b", "b"], [0, 10, 4, 6], [1.0, 2.0, 3.0, 4.0])
    out = prepare(df, MIN).frame
    assert out.filter(pl.col("unique_id") == "a").height == 11
    b = out.filter(pl.col("unique_id") == "b")
    assert b["ds"].to_list() == [T0 + m * MIN for m in (4, 5, 6)] and b["y"].to_list() == [3.0, 3.0, 4.0]


def test_bad_input_is_reported_not_guessed() -> None:
    with pytest.raises(SchemaError, match="SERIES.y"):
        prepare(pl.DataFrame({"unique_id": ["a"], "ds": [T0]}))
    with pytest.raises(ValueError, match="step must be positive"):
        prepare(frame(["a", "a"], [0, 1], [1.0, 2.0]), timedelta(0))
    empty = prepare(frame(["a"], [0], [None]), MIN)
    assert empty.frame.height == 0 and empty.info["invalid_y_removed"] == 1


def test_to_series_from_gpu_samples() -> None:
    samples = pl.DataFrame({"ts": [T0, T0 + MIN], "pod": ["p", "p"], "util": [0.5, None], "node": ["n", "n"]})
    s = to_series(samples)
    assert s.columns == ["unique_id", "ds", "y"]
    assert prepare(s, MIN).info["invalid_y_removed"] == 1
    with pytest.raises(SchemaError, match="SERIES.unique_id"):
        prepare(to_series(samples.with_columns(pl.lit(None, pl.Utf8).alias("pod"))), MIN)
