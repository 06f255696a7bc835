"""MIG profiles as data: what slice of a GPU each profile gives (NVIDIA's MIG user guide).

A profile `Ng.Mgb` has N of the GPU's 7 compute slices and M GB of its memory. Right-sizing picks the
smallest profile whose compute share and memory both cover a workload's need.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 10**9  # MIG profile names count decimal-ish GB; the memory limit used is the named size


@dataclass(frozen=True)
class MigProfile:
    """One MIG profile of one GPU model."""

    name: str
    slices: int  # compute slices out of 7
    mem_bytes: int

    @property
    def compute_share(self) -> float:
        """Share of the whole GPU's compute."""
        return self.slices / 7

    def gpu_share(self, gpu_mem_bytes: int) -> float:
        """Share of the GPU this profile takes up (the larger of its compute and memory shares)."""
        return max(self.compute_share, self.mem_bytes / gpu_mem_bytes)


def _profiles(spec: list[tuple[str, int, int]]) -> tuple[MigProfile, ...]:
    return tuple(MigProfile(n, s, gb * GB) for n, s, gb in spec)


_A100_80 = [("1g.10gb", 1, 10), ("2g.20gb", 2, 20), ("3g.40gb", 3, 40), ("4g.40gb", 4, 40), ("7g.80gb", 7, 80)]
MIG_PROFILES: dict[str, tuple[MigProfile, ...]] = {
    "A100-40GB": _profiles(
        [("1g.5gb", 1, 5), ("2g.10gb", 2, 10), ("3g.20gb", 3, 20), ("4g.20gb", 4, 20), ("7g.40gb", 7, 40)]
    ),
    "A100-80GB": _profiles(_A100_80),
    "H100-80GB": _profiles([("1g.10gb", 1, 10), ("1g.20gb", 1, 20), *_A100_80[1:]]),
}
GPU_MEM = {"A100-40GB": 40 * GB, "A100-80GB": 80 * GB, "H100-80GB": 80 * GB}
# Names that telemetry uses for the same models (DCGM modelName, openb/ITP types)
ALIASES = {
    "A100": "A100-80GB",
    "A100-SXM4-40GB": "A100-40GB",
    "A100-PCIE-40GB": "A100-40GB",
    "A100-SXM4-80GB": "A100-80GB",
    "A100-PCIE-80GB": "A100-80GB",
    "A800-SXM4-80GB": "A100-80GB",
    "H100": "H100-80GB",
    "H100-SXM5-80GB": "H100-80GB",
    "H100-PCIE-80GB": "H100-80GB",
    "H800": "H100-80GB",
}


def mig_model(name: str | None) -> str | None:
    """The MIG-capable model a GPU name refers to, or None when it has no MIG profiles."""
    if not name:
        return None
    key = name.upper()
    for m in MIG_PROFILES:
        if m.upper() == key:
            return m
    return ALIASES.get(key)


def smallest_profile(model: str, compute: float, mem_bytes: float) -> MigProfile | None:
    """The smallest profile (by share of the GPU it takes) covering `compute` (GPU share) and `mem_bytes`;
    None when only the whole GPU does."""
    gpu_mem = GPU_MEM[model]
    fits = [p for p in MIG_PROFILES[model] if p.compute_share >= compute - 1e-9 and p.mem_bytes >= mem_bytes]
    fits = [p for p in fits if p.slices < 7]
    return min(fits, key=lambda p: (p.gpu_share(gpu_mem), p.slices), default=None)
