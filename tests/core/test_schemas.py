"""validate(): the one gate into the canonical tables."""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl
import pytest

from gpufleet.core.errors import SchemaError
from gpufleet.core.schemas import GPU_SAMPLES, JOBS, NODES, REQUESTS, SERIES, TABLES, validate


def jobs(**over: list) -> pl.DataFrame:
    base = {
        "job_id": ["a", "b", "c"],
        "submit_time": [0.0, 10.0, 20.0],
        "duration": [5.0, None, 7.5],
        "num_gpus": [1.0, 0.5, 8.0],
        "kind": ["train", "serve", "other"],
    }
    return pl.DataFrame(base | over, strict=False)


def test_valid_frame_is_cast_and_ordered() -> None:
    df = jobs(submit_time=[0, 10, 20], extra=["x", "y", "z"])
    out = validate(df, JOBS)
    assert out.columns[: len(JOBS.names)] == JOBS.names
    assert out.columns[-1] == "extra"
    assert out.schema["submit_time"] == pl.Float64
    assert out["user"].null_count() == 3  # optional columns are added as nulls


def test_table_lookup_by_name() -> None:
    assert validate(jobs(), "jobs").height == 3
    with pytest.raises(SchemaError, match="unknown table"):
        validate(jobs(), "joobs")


def test_missing_required_column_names_table_and_column() -> None:
    with pytest.raises(SchemaError) as e:
        validate(jobs().drop("num_gpus"), JOBS)
    assert str(e.value).startswith("JOBS.num_gpus: missing required column")


def test_uncastable_values_name_rows() -> None:
    with pytest.raises(SchemaError) as e:
        validate(jobs(duration=["5", "x", "y"]), JOBS)
    msg = str(e.value)
    assert "JOBS.duration" in msg and "2 row(s) cannot be read" in msg and "1='x'" in msg and "2='y'" in msg


def test_fractional_value_in_integer_column_is_refused() -> None:
    nodes = pl.DataFrame({"node_id": ["n1", "n2"], "num_gpus": [8.0, 2.5]})
    with pytest.raises(SchemaError, match=r"NODES.num_gpus: 1 row\(s\) are not whole numbers.*1=2.5"):
        validate(nodes, NODES)
    assert validate(nodes.with_columns(pl.col("num_gpus").round()), NODES)["num_gpus"].dtype == pl.Int64


def test_nulls_in_required_column() -> None:
    with pytest.raises(SchemaError, match=r"JOBS.submit_time: 1 row\(s\) are null"):
        validate(jobs(submit_time=[0.0, None, 1.0]), JOBS)


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_negative_or_nonfinite_durations(bad: float) -> None:
    with pytest.raises(SchemaError, match="JOBS.duration"):
        validate(jobs(duration=[1.0, bad, 2.0]), JOBS)


def test_utilization_outside_unit_interval() -> None:
    s = pl.DataFrame({"ts": [datetime(2026, 1, 1)] * 2, "util": [0.5, 57.0], "source": ["t", "t"]})
    with pytest.raises(SchemaError, match=r"GPU_SAMPLES.util: 1 row\(s\) are outside 0..1.*1=57.0"):
        validate(s, GPU_SAMPLES)
    ok = validate(s.with_columns(pl.col("util") / 100), GPU_SAMPLES)
    assert ok.schema["ts"] == pl.Datetime("us", "UTC")


def test_kind_must_be_known() -> None:
    with pytest.raises(SchemaError, match="JOBS.kind.*not one of train, serve, other"):
        validate(jobs(kind=["train", "batch", "other"]), JOBS)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(SchemaError, match="JOBS.job_id.*unique"):
        validate(jobs(job_id=["a", "a", "c"]), JOBS)


def test_series_accepts_strings_and_naive_datetimes_as_utc() -> None:
    s = validate(
        pl.DataFrame({"unique_id": ["x", "x"], "ds": ["2020-05-01 00:00:00", "2020-05-01 00:01:00"], "y": [1, 2]}),
        SERIES,
    )
    assert s.schema["ds"] == pl.Datetime("us", "UTC") and s["y"].dtype == pl.Float64
    with pytest.raises(SchemaError, match="SERIES.ds"):
        validate(pl.DataFrame({"unique_id": ["x"], "ds": [12345], "y": [1.0]}), SERIES)


def test_at_most_five_rows_are_shown() -> None:
    with pytest.raises(SchemaError) as e:
        validate(
            jobs(job_id=[str(i) for i in range(3)], duration=[-1.0] * 3).vstack(
                jobs(job_id=[str(i) for i in range(3, 6)], duration=[-2.0] * 3)
            ),
            JOBS,
        )
    assert e.value.rows == [0, 1, 2, 3, 4] and "6 row(s)" in str(e.value)


def test_empty_frames_validate() -> None:
    for t in TABLES.values():
        assert validate(t.empty(), t).height == 0


def test_requests_tokens_are_integers() -> None:
    r = validate(pl.DataFrame({"request_id": ["r"], "arrival_time": [0.5], "input_tokens": [10.0]}), REQUESTS)
    assert r["input_tokens"].dtype == pl.Int64
