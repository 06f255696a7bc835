"""Comparing a run directory with its rerun, file by file, byte for byte.

Every file is compared except provenance.json and timing.json (how and when the run ran, not what it computed:
report/rundir.VOLATILE). A file that differs gets a reason a person can act on: the JSON/YAML keys whose
values differ, or for a table the first column whose values differ (or "same rows, other bytes" when only the
encoding changed, e.g. another Parquet writer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from gpufleet.report.rundir import VOLATILE


@dataclass
class Difference:
    """One file of the original run that its rerun did not reproduce."""

    file: str  # relative to the compared directory
    reason: str


def files_of(root: Path) -> list[str]:
    """Every compared file under `root`, relative, sorted (hidden files and provenance/timing left out)."""
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and p.name not in VOLATILE and not any(x.startswith(".") for x in rel.parts):
            found.append(rel.as_posix())
    return sorted(found)


def compare_trees(
    original: Path, rerun: Path, renamed: tuple[str, str] | None = None
) -> tuple[list[str], list[Difference]]:
    """(the files compared, those that differ) between a run directory and its rerun. `renamed` (the run's --out
    as recorded, the rerun's): a file that records its own output folder (the demo's config.yaml and report)
    is compared with the one folder name put for the other, and nothing else changed."""
    a, b = files_of(original), files_of(rerun)
    diffs = [Difference(f, "missing from the rerun") for f in a if f not in b]
    diffs += [Difference(f, "written by the rerun only") for f in b if f not in a]
    old, new = (renamed[0].encode(), renamed[1].encode()) if renamed and renamed[0] != renamed[1] else (b"", b"")
    for f in (f for f in a if f in b):
        x, y = (original / f).read_bytes(), (rerun / f).read_bytes()
        if old and x != y:
            x = x.replace(old, new)
        if x != y:
            diffs.append(Difference(f, _why(f, x, y)))
    return a, sorted(diffs, key=lambda d: d.file)


def _why(name: str, x: bytes, y: bytes) -> str:
    """What differs between two versions of a file, in a few words."""
    try:
        if name.endswith(".json"):
            return _keys(json.loads(x), json.loads(y))
        if name.endswith((".yaml", ".yml")):
            return _keys(yaml.safe_load(x), yaml.safe_load(y))
        if name.endswith(".parquet"):
            import io

            return _frames(pl.read_parquet(io.BytesIO(x)), pl.read_parquet(io.BytesIO(y)))
        if name.endswith(".csv"):
            import io

            return _frames(pl.read_csv(io.BytesIO(x)), pl.read_csv(io.BytesIO(y)))
    except (ValueError, yaml.YAMLError, pl.exceptions.PolarsError, OSError):
        pass
    return "bytes differ"


def _keys(x: Any, y: Any) -> str:
    if not isinstance(x, dict) or not isinstance(y, dict):
        return "values differ"
    keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
    if not keys:
        return "same values, other bytes (formatting)"
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return f"values differ at {shown}"


def _frames(x: pl.DataFrame, y: pl.DataFrame) -> str:
    if x.columns != y.columns:
        return f"columns differ ({', '.join(x.columns)} vs {', '.join(y.columns)})"
    if x.height != y.height:
        return f"{x.height:,} rows vs {y.height:,}"
    for c in x.columns:
        a, b = x[c], y[c]
        same = (a == b) | (a.is_null() & b.is_null())
        if a.dtype.is_float():
            same = same | (a.is_nan() & b.is_nan())
        bad = (~same.fill_null(False)).arg_true()
        if bad.len():
            return f"column {c!r} differs in {bad.len():,} rows (first: row {bad[0]})"
    return "same rows, other bytes (the file's encoding)"
