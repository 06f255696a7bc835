"""`gpufleet collect run`: the long-running loop over all sources, into one store.

Each source has its own schedule. A Prometheus source pulls the window from where it last got to (at the
start: from the store's newest watermark for it, else `start`) up to now minus `delay` (scrapes land late),
then rebuilds jobs and the per-workload series; an NVML source samples this machine's GPUs and writes every
`flush`. A failing source backs off exponentially (`backoff.initial` doubling up to `backoff.max`, plus
jitter) while the others keep running; a source that cannot work here at all (no NVML) is reported once
and disabled. An unexpected error (a bug, a library surprise) in one source is logged, counted
(`gpufleet_collector_unexpected_errors`) and backed off like any failure; it never stops the loop. The
store's watermarks (the committed data itself) make every retry idempotent: a window pulled twice is
stored once.

The loop serves `/metrics` about itself (prometheus-client) so the collector can be scraped like anything
else: rows written, runs by outcome, consecutive failures, current backoff, last success time.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gpufleet.collector.store import Store
from gpufleet.core.config import read_yaml_model
from gpufleet.core.durations import parse_duration
from gpufleet.core.errors import GpufleetError
from gpufleet.core.redact import redact

log = logging.getLogger(__name__)


def seconds(text: str | float, what: str = "duration") -> float:
    """A positive duration in seconds (core/durations.py: '30s', '5m', '1h30m', '500ms' or a number)."""
    return parse_duration(text, what)


Duration = Annotated[str | float, Field(description="seconds, or 30s / 5m / 1h30m / 500ms / 1d")]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    interval: Duration = "1m"

    @field_validator("interval")
    @classmethod
    def _positive(cls, v: str | float) -> str | float:
        try:
            seconds(v)
        except GpufleetError as e:
            raise ValueError(str(e)) from None
        return v


class PrometheusSourceConfig(_Source):
    kind: Literal["prometheus"]
    url: str
    step: Duration = "30s"
    delay: Duration = "1m"
    start: str = "1h"  # first window's start when the store has nothing from this source: duration back or ISO
    chunk: Duration | None = None
    jobs: bool = True
    serving: bool = True
    series_step: Duration = "1m"
    token_env: str | None = None  # the bearer token is read from this environment variable, never the file
    insecure: bool = False
    retries: int = 1  # quick retries inside one run; the loop's backoff handles longer outages
    timeout: Duration = "30s"


class NvmlSourceConfig(_Source):
    kind: Literal["nvml"]
    interval: Duration = "5s"
    flush: Duration = "1m"


class Backoff(BaseModel):
    model_config = ConfigDict(extra="forbid")
    initial: Duration = "5s"
    max: Duration = "5m"


class CollectorConfig(BaseModel):
    """collector.yaml"""

    model_config = ConfigDict(extra="forbid")
    store: Path
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(9464, ge=0, le=65535, description="own /metrics; 0 turns it off")
    backoff: Backoff = Backoff()
    sources: list[Annotated[PrometheusSourceConfig | NvmlSourceConfig, Field(discriminator="kind")]]


def load_config(path: str | Path) -> CollectorConfig:
    """Read and check collector.yaml; errors name the file and the field."""
    p = Path(path)
    cfg = read_yaml_model(p, CollectorConfig)
    if not cfg.sources:
        raise GpufleetError(f"{p}: sources: give at least one source (kind: prometheus or nvml)")
    if not cfg.store.is_absolute():
        cfg.store = p.parent / cfg.store
    return cfg


@dataclass
class SourceState:
    """What the loop knows of one source."""

    name: str
    kind: str
    interval_s: float
    next_due: float = 0.0
    failures: int = 0  # consecutive
    runs_ok: int = 0
    runs_failed: int = 0
    unexpected: int = 0  # failures that were not a known kind (bugs, library surprises)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    backoff_s: float = 0.0
    last_success: float | None = None
    last_error: str | None = None
    disabled: str | None = None
    cursor: datetime | None = None  # Prometheus: where the next window starts
    impl: Any = None


class CollectorLoop:
    """Runs the sources of a config until `stop` is set (or `duration_s` passes)."""

    def __init__(
        self,
        cfg: CollectorConfig,
        *,
        clock: Callable[[], float] = time.time,
        hostname: str | None = None,
    ) -> None:
        self.cfg, self.clock = cfg, clock
        self.store = Store(cfg.store, log=logging.getLogger("gpufleet.collector.store").info)
        self.stop = threading.Event()
        self.initial_s, self.max_s = seconds(cfg.backoff.initial), seconds(cfg.backoff.max)
        self.hostname = hostname or os.uname().nodename
        self.states: list[SourceState] = []
        names: set[str] = set()
        for k, sc in enumerate(cfg.sources):
            name = sc.name or (f"{sc.kind}-{k}" if sum(s.kind == sc.kind for s in cfg.sources) > 1 else sc.kind)
            if name in names:
                raise GpufleetError(f"sources[{k}].name: {name!r} is used twice")
            names.add(name)
            self.states.append(SourceState(name, sc.kind, seconds(sc.interval), impl=sc))
        self._metrics = _SelfMetrics(self)

    # -- one source, once ------------------------------------------------------------------------------
    def _run_prometheus(self, st: SourceState, now: float) -> dict[str, int]:
        from gpufleet.collector.derive import derive_gpu_series
        from gpufleet.collector.kube import collect_jobs, collect_nodes
        from gpufleet.collector.prometheus import PrometheusSource, parse_since
        from gpufleet.collector.vllm import collect_vllm

        sc: PrometheusSourceConfig = st.impl
        token = os.environ.get(sc.token_env) if sc.token_env else None
        src = PrometheusSource(
            sc.url, token=token, verify_tls=not sc.insecure, retries=sc.retries, timeout_s=seconds(sc.timeout)
        )
        wall = datetime.fromtimestamp(now, UTC)
        end = wall - timedelta(seconds=seconds(sc.delay, "delay"))
        if st.cursor is None:
            st.cursor = self._resume_point(st.name) or parse_since(sc.start, wall)
        start = st.cursor
        if end <= start:
            return {}
        step = seconds(sc.step, "step")
        stats = src.collect_gpu(
            self.store, start, end, step, chunk_s=seconds(sc.chunk, "chunk") if sc.chunk else None, source=st.name
        )
        rows = {"GPU_SAMPLES": stats.rows_written}
        if sc.jobs:
            jobs_source = "kube" if st.name == "prometheus" else f"{st.name}-kube"
            rows["JOBS"] = collect_jobs(src, self.store, start, end, step, source=jobs_source)["jobs"]
            rows["NODES"] = collect_nodes(src, self.store, start, end, source=jobs_source)["nodes"]
        bucket = seconds(sc.series_step, "series_step")
        # the series look one bucket back: the bucket the previous window left partial is whole now
        back = start - timedelta(seconds=bucket)
        # one Prometheus source keeps the plain names `collect prometheus` uses; several are kept apart
        prefix = "" if st.name == "prometheus" else f"{st.name}-"
        derived = derive_gpu_series(self.store, back, end, bucket, source=st.name, into=f"{prefix}derived")
        rows["SERIES"] = derived["series_rows"]
        if sc.serving:
            rows["SERIES"] += collect_vllm(src, self.store, back, end, bucket, source=f"{prefix}vllm")
        st.cursor = end
        return rows

    def _resume_point(self, source: str) -> datetime | None:
        """The newest timestamp the store holds from this source (re-reading a little is harmless)."""
        return self.store.newest(source)

    def _run_nvml(self, st: SourceState, now: float) -> dict[str, int]:
        from gpufleet.collector.nvml import NvmlProvider, samples_now

        sc: NvmlSourceConfig = st.impl
        if not isinstance(st.impl, _NvmlRuntime):
            st.impl = _NvmlRuntime(sc, NvmlProvider(self.hostname))  # NvmlUnavailable: disabled by run_once
        rt: _NvmlRuntime = st.impl
        rt.pending.append(samples_now(rt.provider, datetime.fromtimestamp(now, UTC)))
        if now - rt.last_flush >= seconds(rt.cfg.flush, "flush") or self.stop.is_set():
            return {"GPU_SAMPLES": rt.flush(self.store, st.name, now)}
        return {}

    def run_once(self, st: SourceState, now: float) -> None:
        """Run one source if it is due; on failure schedule the next try after the backoff."""
        from gpufleet.collector.nvml import NvmlUnavailable

        try:
            rows = self._run_prometheus(st, now) if st.kind == "prometheus" else self._run_nvml(st, now)
        except NvmlUnavailable as e:
            st.disabled = str(e)
            log.warning("%s: %s; this source is off, the others keep running", st.name, e, extra={"source": st.name})
            return
        except GpufleetError as e:
            self._failed(st, now, redact(str(e)))
            return
        except Exception as e:  # a bug or a library surprise in one source must not stop the others
            st.unexpected += 1
            first = (str(e).splitlines() or [""])[0][:200]
            self._failed(st, now, redact(f"unexpected {type(e).__name__}: {first}"))
            return
        st.runs_ok += 1
        if st.failures:
            log.info("%s: recovered after %d failed run(s)", st.name, st.failures, extra={"source": st.name})
        st.failures, st.backoff_s, st.last_error, st.last_success = 0, 0.0, None, now
        for t, n in rows.items():
            st.rows[t] = st.rows.get(t, 0) + n
        if any(rows.values()):
            written = ", ".join(f"{n:,} {t}" for t, n in rows.items() if n)
            log.info("%s: %s", st.name, written, extra={"source": st.name, "rows": sum(rows.values())})
        # on a fixed grid, so a slow run does not drift the schedule
        st.next_due = st.next_due + st.interval_s if st.next_due + st.interval_s > now else now + st.interval_s

    def _failed(self, st: SourceState, now: float, why: str) -> None:
        """Count the failure and schedule the next try: exponential backoff with jitter (tenacity's
        wait, the same as the in-run retries), so collectors that failed together do not retry together."""
        import tenacity

        st.failures += 1
        st.runs_failed += 1
        st.last_error = why
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = st.failures
        wait = tenacity.wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.initial_s)
        st.backoff_s = wait(state)
        st.next_due = now + st.backoff_s
        log.warning(
            "%s: failed (%s); retry #%d in %.1f s",
            st.name,
            why,
            st.failures,
            st.backoff_s,
            extra={"source": st.name},
        )

    def run(self, duration_s: float | None = None, sleep: Callable[[float], None] | None = None) -> list[SourceState]:
        """Until `stop` is set or `duration_s` passes; pending NVML samples are written before returning."""
        # the writer lock first: a second collector on this store stops here with one line, instead of
        # retrying a locked store forever as if it were an outage
        self.store.upgrade()
        server = self._metrics.serve() if self.cfg.metrics_port else None
        deadline = self.clock() + duration_s if duration_s is not None else math.inf
        wait = sleep or (lambda s: self.stop.wait(s))
        try:
            while not self.stop.is_set():
                now = self.clock()
                if now >= deadline:
                    break
                live = [s for s in self.states if not s.disabled]
                if not live:
                    raise GpufleetError(
                        "no source can run here: " + "; ".join(f"{s.name}: {s.disabled}" for s in self.states)
                    )
                for st in live:
                    if st.next_due <= now:
                        self.run_once(st, now)
                nxt = min([s.next_due for s in self.states if not s.disabled] + [deadline])
                wait(max(0.0, min(nxt - self.clock(), 1.0)))
        finally:
            for st in self.states:
                if isinstance(st.impl, _NvmlRuntime):
                    st.rows["GPU_SAMPLES"] = st.rows.get("GPU_SAMPLES", 0) + st.impl.flush(
                        self.store, st.name, self.clock()
                    )
            if server is not None:
                server.shutdown()
        return self.states


class _NvmlRuntime:
    def __init__(self, cfg: NvmlSourceConfig, provider: Any) -> None:
        self.cfg, self.provider = cfg, provider
        self.pending: list[Any] = []
        self.last_flush = time.time()

    def flush(self, store: Store, source: str, now: float) -> int:
        import polars as pl

        from gpufleet.collector.nvml import SERIES_KEYS

        self.last_flush = now
        if not self.pending:
            return 0
        frame = pl.concat(self.pending, how="diagonal_relaxed")
        self.pending.clear()
        return store.append("GPU_SAMPLES", source, frame, SERIES_KEYS)


class _SelfMetrics:
    """The loop's own state as Prometheus metrics, read at scrape time."""

    def __init__(self, loop: CollectorLoop) -> None:
        self.loop = loop

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        rows = CounterMetricFamily(
            "gpufleet_collector_rows_written", "Rows written to the store.", labels=["source", "table"]
        )
        runs = CounterMetricFamily("gpufleet_collector_runs", "Source runs by outcome.", labels=["source", "outcome"])
        fails = GaugeMetricFamily("gpufleet_collector_consecutive_failures", "Failed runs in a row.", labels=["source"])
        backoff = GaugeMetricFamily(
            "gpufleet_collector_backoff_seconds", "Current wait before the next try.", labels=["source"]
        )
        up = GaugeMetricFamily("gpufleet_collector_source_up", "1 when the last run succeeded.", labels=["source"])
        odd = CounterMetricFamily(
            "gpufleet_collector_unexpected_errors", "Failed runs of an unknown kind (a bug).", labels=["source"]
        )
        last = GaugeMetricFamily(
            "gpufleet_collector_last_success_timestamp_seconds", "Unix time of the last good run.", labels=["source"]
        )
        for st in self.loop.states:
            for t, n in st.rows.items():
                rows.add_metric([st.name, t], n)
            runs.add_metric([st.name, "ok"], st.runs_ok)
            runs.add_metric([st.name, "failed"], st.runs_failed)
            odd.add_metric([st.name], st.unexpected)
            fails.add_metric([st.name], st.failures)
            backoff.add_metric([st.name], st.backoff_s)
            up.add_metric([st.name], 0.0 if (st.disabled or st.failures or not st.runs_ok) else 1.0)
            if st.last_success is not None:
                last.add_metric([st.name], st.last_success)
        yield from (rows, runs, fails, backoff, up, odd, last)

    def serve(self) -> Any:
        from prometheus_client import CollectorRegistry, start_http_server

        reg = CollectorRegistry()
        reg.register(self)
        server, _ = start_http_server(self.loop.cfg.metrics_port, addr=self.loop.cfg.metrics_host, registry=reg)
        return server
