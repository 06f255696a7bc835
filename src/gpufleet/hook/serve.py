"""`gpufleet hook serve --config hook.yaml`: the decision loop, the KEDA gRPC scaler and the HTTP API in one
process. The loop decides every `interval` seconds; requests only read its latest decisions (bounded work),
except /v1/what-if, which replays at most six hours of the workload's recent arrivals.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import HookConfig
from gpufleet.hook.engine import Engine, WorkloadRuntime
from gpufleet.hook.http_api import WHAT_IF_MAX_REQUESTS, WHAT_IF_MAX_S, WhatIf, finite, make_app
from gpufleet.hook.telemetry import PrometheusTelemetry

DISCOVER_EVERY_S = 300.0
ADVICE_EVERY_S = 600.0  # right-sizing and packing advice change slowly; recomputed this often


class HookMetrics:
    """/metrics: the engine's state read at scrape time, plus request latency histograms."""

    def __init__(self, engine: Engine, recommend_from: Path | None = None, cluster: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.engine, self.recommend_from, self.cluster = engine, recommend_from, cluster
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "gpufleet_request_latency_seconds",
            "Time to answer, by endpoint.",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0),
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "gpufleet_decision_duration_seconds",
            "Time one workload's decision took (telemetry read, forecast, policy).",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=self.registry,
        )
        self.registry.register(self)
        self._recs: tuple[float, dict[str, Any]] | None = None

    def observe(self, endpoint: str, seconds: float) -> None:
        self.latency.labels(endpoint).observe(seconds)

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        desired = GaugeMetricFamily(
            "gpufleet_desired_replicas", "Replicas the policy wants.", labels=["namespace", "workload"]
        )
        forecast = GaugeMetricFamily(
            "gpufleet_forecast",
            "Forecast arrivals per second over the lead time (cold start + period).",
            labels=["namespace", "workload", "horizon", "quantile"],
        )
        age = GaugeMetricFamily(
            "gpufleet_telemetry_age_seconds", "Age of the newest sample.", labels=["namespace", "workload"]
        )
        decision_ms = GaugeMetricFamily(
            "gpufleet_decision_latency_seconds", "Time the last decision took.", labels=["namespace", "workload"]
        )
        ok = GaugeMetricFamily(
            "gpufleet_decision_ok", "1 when the last decision used fresh telemetry.", labels=["namespace", "workload"]
        )
        savings = GaugeMetricFamily(
            "gpufleet_recommendation_savings_gpus", "GPUs a right-sizing recommendation frees.", labels=["workload"]
        )
        for rt in list(self.engine.workloads.values()):
            d, lbl = rt.last, [rt.cfg.namespace, rt.cfg.name]
            if d is None:
                continue
            desired.add_metric(lbl, d.desired_replicas)
            if math.isfinite(d.forecast_hi):
                horizon = f"{rt.cfg.cold_start_s + rt.scaler.period_s:g}s"
                forecast.add_metric([*lbl, horizon, f"{rt.cfg.forecast_level / 100:g}"], d.forecast_hi)
            if math.isfinite(d.telemetry_age_s):
                age.add_metric(lbl, d.telemetry_age_s)
            decision_ms.add_metric(lbl, d.latency_ms / 1e3)
            ok.add_metric(lbl, 1.0 if d.status == "ok" else 0.0)
        for r in (self._recs[1] if self._recs else {}).get("recommendations", []):
            savings.add_metric([r["workload"]], r.get("gpus_saved") or 0.0)
        yield from (desired, forecast, age, decision_ms, ok, savings)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def recommendations(self, refresh: bool = False) -> dict[str, Any]:
        """Right-sizing from the collector store named in the config, and packing advice from the cluster's
        nodes and running GPU pods; computed by the decision loop every 10 minutes (or on first request)."""
        if self._recs is not None and not refresh and time.time() - self._recs[0] < 600:
            return self._recs[1]
        out: dict[str, Any] = {"recommendations": [], "packing": None, "notes": {}}
        if self.recommend_from is not None:
            from gpufleet.optimizer.rightsizing import recommend_all

            samples = Store(self.recommend_from).read("GPU_SAMPLES")
            recs, notes = recommend_all(samples) if samples.height else ([], {"samples": 0})
            out["recommendations"] = [r.to_dict() for r in recs]
            out["notes"] = {**notes, "store": str(self.recommend_from)}
        else:
            out["notes"]["rightsizing"] = "no collector store configured (recommend_from in hook.yaml)"
        if self.cluster is not None:
            from gpufleet.optimizer.packing.advice import consolidation_advice

            nodes, pods = self.cluster()
            out["packing"] = consolidation_advice(nodes, pods) if pods.height else None
        self._recs = (time.time(), out)
        return out


