"""NVML source (nvidia-ml-py, imported as `pynvml`): this machine's GPUs, sampled at an interval.

Per GPU: utilization, framebuffer used/total, power, temperature, SM and memory clocks, running compute
processes, the last XID error; per MIG instance (when MIG is on): its own row with its UUID, profile
(`3g.40gb`) and memory — NVML has no per-instance utilization, so `util` stays empty there (the DCGM
exporter's DCGM_FI_PROF_GR_ENGINE_ACTIVE is the source for that). A reading the driver does not support on
this GPU (NOT_SUPPORTED, e.g. power on some boards) is left empty and counted, never fatal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from gpufleet.collector.prometheus import SERIES_KEYS
from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError
from gpufleet.core.schemas import GPU_SAMPLES, validate


class NvmlUnavailable(GpufleetError):
    """No NVML library or no NVIDIA driver here."""

    exit_code = 3


def node_name() -> str:
    """The node these GPUs are on: $NODE_NAME where a pod is told its node (the exporter DaemonSet sets it from
    spec.nodeName, as dcgm-exporter's Hostname label does), else this machine's hostname (a pod's would be its
    own name, which joins nothing)."""
    import socket

    return os.environ.get("NODE_NAME") or socket.gethostname()


def open_nvml() -> Any:
    """The initialised `pynvml` module, or NvmlUnavailable with one clear line."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as e:  # no library, no driver, no device: pynvml raises several kinds
        raise NvmlUnavailable(f"NVML is not available on this machine ({type(e).__name__})") from None
    return pynvml


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class NvmlProvider:
    """The GPUs of this machine through NVML. `nvml` is the initialised pynvml module (tests may hand in a
    stand-in with the same functions; without one, NVML is opened here)."""

    def __init__(self, hostname: str, nvml: Any = None) -> None:
        self.nvml = nvml if nvml is not None else open_nvml()
        self.hostname = hostname
        self.unsupported: dict[str, int] = {}  # reading -> times the driver said NOT_SUPPORTED
        self._events: Any = None
        self._xid: dict[int, int] = {}  # GPU index -> last XID code seen

    def _read(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """One NVML call; None (counted) when this GPU does not support the reading."""
        try:
            return call(*args)
        except self.nvml.NVMLError as e:
            key = f"{what}: {e}"
            self.unsupported[key] = self.unsupported.get(key, 0) + 1
            return None

    def _poll_xid(self, count: int) -> None:
        """Drain XID events registered on every GPU (best effort: not every driver lets us register)."""
        n = self.nvml
        if self._events is None:
            self._events = self._read("xid events", n.nvmlEventSetCreate) or False
            if self._events:
                for i in range(count):
                    h = n.nvmlDeviceGetHandleByIndex(i)
                    self._read(
                        "xid events",
                        n.nvmlDeviceRegisterEvents,
                        h,
                        n.nvmlEventTypeXidCriticalError,
                        self._events,
                    )
        if not self._events:
            return
        while True:
            try:
                ev = n.nvmlEventSetWait(self._events, 0)
            except n.NVMLError:  # NVML_ERROR_TIMEOUT: no event waiting
                return
            for i in range(count):
                if n.nvmlDeviceGetHandleByIndex(i) == ev.device:
                    self._xid[i] = int(ev.eventData)

    def current(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(labels, readings) per GPU, then per MIG instance; readings use GPU_SAMPLES column names."""
        n = self.nvml
        count = n.nvmlDeviceGetCount()
        self._poll_xid(count)
        for i in range(count):
            h = n.nvmlDeviceGetHandleByIndex(i)
            labels = {
                "node": self.hostname,
                "gpu_uuid": _text(n.nvmlDeviceGetUUID(h)),
                "gpu_index": i,
                "gpu_model": _text(n.nvmlDeviceGetName(h)),
                "mig_profile": None,
            }
            util = self._read("utilization", n.nvmlDeviceGetUtilizationRates, h)
            mem = self._read("memory", n.nvmlDeviceGetMemoryInfo, h)
            power = self._read("power", n.nvmlDeviceGetPowerUsage, h)
            procs = self._read("processes", n.nvmlDeviceGetComputeRunningProcesses, h)
            yield (
                labels,
                {
                    "util": util.gpu / 100.0 if util is not None else None,
                    "mem_used_bytes": int(mem.used) if mem is not None else None,
                    "mem_total_bytes": int(mem.total) if mem is not None else None,
                    "mem_free_bytes": int(mem.free) if mem is not None else None,
                    "power_w": power / 1000.0 if power is not None else None,
                    "temp_c": self._read("temperature", n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
                    "sm_clock_mhz": self._read("sm clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
                    "mem_clock_mhz": self._read("mem clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
                    "processes": len(procs) if procs is not None else None,
                    "xid_errors": self._xid.get(i, 0),
                },
            )
            yield from self._mig(h, i, labels)

    def _mig(self, h: Any, index: int, parent: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        n = self.nvml
        mode = self._read("mig mode", n.nvmlDeviceGetMigMode, h)
        if not mode or mode[0] != n.NVML_DEVICE_MIG_ENABLE:
            return
        for k in range(n.nvmlDeviceGetMaxMigDeviceCount(h)):
            try:
                mh = n.nvmlDeviceGetMigDeviceHandleByIndex(h, k)
            except n.NVMLError:  # NOT_FOUND: no instance in this slot
                continue
            attrs = self._read("mig attributes", n.nvmlDeviceGetAttributes, mh)
            mem = self._read("mig memory", n.nvmlDeviceGetMemoryInfo, mh)
            profile = (
                f"{attrs.gpuInstanceSliceCount}g.{round(attrs.memorySizeMB / 1024)}gb" if attrs is not None else "mig"
            )
            yield (
                {**parent, "gpu_uuid": _text(n.nvmlDeviceGetUUID(mh)), "gpu_index": index, "mig_profile": profile},
                {
                    "util": None,
                    "mem_used_bytes": int(mem.used) if mem is not None else None,
                    "mem_total_bytes": int(mem.total) if mem is not None else None,
                    "mem_free_bytes": int(mem.free) if mem is not None else None,
                },
            )


def samples_now(provider: Any, ts: datetime, source: str = "nvml") -> pl.DataFrame:
    """One GPU_SAMPLES row per GPU (and MIG instance) the provider reads now."""
    cols = ("util", "mem_used_bytes", "mem_total_bytes", "power_w", "temp_c", "sm_clock_mhz", "xid_errors")
    rows = [{**labels, **{c: row.get(c) for c in cols}} for labels, row in provider.current()]
    if not rows:
        return GPU_SAMPLES.empty()
    f = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.lit(ts).cast(pl.Datetime("us", "UTC")).alias("ts"), pl.lit(source).alias("source")
    )
    return validate(f, "GPU_SAMPLES")


@dataclass
class NvmlStats:
    samples: int = 0
    rows_written: int = 0
    unsupported: dict[str, int] = field(default_factory=dict)


def collect_nvml(
    provider: Any,
    store: Store,
    interval_s: float,
    duration_s: float,
    *,
    flush_s: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> NvmlStats:
    """Sample every `interval_s` for `duration_s`, writing to the store at least every `flush_s` (a crash
    loses at most that much), and once more at the end."""
    stats = NvmlStats()
    pending: list[pl.DataFrame] = []
    start = last_flush = clock()
    tick = 0

    def flush() -> None:
        if pending:
            stats.rows_written += store.append(
                "GPU_SAMPLES", "nvml", pl.concat(pending, how="diagonal_relaxed"), SERIES_KEYS
            )
            pending.clear()

    try:
        while True:
            pending.append(samples_now(provider, now()))
            stats.samples += 1
            tick += 1
            if clock() - last_flush >= flush_s:
                flush()
                last_flush = clock()
            wake = start + tick * interval_s  # on a fixed grid: slow reads do not drift the schedule
            if wake - start > duration_s:
                break
            sleep(max(0.0, wake - clock()))
    finally:
        flush()
        stats.unsupported = dict(provider.unsupported) if hasattr(provider, "unsupported") else {}
    return stats
