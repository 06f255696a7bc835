"""The declared range of a forecast quantity: from the schema's column check or the dataset part's declaration.

GPU_SAMPLES columns carry their check in core/schemas (util: 0..1, nonneg: >= 0); REQUESTS become request
rates (>= 0); a SERIES part declares `lower`/`upper` and whether its frame has a per-series `capacity`
column. Nothing here looks at the values to be forecast: a range guessed from the data would leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.schemas import TABLES
from gpufleet.traces.base import Part

CHECK_RANGE: dict[str, tuple[float | None, float | None]] = {"util": (0.0, 1.0), "nonneg": (0.0, None)}


@dataclass(frozen=True)
class DeclaredRange:
    """lower <= y <= upper; capacity: per-series upper bounds; source says where each came from."""

    lower: float | None = None
    upper: float | None = None
    capacity: dict[str, float] = field(default_factory=dict)
    source: str = "none declared"


def _part(ref: str) -> Part | None:
    from gpufleet.traces.catalog import parse_ref

    if Path(ref).exists() or ref.startswith("slurm:"):
        return None  # a user's file or a store: no declaration beyond the schema
    try:
        return parse_ref(ref)[1]
    except GpufleetError:
        return None


def declared_range(ref: str, table: str, value: str = "util", frame: pl.DataFrame | None = None) -> DeclaredRange:
    """The range of `ref`'s forecast quantity; `frame` (the part as read) supplies a capacity column."""
    if table == "GPU_SAMPLES":
        col = next((c for c in TABLES["GPU_SAMPLES"].columns if c.name == value), None)
        lo, hi = CHECK_RANGE.get(col.check or "", (None, None)) if col else (None, None)
        return DeclaredRange(lo, hi, source=f"GPU_SAMPLES.{value} check {col.check if col else None}")
    if table == "REQUESTS":
        return DeclaredRange(0.0, None, source="request rate")
    part = _part(ref)
    if part is None:
        return DeclaredRange()
    cap: dict[str, float] = {}
    if part.capacity and frame is not None and "capacity" in frame.columns:
        g = frame.group_by("unique_id").agg(pl.col("capacity").max())
        cap = {k: float(v) for k, v in g.iter_rows() if v is not None}
    src = f"{ref} declares [{part.lower}, {part.upper}]" + (" and a capacity per series" if cap else "")
    return DeclaredRange(part.lower, part.upper, cap, src)
