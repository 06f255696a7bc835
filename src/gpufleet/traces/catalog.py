"""References (`NAME[:PART]`), the data root, and loading a part into a validated canonical frame."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.core.datadir import HOW_TO_SET, find_data_dir
from gpufleet.core.errors import TraceError, UnknownReferenceError
from gpufleet.core.schemas import validate
from gpufleet.traces import (  # noqa: F401  (importing registers each dataset)
    azure_llm,
    genai,
    helios,
    itp,
    openb,
    pai,
    philly,
    servegen,
    spot,
    synthetic,
)
from gpufleet.traces.base import DATASETS, Dataset, OnBadRow, Part, ReadContext, Trace, TraceMeta, note_read


def resolve_data_dir(data_dir: str | Path | None = None, *, must_exist: bool = True) -> Path | None:
    """The data root (core.datadir.find_data_dir: --data-dir, $GPUFLEET_DATA, the checkout's shared/traces);
    None when none is found and it is not required."""
    p, source = find_data_dir(data_dir)
    if p is None:
        if must_exist:
            raise TraceError(f"no data directory: {HOW_TO_SET}")
        return None
    if must_exist and not p.is_dir():
        raise TraceError(f"data directory {p} does not exist (from {source})")
    return p


def parse_ref(ref: str) -> tuple[Dataset, Part]:
    """Split `NAME[:PART]` and look both up; unknown names list the valid choices."""
    name, _, part_name = ref.strip().partition(":")
    if name not in DATASETS:
        valid = ", ".join(DATASETS.names())
        raise UnknownReferenceError(f"unknown dataset {name!r} in reference {ref!r}; valid: {valid}")
    ds = DATASETS.get(name)
    part = ds.part(part_name or ds.default_part)
    if part is None:
        raise UnknownReferenceError(f"dataset {name!r} has no part {part_name!r}; valid: {', '.join(ds.part_names)}")
    return ds, part


def open_ref(ref: str, data_dir: str | Path | None = None) -> tuple[Dataset, Part, Path | None]:
    """Resolve a reference to its dataset, part and folder without reading anything."""
    ds, part = parse_ref(ref)
    if ds.folder is None:
        return ds, part, None
    root = resolve_data_dir(data_dir)
    assert root is not None
    folder = root / ds.folder
    if not folder.is_dir():
        raise TraceError(f"dataset {ds.name!r} not found: {folder} does not exist")
    return ds, part, folder


def expand_refs(text: str, data_dir: str | Path | None = None) -> list[str]:
    """`itp:*,philly:jobs` -> every reference it names: `NAME:*` is each part of NAME whose files are present
    (of the default part's table); other items pass through unchanged."""
    refs: list[str] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, _, part = item.partition(":")
        if part != "*":
            refs.append(item)
            continue
        ds, default, folder = open_ref(f"{name}:", data_dir)
        found = [f"{name}:{p.name}" for p in ds.parts if p.table == default.table and p.present(folder)]
        if not found:
            raise TraceError(f"{item}: no part of {name!r} has its files in {folder}")
        refs += found
    if not refs:
        raise TraceError(f"no trace reference in {text!r}")
    return list(dict.fromkeys(refs))


def load(
    ref: str,
    data_dir: str | Path | None = None,
    *,
    on_bad_row: OnBadRow = "raise",
    expect: str | None = None,
    **params: Any,
) -> Trace:
    """Read one part and return its validated canonical frame with metadata. A path reads a user's file
    (CSV, CSV.gz, Parquet, JSON Lines; the table is `expect` or the --map file's), `slurm:PATH` or a path
    to a sacct export reads Slurm accounting."""
    from gpufleet.traces.slurm import looks_like_sacct, read_sacct
    from gpufleet.traces.userfile import READ_NOTES, SCHEMA_MAP, TIME_UNIT, is_user_file, read_user_file

    if "/" in ref and Path(ref).is_dir():  # no NAME:PART has a slash: the user meant a path
        raise TraceError(f"{ref}: is a directory; give a CSV, CSV.gz, Parquet or JSON Lines file, or NAME[:PART]")
    if ref.startswith("slurm:") or (is_user_file(ref) and looks_like_sacct(Path(ref))):
        path = Path(ref.removeprefix("slurm:"))
        ctx = ReadContext(folder=path.parent, on_bad_row=on_bad_row, params=params)
        frame = validate(read_sacct(path, ctx), "JOBS")
        note_read(f"slurm:{path}", [path], ctx, frame.height)
        _tell(READ_NOTES.get(), path, ctx)
        return _trace(frame, ctx, f"slurm:{path}", "slurm", path.name, "JOBS", "submit_time", "Slurm sacct export")
    if is_user_file(ref):
        path = Path(ref)
        ctx = ReadContext(folder=path.parent, on_bad_row=on_bad_row, params=params)
        frame, tbl = read_user_file(path, expect, ctx, SCHEMA_MAP.get(), TIME_UNIT.get())
        note_read(str(path), [path], ctx, frame.height)
        _tell(READ_NOTES.get(), path, ctx)
        time_col = {"JOBS": "submit_time", "REQUESTS": "arrival_time", "GPU_SAMPLES": "ts", "SERIES": "ds"}.get(tbl)
        return _trace(frame, ctx, str(path), "file", path.name, tbl, time_col, "your file")
    ds, part, folder = open_ref(ref, data_dir)
    ctx = ReadContext(folder=folder, on_bad_row=on_bad_row, params=params)
    frame = part.read(ctx)
    frame = validate(frame, part.table)
    # the files of a dataset part, as it named them (an embedded generator reads none)
    note_read(f"{ds.name}:{part.name}", [folder / f for f in ctx.files] if folder else [], ctx, frame.height)
    return _trace(
        frame,
        ctx,
        f"{ds.name}:{part.name}",
        ds.name,
        part.name,
        part.table,
        part.time_column,
        ds.title,
        ds.source,
        ds.license,
    )


def _tell(sink: Callable[[str], None] | None, path: Path, ctx: ReadContext) -> None:
    """Hand what reading a user's file decided (its notes) to the command being run, one line each."""
    for note in ctx.notes if sink is not None else ():
        sink(f"{path.name}: {note}")


def _trace(
    frame: pl.DataFrame,
    ctx: ReadContext,
    ref: str,
    dataset: str,
    part_name: str,
    tbl: str,
    time_column: str | None,
    title: str,
    source: str = "user-provided",
    license: str = "yours",
) -> Trace:
    t0 = t1 = None
    if time_column and frame.height:
        col = frame.get_column(time_column)
        if col.dtype == pl.Float64:
            t0, t1 = float(col.min()), float(col.max())  # type: ignore[arg-type]
        else:
            t0, t1 = col.min().timestamp(), col.max().timestamp()  # type: ignore[union-attr]
    meta = TraceMeta(
        ref=ref,
        dataset=dataset,
        part=part_name,
        table=tbl,
        title=title,
        source=source,
        license=license,
        rows=frame.height,
        files=ctx.files,
        epoch=ctx.epoch,
        time_column=time_column,
        time_start_s=t0,
        time_end_s=t1,
        skipped=ctx.skipped,
        notes=ctx.notes,
    )
    return Trace(frame, meta)
