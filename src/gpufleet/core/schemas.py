"""The canonical tables (JOBS, NODES, REQUESTS, GPU_SAMPLES, SERIES) and `validate`, the one gate into them.

Units: seconds, bytes, GPUs as a float count, utilization 0..1, timestamps UTC. JOBS.submit_time and
REQUESTS.arrival_time are float seconds since the trace's own epoch (a trace's metadata says what that
epoch is when it is known); GPU_SAMPLES.ts and SERIES.ds are UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from gpufleet.core.decision import DTYPES, Decision, stored
from gpufleet.core.errors import SchemaError

Check = Literal["nonneg", "util", "finite", "choice"]
UTC_DT = pl.Datetime("us", "UTC")
MAX_SHOWN = 5


@dataclass(frozen=True)
class Column:
    """One canonical column: dtype, whether nulls are allowed, and the value check it must pass."""

    name: str
    dtype: pl.DataType
    required: bool = False
    check: Check | None = None
    choices: tuple[str, ...] = ()
    unique: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A canonical table: ordered columns; frames may carry extra columns after them."""

    name: str
    columns: tuple[Column, ...]
    doc: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Polars schema of the canonical columns."""
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pl.DataFrame:
        """A zero-row frame with the canonical schema."""
        return pl.DataFrame(schema=self.schema)


S, F, I = pl.Utf8(), pl.Float64(), pl.Int64()

JOBS = Table(
    "JOBS",
    (
        Column("job_id", S, required=True, unique=True, doc="unique job id"),
        Column("submit_time", F, required=True, check="nonneg", doc="seconds since the trace epoch"),
        Column("duration", F, check="nonneg", doc="observed run time in seconds; null if unknown"),
        Column("num_gpus", F, required=True, check="nonneg", doc="GPUs as a float count (0.25 = a quarter GPU)"),
        Column("gpu_type", S, doc="required GPU model; '|' separates allowed alternatives; null = any"),
        Column("num_cpus", F, check="nonneg", doc="CPU cores"),
        Column("mem_bytes", I, check="nonneg", doc="main memory in bytes"),
        Column("rdma", F, check="nonneg", doc="RDMA (NIC bandwidth) asked for, in the unit of NODES.rdma"),
        Column("user", S),
        Column("group", S),
        Column("pool", S, doc="partition / node pool the job asked for"),
        Column("name", S),
        Column("status", S, doc="final status as the trace reports it"),
        Column("qos", S),
        Column("kind", S, required=True, check="choice", choices=("train", "serve", "other")),
    ),
    doc="one row per job or pod",
)

NODES = Table(
    "NODES",
    (
        Column("node_id", S, required=True, unique=True),
        Column("pool", S, doc="node pool / group the node belongs to"),
        Column("gpu_type", S, doc="GPU model; null for CPU-only nodes"),
        Column("num_gpus", I, required=True, check="nonneg"),
        Column("gpu_mem_bytes", I, check="nonneg", doc="memory of one GPU in bytes"),
        Column("num_cpus", F, check="nonneg"),
        Column("mem_bytes", I, check="nonneg"),
        Column("rdma", F, check="nonneg", doc="RDMA (NIC bandwidth) of the node, in any unit its jobs share"),
    ),
    doc="one row per machine",
)

REQUESTS = Table(
    "REQUESTS",
    (
        Column("request_id", S, required=True, unique=True),
        Column("arrival_time", F, required=True, check="nonneg", doc="seconds since the trace epoch"),
        Column("input_tokens", I, check="nonneg"),
        Column("output_tokens", I, check="nonneg"),
        Column("model", S),
        Column("client", S),
        Column("service_time", F, check="nonneg", doc="observed execution time in seconds when the trace has it"),
    ),
    doc="one row per inference request",
)

GPU_SAMPLES = Table(
    "GPU_SAMPLES",
    (
        Column("ts", UTC_DT, required=True),
        Column("node", S),
        Column("gpu_uuid", S),
        Column("gpu_index", I, check="nonneg"),
        Column("gpu_model", S),
        Column("mig_profile", S),
        Column("util", F, check="util", doc="busy fraction 0..1"),
        Column("mem_used_bytes", I, check="nonneg"),
        Column("mem_total_bytes", I, check="nonneg"),
        Column("power_w", F, check="nonneg"),
        Column("namespace", S),
        Column("pod", S),
        Column("container", S),
        Column("source", S, required=True, doc="where the sample came from: nvml, dcgm, a trace name"),
        Column("cpu_used_cores", F, check="nonneg", doc="the pod's container CPU use, cores (pod-level samples)"),
        Column("host_mem_used_bytes", I, check="nonneg", doc="the pod's container memory working set, bytes"),
        Column("oom_killed", I, check="nonneg", doc="OOM kills of the pod's container since the previous sample"),
        Column("temp_c", F, check="finite", doc="GPU temperature, degrees C"),
        Column("sm_clock_mhz", F, check="nonneg", doc="SM clock, MHz"),
        Column("xid_errors", I, check="nonneg", doc="last XID error code the driver reported (0: none)"),
    ),
    doc="one row per GPU (or pod) per sample time",
)

SERIES = Table(
    "SERIES",
    (
        Column("unique_id", S, required=True),
        Column("ds", UTC_DT, required=True),
        Column("y", F, required=True, check="finite"),
    ),
    doc="long-format time series, as the forecasting ecosystem uses",
)


def _decision_columns() -> tuple[Column, ...]:
    """DECISIONS' columns, derived from the one Decision record (core/decision.py): its fields, in order."""
    cols = []
    for name, f in Decision.model_fields.items():
        rule = stored(name)
        dtype = UTC_DT if rule.utc else DTYPES[name]
        cols.append(Column(name, dtype, required=rule.required, check=rule.check, doc=f.description or ""))
    return tuple(cols)


