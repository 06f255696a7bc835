"""`gpufleet traces ...`: list, show, convert and compare datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    SkipOpt,
    _load,
    _root_opt,
    check_out_file,
    emit_json,
    handles_errors,
    out,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

traces_app = typer.Typer(help="List, inspect, convert and compare datasets.", no_args_is_help=True)


@traces_app.command("list")
@handles_errors
def traces_list(as_json: JsonOpt = False) -> None:
    """List every dataset, its parts and whether its folder is present."""
    from gpufleet.report.console import datasets_table
    from gpufleet.traces import DATASETS, resolve_data_dir

    root_dir = resolve_data_dir(_root_opt("data_dir"), must_exist=False)
    rows = []
    for name, ds in DATASETS.items():
        if ds.folder is None:
            found = "built in"
        elif root_dir is None:
            found = "no data dir"
        else:
            found = "yes" if (root_dir / ds.folder).is_dir() else "missing"
        rows.append(
            {
                "name": name,
                "title": ds.title,
                "folder": ds.folder,
                "source": ds.source,
                "license": ds.license,
                "found": found,
                "default_part": ds.default_part,
                "parts": ds.part_names,
                "tables": sorted({p.table for p in ds.parts}),
            }
        )
    if as_json:
        emit_json({"data_dir": str(root_dir) if root_dir else None, "datasets": rows})
        return
    out.print(datasets_table(rows))
    if root_dir is None:
        out.print("[yellow]no data directory set: pass --data-dir or set GPUFLEET_DATA[/yellow]")


@traces_app.command("show")
@handles_errors
@reads_files
def traces_show(
    ref: Annotated[str, typer.Argument(help="NAME[:PART], e.g. itp:cluster04")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Read one dataset part and print its metadata and profile."""
    from gpufleet.report.console import meta_table, profile_table
    from gpufleet.traces.describe import profile

    tr = _load(ref, skip_bad_rows, param)
    prof = profile(tr.frame, tr.meta.table)
    if as_json:
        emit_json({"meta": tr.meta.to_dict(), "profile": prof})
        return
    out.print(meta_table(tr.meta.to_dict()))
    out.print(profile_table("profile", {tr.meta.ref: prof}))


@traces_app.command("convert")
@handles_errors
@reads_files
def traces_convert(
    ref: Annotated[str, typer.Argument(help="NAME[:PART]")],
    out_path: Annotated[Path, typer.Option("--out", help="Output .parquet (or .csv) file.")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Write one dataset part as a canonical Parquet (or CSV) file."""
    check_out_file(out_path, suffixes=(".parquet", ".csv"))
    tr = _load(ref, skip_bad_rows, param)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".csv":
        tr.frame.write_csv(out_path)
    else:
        tr.frame.write_parquet(out_path)
    result = {
        "ref": tr.meta.ref,
        "table": tr.meta.table,
        "rows": tr.meta.rows,
        "out": str(out_path),
        "skipped": tr.meta.skipped,
    }
    if as_json:
        emit_json(result)
        return
    skipped = sum(tr.meta.skipped.values())
    out.print(
        f"wrote {tr.meta.rows:,} {tr.meta.table} rows to {out_path}"
        + (f" ({skipped:,} rows skipped: {tr.meta.skipped})" if skipped else "")
    )


@traces_app.command("compare")
@handles_errors
@reads_files
def traces_compare(
    refs: Annotated[list[str], typer.Argument(help="Two or more references of the same table.")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Print the profiles of several datasets side by side (e.g. synthetic:jobs itp:cluster04)."""
    from gpufleet.report.console import profile_table
    from gpufleet.traces.describe import profile

    if len(refs) < 2:
        raise GpufleetError("compare needs at least two references")
    traces = [_load(r, skip_bad_rows, param if r.startswith("synthetic") else None) for r in refs]
    tables = {t.meta.table for t in traces}
    if len(tables) > 1:
        raise GpufleetError(
            f"cannot compare different tables: {', '.join(f'{t.meta.ref}={t.meta.table}' for t in traces)}"
        )
    profiles = {t.meta.ref: profile(t.frame, t.meta.table) for t in traces}
    if as_json:
        emit_json({"profiles": profiles})
        return
    out.print(profile_table(f"{tables.pop()}: " + " vs ".join(profiles), profiles))