def what_if(engine: Engine, rt: WorkloadRuntime, body: WhatIf, now: float) -> dict[str, Any]:
    """The workload's recent arrivals (one request per arrival, each holding a slot for the observed mean
    service time) replayed under its current policy and the proposed one."""
    from gpufleet.sim.serving import ServingConfig, simulate_serving

    w = rt.cfg
    span = min(w.history_s, WHAT_IF_MAX_S)
    win = engine.telemetry.window(w.model_copy(update={"history_s": span}), now)
    counts = np.nan_to_num(win.arrivals)
    n = round(float(counts.sum()))
    if n == 0:
        raise ValueError(f"{w.key}: no arrivals in the last {span:.0f} s to replay")
    if n > WHAT_IF_MAX_REQUESTS:
        raise ValueError(f"{w.key}: {n} arrivals in the window: over the {WHAT_IF_MAX_REQUESTS} a what-if replays")
    # spread each second's arrivals evenly inside it
    k = np.round(counts).astype(np.int64)
    sec = np.repeat(np.arange(len(k)), k)
    within = (np.arange(len(sec)) - np.repeat(np.cumsum(k) - k, k) + 0.5) / np.repeat(np.maximum(k, 1), k)
    service = win.service_s or w.service_s
    reqs = pl.DataFrame(
        {"request_id": [f"r{i}" for i in range(len(sec))], "arrival_time": sec + within, "service_time": service}
    )
    out: dict[str, Any] = {"namespace": w.namespace, "workload": w.name, "window_s": span, "requests": len(sec)}
    g = body.guardrails or w.guardrails
    for label, policy, settings in (("current", w.policy, w.settings), ("proposed", body.policy, body.settings)):
        cfg = ServingConfig(
            policy=policy,
            settings=settings,
            slo=body.slo,
            cold_start_s=w.cold_start_s,
            min_replicas=max(1, g.min_replicas),
            max_replicas=g.max_replicas,
            max_step=g.max_step,
        )
        try:
            s = simulate_serving(reqs, cfg).summary
        except GpufleetError as e:
            raise ValueError(str(e)) from None
        out[label] = {
            "policy": policy,
            "gpu_hours": s["gpu_hours"],
            "slo": s["slo"],
            "slo_attainment": s["slo_attainment"],
            "slo_met": s["slo_met"],
        }
    cur, new = out["current"]["gpu_hours"], out["proposed"]["gpu_hours"]
    out["gpu_hours_change"] = finite((new - cur) / cur) if cur else None
    return out


class Hook:
    """Everything `hook serve` runs; start() returns once the servers listen."""

    def __init__(
        self,
        cfg: HookConfig,
        *,
        telemetry: Any = None,
        kube: Any = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.cfg, self.log, self.clock = cfg, log, clock
        token = cfg.auth.token()
        if token is None:
            raise GpufleetError("auth: give token_file or token_env: the /v1 API never runs without a token")
        self.token = token
        if telemetry is None:
            import os

            prom_token = os.environ.get(cfg.telemetry.token_env) if cfg.telemetry.token_env else None
            telemetry = PrometheusTelemetry(cfg.telemetry, prom_token)
        if kube is None and cfg.kubernetes.enabled:
            from gpufleet.hook.kube import KubeSide

            kube = KubeSide(cfg.kubernetes, log=log)
        self.kube = kube
        self.engine = Engine(cfg, telemetry, kube, Store(cfg.store), clock=clock, log=log)
        self.metrics = HookMetrics(self.engine, cfg.recommend_from, getattr(kube, "cluster", None))
        self.stop = threading.Event()
        self.http_port = self.grpc_port = 0
        self._threads: list[threading.Thread] = []
        self._grpc: Any = None
        self._uvicorn: Any = None

    def discover(self) -> int:
        """Add workloads the cluster opted in (labels) that hook.yaml does not list."""
        if self.kube is None:
            return 0
        n = 0
        for w in self.kube.discover():
            if self.engine.get(w.namespace, w.name) is None:
                self.engine.add(w)
                n += 1
        if n:
            self.log(f"discovered {n} workload(s) in the cluster")
        return n

    def _loop(self) -> None:
        next_discovery = next_advice = 0.0
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                if self.kube is not None and began >= next_discovery:
                    self.discover()
                    next_discovery = began + DISCOVER_EVERY_S
                for d in self.engine.tick():
                    self.metrics.decision_seconds.observe(d.latency_ms / 1e3)
                if began >= next_advice:
                    self.metrics.recommendations(refresh=True)
                    next_advice = began + ADVICE_EVERY_S
            except Exception as e:  # the loop must outlive any one bad tick
                self.log(f"decision loop: {type(e).__name__}: {e}")
            self.stop.wait(max(0.0, self.cfg.interval - (time.monotonic() - began)))

    def start(self, loop: bool = True) -> None:
        import uvicorn

        from gpufleet.hook.grpc_scaler import Scaler, serve_grpc

        lst = self.cfg.listen
        tls = (lst.tls_cert.read_bytes(), lst.tls_key.read_bytes()) if lst.tls_cert and lst.tls_key else None
        scaler = Scaler(self.engine)
        scaler.observe = self.metrics.observe
        self._grpc, self.grpc_port = serve_grpc(scaler, lst.host, lst.grpc_port, tls)
        app = make_app(
            self.engine,
            self.token,
            max_body=lst.max_body_bytes,
            metrics=self.metrics,
            what_if=lambda rt, body: what_if(self.engine, rt, body, self.clock()),
        )
        ucfg = uvicorn.Config(
            app,
            host=lst.host,
            port=lst.http_port,
            log_level="warning",
            access_log=False,
            ssl_certfile=str(lst.tls_cert) if lst.tls_cert else None,
            ssl_keyfile=str(lst.tls_key) if lst.tls_key else None,
            limit_concurrency=512,
        )
        self._uvicorn = uvicorn.Server(ucfg)
        self._uvicorn.install_signal_handlers = lambda: None  # ours handle them
        t = threading.Thread(target=self._uvicorn.run, daemon=True, name="http")
        t.start()
        self._threads.append(t)
        deadline = time.time() + 30
        while not self._uvicorn.started:
            if not t.is_alive() or time.time() > deadline:
                raise GpufleetError(f"HTTP: cannot listen on {lst.host}:{lst.http_port}")
            time.sleep(0.02)
        self.http_port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        if loop:
            lt = threading.Thread(target=self._loop, daemon=True, name="decisions")
            lt.start()
            self._threads.append(lt)

    def close(self) -> None:
        self.stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._grpc is not None:
            self._grpc.stop(grace=1.0)
        for t in self._threads:
            t.join(timeout=10)