DECISIONS = Table(
    "DECISIONS",
    _decision_columns(),
    doc="one row per live autoscaling decision (the hook's record, replayable)",
)

TABLES: dict[str, Table] = {t.name: t for t in (JOBS, NODES, REQUESTS, GPU_SAMPLES, SERIES, DECISIONS)}


def table(name: str) -> Table:
    """Look a table up by name (case-insensitive)."""
    try:
        return TABLES[name.upper()]
    except KeyError:
        raise SchemaError(name, "*", f"unknown table; valid: {', '.join(TABLES)}") from None


def _fail(tbl: Table, col: str, problem: str, idx: pl.DataFrame, mask: pl.Series, values: pl.Series) -> None:
    rows = idx.filter(mask)["__row"].head(MAX_SHOWN).to_list()
    vals = values.filter(mask).head(MAX_SHOWN).to_list()
    n = int(mask.sum())
    raise SchemaError(tbl.name, col, f"{n} row(s) {problem}", rows, vals)


def _cast(tbl: Table, c: Column, s: pl.Series, idx: pl.DataFrame) -> pl.Series:
    """Cast `s` to the column's dtype, refusing casts that would change or lose values."""
    src = s.dtype
    if src == c.dtype:
        return s
    if src == pl.Null:
        return pl.Series(s.name, [None] * len(s), dtype=c.dtype)
    if c.dtype == UTC_DT:
        if isinstance(src, pl.Datetime):
            out = s.dt.replace_time_zone("UTC") if src.time_zone is None else s.dt.convert_time_zone("UTC")
            return out.dt.cast_time_unit("us")
        if src == pl.Date:
            return s.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        if src == pl.Utf8:
            out = s.str.to_datetime(time_unit="us", strict=False)
            bad = s.is_not_null() & out.is_null()
            if bad.any():
                _fail(tbl, c.name, "are not datetimes", idx, bad, s)
            tz = out.dtype.time_zone if isinstance(out.dtype, pl.Datetime) else None
            return out.dt.replace_time_zone("UTC") if tz is None else out.dt.convert_time_zone("UTC")
        raise SchemaError(tbl.name, c.name, f"has dtype {src}, expected a UTC datetime (numbers are ambiguous)")
    if c.dtype == pl.Utf8:
        if src.is_numeric() or src in (pl.Boolean, pl.Categorical, pl.Enum) or isinstance(src, pl.Categorical):
            return s.cast(pl.Utf8)
        raise SchemaError(tbl.name, c.name, f"has dtype {src}, expected text")
    # numeric targets
    if not (src.is_numeric() or src == pl.Utf8 or src == pl.Boolean):
        raise SchemaError(tbl.name, c.name, f"has dtype {src}, expected {c.dtype}")
    as_float = (
        s.cast(pl.Float64, strict=False) if src != pl.Utf8 else s.str.strip_chars().cast(pl.Float64, strict=False)
    )
    bad = s.is_not_null() & as_float.is_null()
    if bad.any():
        _fail(tbl, c.name, f"cannot be read as {c.dtype}", idx, bad, s)
    if c.dtype == pl.Float64:
        return as_float
    # integer target: only whole, finite values convert safely
    fin = as_float.is_finite().fill_null(True)
    whole = (as_float.floor() == as_float).fill_null(True)
    bad = ~(fin & whole)
    if bad.any():
        _fail(tbl, c.name, "are not whole numbers", idx, bad, s)
    return as_float.cast(c.dtype)


