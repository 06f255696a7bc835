"""The DCGM exporter's metrics: name, unit and the canonical column each carries, in one table.

The Prometheus source reads them, the exporter serves them and the OpenMetrics writer (backfills, test
fixtures) writes them; all three take names, units and help from here, so they cannot drift apart.
`scale` turns one DCGM unit into the canonical unit (percent -> fraction, MiB -> bytes); the exporter
divides by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.core.units import MiB


@dataclass(frozen=True)
class DcgmField:
    """One DCGM exporter metric."""

    metric: str
    column: str  # GPU_SAMPLES column, or the reading's own name where it only helps derive one
    scale: float  # canonical units per DCGM unit
    help: str


FIELDS = (
    DcgmField("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "engine_active", 1.0, "Ratio of time the graphics engine is active."),
    DcgmField("DCGM_FI_DEV_GPU_UTIL", "util", 0.01, "GPU utilization (in %)."),
    DcgmField("DCGM_FI_DEV_FB_USED", "mem_used_bytes", MiB, "Framebuffer memory used (in MiB)."),
    DcgmField("DCGM_FI_DEV_FB_FREE", "mem_free_bytes", MiB, "Framebuffer memory free (in MiB)."),
    DcgmField("DCGM_FI_DEV_FB_RESERVED", "mem_reserved_bytes", MiB, "Framebuffer memory reserved (in MiB)."),
    DcgmField("DCGM_FI_DEV_POWER_USAGE", "power_w", 1.0, "Power draw (in W)."),
    DcgmField("DCGM_FI_DEV_GPU_TEMP", "temp_c", 1.0, "GPU temperature (in C)."),
    DcgmField("DCGM_FI_DEV_SM_CLOCK", "sm_clock_mhz", 1.0, "SM clock frequency (in MHz)."),
    DcgmField("DCGM_FI_DEV_MEM_CLOCK", "mem_clock_mhz", 1.0, "Memory clock frequency (in MHz)."),
    DcgmField("DCGM_FI_DEV_XID_ERRORS", "xid_errors", 1.0, "Value of the last XID error encountered."),
)
BY_METRIC = {f.metric: f for f in FIELDS}
BY_COLUMN = {f.column: f for f in FIELDS}


def fields(*metrics: str) -> tuple[DcgmField, ...]:
    """The named fields, in the order given (KeyError names an unknown one)."""
    return tuple(BY_METRIC[m] for m in metrics)
