"""Property tests: validate accepts every valid frame it is given and rejects each kind of corruption."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.core.errors import SchemaError
from gpufleet.core.schemas import GPU_SAMPLES, JOBS, validate

finite_nonneg = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def job_frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=0, max_value=30))
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_time": draw(st.lists(finite_nonneg, min_size=n, max_size=n)),
            "duration": draw(st.lists(st.one_of(st.none(), finite_nonneg), min_size=n, max_size=n)),
            "num_gpus": draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 8.0, 64.0]), min_size=n, max_size=n)),
            "mem_bytes": draw(st.lists(st.one_of(st.none(), st.integers(0, 2**40)), min_size=n, max_size=n)),
            "user": draw(st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=n, max_size=n)),
            "kind": draw(st.lists(st.sampled_from(["train", "serve", "other"]), min_size=n, max_size=n)),
        },
        schema_overrides={"duration": pl.Float64, "mem_bytes": pl.Int64, "user": pl.Utf8},
    )


@SETTINGS
@given(job_frames())
def test_valid_jobs_are_accepted_unchanged(df: pl.DataFrame) -> None:
    out = validate(df, JOBS)
    assert out.height == df.height
    for c in df.columns:
        assert out[c].to_list() == df[c].to_list()


CORRUPTIONS = ["drop_required", "negative", "nan", "inf", "null_required", "text", "bad_kind", "dup_id"]


@SETTINGS
@given(job_frames().filter(lambda d: d.height > 0), st.sampled_from(CORRUPTIONS), st.data())
def test_each_corruption_is_rejected_naming_the_column(df: pl.DataFrame, how: str, data: st.DataObject) -> None:
    row = data.draw(st.integers(0, df.height - 1))
    col = {
        "drop_required": "num_gpus",
        "negative": "submit_time",
        "nan": "duration",
        "inf": "submit_time",
        "null_required": "submit_time",
        "text": "duration",
        "bad_kind": "kind",
        "dup_id": "job_id",
    }[how]

    def put(value: object, dtype: pl.DataType | None = None) -> pl.DataFrame:
        vals = df[col].to_list()
        vals[row] = value
        return df.with_columns(pl.Series(col, vals, dtype=dtype or df.schema[col], strict=False))

    if how == "drop_required":
        bad = df.drop(col)
    elif how == "negative":
        bad = put(-1.0)
    elif how == "nan":
        bad = put(math.nan)
    elif how == "inf":
        bad = put(math.inf)
    elif how == "null_required":
        bad = put(None)
    elif how == "text":
        bad = df.with_columns(pl.col(col).cast(pl.Utf8)).pipe(
            lambda d: d.with_columns(pl.Series(col, [*d[col].to_list()[:row], "n/a", *d[col].to_list()[row + 1 :]]))
        )
    elif how == "bad_kind":
        bad = put("batch")
    else:
        if df.height < 2:
            bad = df.vstack(df)
        else:
            other = (row + 1) % df.height
            bad = put(df[col][other])
    with pytest.raises(SchemaError) as e:
        validate(bad, JOBS)
    assert str(e.value).startswith(f"JOBS.{col}:")
    if how not in ("drop_required", "dup_id"):
        assert row in e.value.rows


@SETTINGS
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=105), min_size=1, max_size=20))
def test_util_accepted_iff_in_unit_interval(vals: list[float]) -> None:
    from datetime import datetime

    df = pl.DataFrame({"ts": [datetime(2026, 1, 1)] * len(vals), "util": vals, "source": ["x"] * len(vals)})
    if all(0 <= v <= 1 for v in vals):
        assert validate(df, GPU_SAMPLES)["util"].to_list() == vals
    else:
        with pytest.raises(SchemaError, match="GPU_SAMPLES.util"):
            validate(df, GPU_SAMPLES)