def validate(frame: pl.DataFrame, tbl: Table | str) -> pl.DataFrame:
    """Check `frame` against a canonical table and return it cast, canonical columns first.

    Raises SchemaError naming the table, the column and up to five offending rows for: a missing
    required column, a dtype that cannot be cast without changing values, nulls in a required column,
    negative or non-finite times/durations/sizes, utilization outside 0..1, an unknown `kind`, and
    duplicate ids. Missing optional columns are added as nulls; extra columns are kept after them.
    """
    tbl = table(tbl) if isinstance(tbl, str) else tbl
    if not isinstance(frame, pl.DataFrame):
        raise SchemaError(tbl.name, "*", f"expected a polars DataFrame, got {type(frame).__name__}")
    idx = pl.DataFrame({"__row": pl.int_range(0, frame.height, eager=True)})
    out: list[pl.Series] = []
    for c in tbl.columns:
        if c.name not in frame.columns:
            if c.required:
                raise SchemaError(tbl.name, c.name, f"missing required column (frame has: {', '.join(frame.columns)})")
            out.append(pl.Series(c.name, [None] * frame.height, dtype=c.dtype))
            continue
        s = _cast(tbl, c, frame.get_column(c.name), idx)
        nulls = s.is_null()
        if c.required and nulls.any():
            _fail(tbl, c.name, "are null in a required column", idx, nulls, s)
        _check_values(tbl, c, s, idx)
        if c.unique and s.is_duplicated().any():
            _fail(tbl, c.name, "repeat an id that must be unique", idx, s.is_duplicated(), s)
        out.append(s.alias(c.name))
    extras = [frame.get_column(n) for n in frame.columns if n not in tbl.by_name]
    return pl.DataFrame(out + extras)


def _check_values(tbl: Table, c: Column, s: pl.Series, idx: pl.DataFrame) -> None:
    if c.check is None:
        return
    if c.check == "choice":
        bad = ~s.is_in(list(c.choices)).fill_null(True)
        if bad.any():
            _fail(tbl, c.name, f"are not one of {', '.join(c.choices)}", idx, bad, s)
        return
    vals = s.cast(pl.Float64)
    nonfinite = (~vals.is_finite()).fill_null(False)
    if nonfinite.any():
        _fail(tbl, c.name, "are not finite", idx, nonfinite, s)
    if c.check == "nonneg":
        bad = (vals < 0).fill_null(False)
        if bad.any():
            _fail(tbl, c.name, "are negative", idx, bad, s)
    elif c.check == "util":
        bad = ((vals < 0) | (vals > 1)).fill_null(False)
        if bad.any():
            _fail(tbl, c.name, "are outside 0..1 (utilization is a fraction, not a percent)", idx, bad, s)


def conform_columns(names: Sequence[str], tbl: Table) -> list[str]:
    """Canonical columns of `tbl` that are missing from `names`."""
    return [n for n in tbl.names if n not in names]
