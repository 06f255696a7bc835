"""The `--map` language: how a user's file in a foreign schema becomes a canonical table (docs/data.md).

```yaml
JOBS:                                   # one section per table; each is applied only to files read as it
  columns: {job_id: instance_sn, submit_time: creation_time, num_gpus: gpu_request, pool: pool}
  computed:                             # a canonical column made from several file columns
    duration: {diff: [deletion_time, creation_time]}     # A - B (numbers, or dates: seconds between)
  fill: {num_gpus: 0}                   # the value of an empty cell, before units apply
  units: {mem_bytes: GiB, submit_time: s}
  timestamps: {submit_time: {format: "%Y-%m-%d %H:%M:%S"}}
  constants: {kind: serve}
NODES:
  columns: {node_id: sn, num_gpus: gpu_num}
```
A file with one table's map may instead say `table: JOBS` at the top (then files of other tables are read
unmapped), or leave `table:` out (then it is applied to every file the command reads, each key checked against
that file's table). Where the command does not say which table a file is (`traces show FILE`), the section
whose columns the file has is used. Every key and value is checked before any value is converted: an unknown
table, section, column, operation or unit, a unit of the wrong kind (`ms` for memory), a fill value of the
wrong type. Each failure is one line naming the map file, the section and the field.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gpufleet.core.config import read_user_text, validate_model
from gpufleet.core.errors import GpufleetError, brief
from gpufleet.core.schemas import TABLES, Table
from gpufleet.traces.timeunits import TIME_UNITS, is_time_column

TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0, "d": 86400.0}
BYTES = {
    "bytes": 1.0, "B": 1.0, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
    "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}  # fmt: skip
SCALE = {"%": 0.01, "percent": 0.01, "fraction": 1.0, "milli": 1e-3}
UNITS: dict[str, float] = {**TIME, **BYTES, **SCALE}
assert set(TIME_UNITS) <= set(TIME)


def unit_kind(tbl: Table, col: str) -> tuple[str, dict[str, float]] | None:
    """Which units a canonical column takes (time, bytes or a scale such as % or milli); None: none (text)."""
    column = tbl.by_name[col]
    if is_time_column(tbl.name, col) or isinstance(column.dtype, pl.Datetime):
        return "a time unit", TIME
    if col.endswith("_bytes"):
        return "a size unit", BYTES
    if column.dtype in (pl.Float64, pl.Int64):
        return "a scale (%, fraction, milli)", SCALE
    return None


class TimeFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str | None = Field(None, description="strftime format; default: ISO 8601")
    epoch: str | None = Field(None, description="time zero for seconds-since columns; default: the earliest")

    @field_validator("epoch")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z") from None
        return v


class Computed(BaseModel):
    """A canonical column made from file columns: exactly one of `diff`, `sum`, `first`."""

    model_config = ConfigDict(extra="forbid")
    diff: list[str] | None = Field(None, description="[A, B]: A - B (numbers; or dates: the seconds between)")
    sum: list[str] | None = Field(None, description="[A, B, ...]: their sum (an empty cell counts as 0)")
    first: list[str] | None = Field(None, description="[A, B, ...]: the first of them that is not empty")
    format: str | None = Field(None, description="strftime format of `diff` operands that are dates")

    @model_validator(mode="after")
    def _one_op(self) -> Computed:
        ops = [k for k in ("diff", "sum", "first") if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError("give exactly one of diff: [A, B], sum: [A, B, ...], first: [A, B, ...]")
        args = self.operands
        if ops[0] == "diff" and len(args) != 2:
            raise ValueError(f"diff takes two columns [A, B] (A - B), got {len(args)}")
        if len(args) < 2 and ops[0] != "diff":
            raise ValueError(f"{ops[0]} takes two or more columns")
        if self.format is not None and ops[0] != "diff":
            raise ValueError("format applies to diff (of two date columns) only")
        return self

    @property
    def op(self) -> str:
        """The operation's name."""
        return next(k for k in ("diff", "sum", "first") if getattr(self, k) is not None)

    @property
    def operands(self) -> list[str]:
        """The file columns it reads."""
        return list(getattr(self, self.op))

    def label(self) -> str:
        """How messages name it: `diff(deleted, created)`."""
        return f"{self.op}({', '.join(self.operands)})"


