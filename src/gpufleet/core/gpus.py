"""Known GPU models: memory per GPU and a relative training speed (V100 = 1.0) for the simulator's speed factor.

Speeds are rough, public mixed-precision training ratios (MLPerf-era); they are defaults, overridable per run.
Unknown or undisclosed types (G1/G2/G3, GPU-series-1/2, MISC) have no memory and speed 1.0 and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.core.units import GiB

# Bounds on a described cluster (a spec such as 64x8:A100, a node pool): a typo trips them long before memory
# does (100000000x8 once asked for 36 GiB of node rows). The largest training clusters built so far hold
# ~100,000 GPUs, i.e. ~12,500 nodes of 8; no server puts more than 72 GPUs in one scheduling domain (NVL72).
MAX_NODES = 100_000
MAX_GPUS_PER_NODE = 128


@dataclass(frozen=True)
class GpuSpec:
    """Static facts about one GPU model."""

    name: str
    mem_bytes: int | None
    speed: float
    known: bool = True


_SPECS: dict[str, GpuSpec] = {
    s.name.upper(): s
    for s in [
        GpuSpec("K80", 12 * GiB, 0.2),
        GpuSpec("M60", 8 * GiB, 0.2),
        GpuSpec("P100", 16 * GiB, 0.5),
        GpuSpec("T4", 16 * GiB, 0.35),
        GpuSpec("V100", 16 * GiB, 1.0),
        GpuSpec("V100M16", 16 * GiB, 1.0),
        GpuSpec("V100M32", 32 * GiB, 1.0),
        GpuSpec("A10", 24 * GiB, 0.8),
        GpuSpec("A100", 80 * GiB, 2.5),
        GpuSpec("A100-SXM4-80GB", 80 * GiB, 2.5),
        GpuSpec("A800-SXM4-80GB", 80 * GiB, 2.5),
        GpuSpec("H100", 80 * GiB, 5.0),
        GpuSpec("H800", 80 * GiB, 5.0),
        GpuSpec("H200", 141 * GiB, 6.0),
    ]
}


def gpu_spec(name: str | None) -> GpuSpec:
    """Spec for a GPU model name (case-insensitive); unknown names get an honest 'unknown' spec."""
    if not name:
        return GpuSpec("unknown", None, 1.0, known=False)
    return _SPECS.get(name.upper(), GpuSpec(name, None, 1.0, known=False))


def known_gpu_models() -> list[str]:
    """Names of the models with known specs."""
    return [s.name for s in _SPECS.values()]
