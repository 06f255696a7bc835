"""Clusters for the simulator: a spec string such as `64x8:A100,32x8:V100`, or a canonical NODES frame."""

from __future__ import annotations

import re

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.gpus import MAX_GPUS_PER_NODE, MAX_NODES, gpu_spec, known_gpu_models
from gpufleet.optimizer.packing.view import view_from_nodes  # noqa: F401  (re-exported for the simulator)

SPEC_PART = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*(?::\s*([A-Za-z0-9_.\-]+))?\s*$")


def is_spec(text: str) -> bool:
    """Whether `text` looks like a cluster spec rather than a dataset reference."""
    return all(SPEC_PART.match(p) for p in text.split(","))


def parse_spec(text: str, *, known_types: bool = True) -> pl.DataFrame:
    """`COUNTxGPUS[:TYPE],...` to a NODES frame (CPUs and memory unknown, i.e. not constrained). A TYPE must be
    a known GPU model (gpufleet.core.gpus) unless `known_types` is False (abstract types in tests: A, B)."""
    rows: list[dict[str, object]] = []
    for part in text.split(","):
        m = SPEC_PART.match(part)
        if not m:
            raise GpufleetError(
                f"cluster spec {text!r}: cannot read {part!r}; expected COUNTxGPUS[:TYPE], e.g. 64x8:A100"
            )
        count, gpus, gtype = int(m[1]), int(m[2]), m[3] or "GPU"
        if count <= 0:
            raise GpufleetError(f"cluster spec {text!r}: {part!r} has no nodes")
        if not 1 <= gpus <= MAX_GPUS_PER_NODE:
            raise GpufleetError(
                f"cluster spec {text!r}: {part!r} has {gpus} GPUs per node; give 1 to {MAX_GPUS_PER_NODE}"
            )
        if len(rows) + count > MAX_NODES:
            raise GpufleetError(
                f"cluster spec {text!r}: {len(rows) + count:,} nodes in all; at most {MAX_NODES:,} are simulated"
            )
        if m[3] is not None and known_types:
            spec = gpu_spec(gtype)
            if not spec.known:
                raise GpufleetError(
                    f"cluster spec {text!r}: unknown GPU type {gtype!r} in {part!r}; known:"
                    f" {', '.join(known_gpu_models())} (or leave the type out: 64x8)"
                )
            gtype = spec.name
        pool = f"{gtype}x{gpus}"
        for _ in range(count):
            rows.append(
                {
                    # the number leads: id order (placers' tie-break, packing/view.py) is the spec's order
                    "node_id": f"n{len(rows):05d}-{pool}",
                    "pool": pool,
                    "gpu_type": gtype,
                    "num_gpus": gpus,
                    "gpu_mem_bytes": gpu_spec(gtype).mem_bytes,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "node_id": pl.Utf8,
            "pool": pl.Utf8,
            "gpu_type": pl.Utf8,
            "num_gpus": pl.Int64,
            "gpu_mem_bytes": pl.Int64,
        },
    )
