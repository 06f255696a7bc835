"""Units inside gpufleet: seconds, bytes, GPUs as a float count, utilization 0..1. Convert only at the edges."""

from __future__ import annotations

KiB = 1024
MiB = 1024**2
GiB = 1024**3
GB = 1000**3

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

MILLI = 1000  # gpu_milli / cpu_milli: 1000 = one whole GPU or core


def mib_to_bytes(mib: float) -> int:
    """MiB to bytes."""
    return round(mib * MiB)


def milli_to_units(milli: float) -> float:
    """Millicores / milli-GPUs to a float count (1000 -> 1.0)."""
    return milli / MILLI


def percent_to_fraction(pct: float) -> float:
    """0..100 to 0..1."""
    return pct / 100.0


def human_seconds(s: float | None) -> str:
    """A short human form of a duration in seconds (45s, 12.5m, 3.2h, 4.1d)."""
    if s is None or s != s:  # None or NaN: no value
        return "-"
    a = abs(s)
    if a < 120:
        return f"{s:.0f}s"
    if a < 2 * HOUR:
        return f"{s / MINUTE:.1f}m"
    if a < 2 * DAY:
        return f"{s / HOUR:.1f}h"
    return f"{s / DAY:.1f}d"
