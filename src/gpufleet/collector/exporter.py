"""`gpufleet exporter`: GPU metrics under DCGM-exporter names and labels (prometheus-client), so a node without
dcgm-exporter, or a recorded trace, feeds the same Prometheus queries.

Two providers of "the GPUs now":
- NVML (`collector.nvml.NvmlProvider`): utilization, framebuffer, power, temperature, clocks, processes,
  XID, per GPU and per MIG instance;
- replay: a recorded GPU_SAMPLES table served as if live — wall-clock time since start, times `speed`, is
  trace time since its first sample; each series shows its latest sample at or before that time, and
  disappears once its last sample is older than `stale_s` of trace time (as a finished pod would).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from gpufleet.collector import dcgm
from gpufleet.collector.nvml import NvmlProvider, NvmlUnavailable
from gpufleet.collector.openmetrics import LABELS
from gpufleet.core.errors import GpufleetError

__all__ = ["DcgmCollector", "NvmlProvider", "NvmlUnavailable", "ReplayProvider", "serve"]

LABEL_COLS = {**LABELS, "GPU_I_PROFILE": "mig_profile"}  # live NVML readings also carry MIG instances
SERVED = dcgm.fields(
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_XID_ERRORS",
)
METRICS = {f.metric: (f.column, 1 / f.scale, f.help) for f in SERVED} | {  # name -> (column, from canonical, help)
    # not a DCGM field: NVML's running compute processes, for nodes where nothing else counts them
    "gpufleet_gpu_processes": ("processes", 1.0, "Compute processes running on the GPU."),
}


class ReplayProvider:
    """A recorded GPU_SAMPLES frame, replayed at `speed` x real time."""

    def __init__(
        self, samples: pl.DataFrame, speed: float = 1.0, stale_s: float = 300.0, clock: Any = time.monotonic
    ) -> None:
        if samples.height == 0:
            raise GpufleetError("--replay: the recording has no samples")
        f = samples.with_columns(pl.col("ts").dt.epoch("us").truediv(1e6).alias("_t"))
        if "mem_total_bytes" in f.columns and "mem_used_bytes" in f.columns:
            f = f.with_columns((pl.col("mem_total_bytes") - pl.col("mem_used_bytes")).alias("mem_free_bytes"))
        keys = [c for c in LABEL_COLS.values() if c in f.columns]
        self.keys = keys
        self.t0 = float(f["_t"].min())  # type: ignore[arg-type]
        self.series = [
            (dict(zip(keys, k, strict=True)), g.sort("_t")) for k, g in f.group_by(keys, maintain_order=True)
        ]
        self.times = [g["_t"].to_numpy() for _, g in self.series]
        self.speed, self.stale_s, self.clock = speed, stale_s, clock
        self.start = clock()

    def trace_time(self) -> float:
        """Trace seconds since the epoch that stand for now."""
        return self.t0 + (self.clock() - self.start) * self.speed

    def current(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(labels, latest row) per series that is live now."""
        now = self.trace_time()
        for (labels, g), times in zip(self.series, self.times, strict=True):
            i = int(np.searchsorted(times, now, side="right")) - 1
            if i < 0 or now - times[i] > self.stale_s:
                continue
            yield labels, g.row(i, named=True)


class DcgmCollector:
    """A prometheus-client collector turning a provider's current readings into DCGM-named gauges."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def collect(self) -> Iterator[Any]:
        """One scrape."""
        from prometheus_client.core import GaugeMetricFamily

        rows = list(self.provider.current())
        names = list(LABEL_COLS)
        for metric, (col, mult, doc) in METRICS.items():
            fam = GaugeMetricFamily(metric, doc, labels=names)
            for labels, row in rows:
                v = row.get(col)
                if v is None or (isinstance(v, float) and not np.isfinite(v)):
                    continue
                fam.add_metric([_text(labels.get(LABEL_COLS[k])) for k in names], float(v) * mult)
            yield fam


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def serve(provider: Any, host: str, port: int) -> Any:
    """Serve /metrics on host:port in a background thread; returns the server (call .shutdown())."""
    from prometheus_client import CollectorRegistry, start_http_server

    reg = CollectorRegistry()
    reg.register(DcgmCollector(provider))
    server, _thread = start_http_server(port, addr=host, registry=reg)
    return server
