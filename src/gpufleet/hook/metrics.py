"""/metrics of the hook: the engine's state read at scrape time (one gauge family per fact, labelled by
workload), counters of what was refused or skipped, and request latency histograms."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from gpufleet.collector.store import Store
from gpufleet.hook import conditions
from gpufleet.hook.engine import Engine


class HookMetrics:
    """/metrics: the engine's state read at scrape time, plus request latency histograms."""

    def __init__(self, engine: Engine, recommend_from: Path | None = None, cluster: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.engine, self.recommend_from, self.cluster = engine, recommend_from, cluster
        self.counters: dict[str, Any] = {}  # name -> callable returning {labels tuple: count}; set by Hook
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
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        wl = ["namespace", "workload"]
        desired = GaugeMetricFamily("gpufleet_desired_replicas", "Replicas the policy wants.", labels=wl)
        forecast = GaugeMetricFamily(
            "gpufleet_forecast",
            "Forecast arrivals per second over the lead time (cold start + period).",
            labels=[*wl, "horizon", "quantile"],
        )
        age = GaugeMetricFamily(
            "gpufleet_telemetry_age_seconds", "Age of the newest sample (+Inf: none at all).", labels=wl
        )
        stale = GaugeMetricFamily(
            "gpufleet_telemetry_stale",
            "1 when the last decision had no fresh telemetry (stale or error) and holds the last good one.",
            labels=wl,
        )
        decision_ms = GaugeMetricFamily("gpufleet_decision_latency_seconds", "Time the last decision took.", labels=wl)
        ok = GaugeMetricFamily("gpufleet_decision_ok", "1 when the last decision used fresh telemetry.", labels=wl)
        savings = GaugeMetricFamily(
            "gpufleet_recommendation_savings_gpus", "GPUs a right-sizing recommendation frees.", labels=["workload"]
        )
        actual = GaugeMetricFamily(
            "gpufleet_actual_replicas", "Replicas the cluster asks for (spec.replicas), read each round.", labels=wl
        )
        fallback = GaugeMetricFamily(
            "gpufleet_fallback_engaged",
            "1 while the scaler serves a held decision (stale, error, restored) or has none (KEDA gets UNAVAILABLE).",
            labels=wl,
        )
        for rt in list(self.engine.workloads.values()):
            d, lbl = rt.last, [rt.cfg.namespace, rt.cfg.name]
            if not rt.conditions:
                conditions.update(rt)
            engaged = rt.conditions["FallbackEngaged"]["status"] == "True"
            fallback.add_metric(lbl, 1.0 if engaged else 0.0)
            if rt.actual is not None:
                actual.add_metric(lbl, rt.actual)
            if d is None:
                continue
            desired.add_metric(lbl, d.desired_replicas)
            if math.isfinite(d.forecast_hi):
                horizon = f"{rt.cfg.cold_start_s + rt.scaler.period_s:g}s"
                forecast.add_metric([*lbl, horizon, f"{rt.cfg.forecast_level / 100:g}"], d.forecast_hi)
            age.add_metric(lbl, d.telemetry_age_s if not math.isnan(d.telemetry_age_s) else math.inf)
            stale.add_metric(lbl, 0.0 if d.status == "ok" else 1.0)
            decision_ms.add_metric(lbl, d.latency_ms / 1e3)
            ok.add_metric(lbl, 1.0 if d.status == "ok" else 0.0)
        for r in (self._recs[1] if self._recs else {}).get("recommendations", []):
            savings.add_metric([r["workload"]], r.get("gpus_saved") or 0.0)
        yield from (desired, forecast, age, stale, decision_ms, ok, savings, actual, fallback)
        yield from self._loop_families()
        for name, (help_text, labels, read) in self.counters.items():
            fam = CounterMetricFamily(name, help_text, labels=labels)
            for key, n in read().items():
                fam.add_metric(list(key), n)
            yield fam

    def _loop_families(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        decided = CounterMetricFamily(
            "gpufleet_decisions",
            "Decisions made, by outcome (ok: fresh; stale, error: the held answer was served).",
            labels=["namespace", "workload", "status"],
        )
        for (ns, name, status), n in list(self.engine.decided.items()):
            decided.add_metric([ns, name, status], n)
        yield decided
        interval = GaugeMetricFamily("gpufleet_loop_interval_seconds", "Seconds between decision rounds (config).")
        interval.add_metric([], self.engine.cfg.interval)
        yield interval
        last = self.engine.last_tick_wall
        if last is not None:  # absent before the first round (readiness says `starting` then)
            tick = GaugeMetricFamily(
                "gpufleet_loop_last_tick_timestamp_seconds", "Unix time the decision loop last finished a round."
            )
            tick.add_metric([], last)
            yield tick

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
