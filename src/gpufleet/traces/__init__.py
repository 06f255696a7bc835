"""Trace readers: one per dataset folder plus the synthetic generator, each returning canonical frames."""

from gpufleet.traces.base import DATASETS, Dataset, Part, Trace, TraceMeta
from gpufleet.traces.catalog import expand_refs, load, open_ref, parse_ref, resolve_data_dir

__all__ = [
    "DATASETS",
    "Dataset",
    "Part",
    "Trace",
    "TraceMeta",
    "expand_refs",
    "load",
    "open_ref",
    "parse_ref",
    "resolve_data_dir",
]