class SchemaMap(BaseModel):
    """One table's map (docs/data.md)."""

    model_config = ConfigDict(extra="forbid")
    table: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical column: column in the file")
    computed: dict[str, Computed] = Field(default_factory=dict, description="canonical column: an operation")
    fill: dict[str, str | int | float] = Field(default_factory=dict, description="canonical column: empty-cell value")
    units: dict[str, str] = Field(default_factory=dict)
    timestamps: dict[str, TimeFormat] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)

    @field_validator("table")
    @classmethod
    def _known_table(cls, v: str | None) -> str | None:
        if v is not None and v.upper() not in TABLES:
            raise ValueError(f"unknown table {v!r}; valid: {', '.join(TABLES)}")
        return v.upper() if v else v

    @field_validator("units")
    @classmethod
    def _known_units(cls, v: dict[str, str]) -> dict[str, str]:
        for col, unit in v.items():
            if unit not in UNITS:
                raise ValueError(f"{col}: unknown unit {unit!r}; valid: {', '.join(UNITS)}")
        return v

    def reads(self) -> list[str]:
        """The file columns this map names (mapped and computed from)."""
        return [*self.columns.values(), *(c for expr in self.computed.values() for c in expr.operands)]

    def check_against(self, tbl: Table, where: str) -> None:
        """Every key names a column of `tbl` (a typo must not be silently ignored), each column is made one way,
        every unit is of the column's kind and every fill value of its type."""
        for section in ("columns", "computed", "fill", "units", "timestamps", "constants"):
            for key in getattr(self, section):
                if key not in tbl.by_name:
                    hint = "" if self.table else " (a map for one table says `table: JOBS`, or use sections JOBS:, ...)"
                    raise GpufleetError(
                        f"{where}: {section}.{key}: {tbl.name} has no column {key!r}"
                        f" (its columns: {', '.join(tbl.by_name)}){hint}"
                    )
        for key in self.computed:
            other = [s for s in ("columns", "constants", "timestamps") if key in getattr(self, s)]
            if other:
                raise GpufleetError(f"{where}: computed.{key}: {tbl.name}.{key} is also given in {other[0]}:")
        for key in self.constants:
            if key in self.columns or key in self.fill:
                raise GpufleetError(
                    f"{where}: constants.{key}: {tbl.name}.{key} is also given in"
                    f" {'columns' if key in self.columns else 'fill'}:"
                )
        for key, unit in self.units.items():
            kind = unit_kind(tbl, key)
            if kind is None:
                raise GpufleetError(f"{where}: units.{key}: {tbl.name}.{key} is text; it takes no unit")
            if unit not in kind[1]:
                raise GpufleetError(
                    f"{where}: units.{key}: {unit!r} is not {kind[0]} ({', '.join(kind[1])}) for {tbl.name}.{key}"
                )
        for key, value in self.fill.items():
            dtype = tbl.by_name[key].dtype
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if dtype in (pl.Float64, pl.Int64) and not number:
                raise GpufleetError(f"{where}: fill.{key}: {value!r} is not a number ({tbl.name}.{key} holds numbers)")
            if dtype == pl.String and not isinstance(value, str):
                raise GpufleetError(f"{where}: fill.{key}: {value!r} is not text ({tbl.name}.{key} holds text)")


class MapSections(BaseModel):
    """A map file with one section per table."""

    model_config = ConfigDict(extra="forbid")
    JOBS: SchemaMap | None = None
    NODES: SchemaMap | None = None
    REQUESTS: SchemaMap | None = None
    GPU_SAMPLES: SchemaMap | None = None
    SERIES: SchemaMap | None = None


def map_sections(path: Path) -> dict[str | None, SchemaMap]:
    """Every table's map in the --map file, by table (a one-table map without `table:` under None)."""
    import yaml

    text = read_user_text(path, "--map")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise GpufleetError(f"--map {path}: not valid YAML ({brief(e)})") from None
    if isinstance(raw, dict) and any(k in TABLES for k in raw):  # one section per table
        sections = validate_model(raw, MapSections, f"--map {path}")
        given = {k: v for k in MapSections.model_fields if (v := getattr(sections, k)) is not None}
        for name, sm in given.items():
            if sm.table is not None and sm.table != name:
                raise GpufleetError(f"--map {path}: {name}.table: {sm.table} in the {name} section")
        return {name: sm.model_copy(update={"table": name}) for name, sm in given.items()}
    sm = validate_model(raw, SchemaMap, f"--map {path}")
    return {sm.table: sm}


def load_map(path: Path, tbl: str | None, file_columns: list[str] | None = None) -> SchemaMap | None:
    """The --map file's mapping for files of table `tbl`: its section, or the one-table map when that is for
    `tbl` (or names no table); None when the file maps other tables only (read such a file unmapped). With
    `tbl` None (the command does not know the table): the map's only table, or the one section whose columns
    (and computed operands) are all among `file_columns`."""
    given = map_sections(path)
    if tbl is not None:
        if None in given:
            return given[None]
        return given.get(tbl.upper())
    if len(given) == 1:
        return next(iter(given.values()))
    fits = [sm for sm in given.values() if file_columns is not None and set(sm.reads()) <= set(file_columns)]
    if len(fits) != 1:
        raise GpufleetError(
            f"--map {path}: say which table the file holds (its sections: {', '.join(map(str, given))};"
            f" {'none' if not fits else 'more than one'} of them maps only columns the file has)"
        )
    return fits[0]


def where_of(mapping: Path, sm: SchemaMap) -> str:
    """How messages name the map: `--map FILE (JOBS)`."""
    return f"--map {mapping}" + (f" ({sm.table})" if sm.table else "")
