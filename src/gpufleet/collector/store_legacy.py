"""Upgrade a store written before the Delta layout (`<table>/source=S/day=D/part-N.parquet` plus
`_watermarks.json`) in place, crash-safely.

Each table's old parts become one Delta commit (atomic: all of them or none); only after that commit are
the old folders removed. A crash in between leaves both, and the next writer recognises the upgrade
commit and finishes the removal, so no row is ever counted twice. Leftover `.tmp-*` files of the old
layout's interrupted writes are not data; they are deleted and counted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from gpufleet.core.faults import crash_point

UPGRADE_KEY = "gpufleet.upgradedFrom"


def legacy_tables(root: Path) -> list[Path]:
    """Table folders that still hold old-layout `source=...` folders."""
    return sorted(p.parent for p in root.glob("*/source=*") if p.is_dir() and not p.parent.name.startswith("."))


def old_frame(table_dir: Path) -> tuple[pl.DataFrame | None, int]:
    """All old-layout rows of one table, with `_source` (and `_day` for appended tables), and how many
    leftover temporary files were found (not data)."""
    temps = [p for p in table_dir.rglob(".tmp-*") if p.is_file()]
    frames = []
    for src in sorted(table_dir.glob("source=*")):
        name = src.name.split("=", 1)[1]
        whole = src / f"{table_dir.name}.parquet"  # jobs, nodes: one upserted file per source
        if whole.exists():
            frames.append(pl.read_parquet(whole).with_columns(pl.lit(name).alias("_source")))
            continue
        for day in sorted(src.glob("day=*")):
            for part in sorted(day.glob("part-*.parquet")):
                frames.append(
                    pl.read_parquet(part).with_columns(
                        pl.lit(name).alias("_source"), pl.lit(day.name.split("=", 1)[1]).alias("_day")
                    )
                )
    if not frames:
        return None, len(temps)
    return pl.concat(frames, how="diagonal_relaxed"), len(temps)


def remove_old(table_dir: Path, root: Path) -> None:
    """Delete the old-layout folders of a table whose rows are committed, then the old watermarks file."""
    for src in table_dir.glob("source=*"):
        crash_point("store.upgrade.remove-old")
        shutil.rmtree(src)
    if not legacy_tables(root):
        (root / "_watermarks.json").unlink(missing_ok=True)
