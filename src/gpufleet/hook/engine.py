"""The decision loop: per workload, telemetry -> FleetState (+ forecast) -> the same Autoscaler object the
serving simulator runs -> a Decision, recorded in the store with its inputs and reason.

Safety (the hook must never make things worse because it cannot see):
- telemetry older than `telemetry.stale_after`, a Prometheus that does not answer, or a policy that raises:
  the answer is the last good decision, else the current replica count (at least min_replicas, and never
  zero) — and the decision is recorded as `stale` or `error` with the reason;
- the policies' own guardrails (min/max replicas, max step, the HPA's stabilization) apply as offline;
- after a restart the last decisions are read back from the store, so a crash does not forget them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import HookConfig, WorkloadConfig
from gpufleet.hook.telemetry import Window
from gpufleet.optimizer.autoscaling import FleetState, make_autoscaler
from gpufleet.sim.serving.fleet import HISTORY_S, Forecasting

MAX_WORKLOADS = 1000  # bounded memory whatever ScaledObjects ask for


class TelemetrySource(Protocol):
    def window(self, w: WorkloadConfig, now: float) -> Window: ...


class ReplicaSource(Protocol):
    def replicas(self, w: WorkloadConfig) -> tuple[int, int] | None:
        """(replicas asked for, replicas ready), or None when unknown."""
        ...

    def scale(self, w: WorkloadConfig, replicas: int) -> None: ...


@dataclass
class Decision:
    ts: float
    namespace: str
    workload: str
    policy: str
    status: str  # ok | stale | error
    current_replicas: int
    desired_replicas: int
    raw: float
    concurrency: float
    arrival_rate: float
    forecast_hi: float
    service_s: float
    telemetry_age_s: float
    latency_ms: float
    reason: str

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = datetime.fromtimestamp(self.ts, UTC).isoformat()
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


class WorkloadRuntime:
    """One workload's policy object, forecaster and latest decisions."""

    def __init__(self, cfg: WorkloadConfig) -> None:
        self.cfg = cfg
        self.scaler = make_autoscaler(cfg.policy, cfg.guardrails, **cfg.settings)
        self.forecasting = (
            Forecasting(
                cfg.forecaster,
                cfg.forecast_step_s,
                every_s=cfg.forecast_step_s,
                history_s=cfg.history_s,
                level=cfg.forecast_level,
                settings=cfg.forecaster_settings,
            )
            if self.scaler.uses_forecast
            else None
        )
        util = cfg.settings.get("target_util", getattr(self.scaler, "target_util", 0.7))
        self.capacity = cfg.capacity or cfg.slots_per_replica * float(util)
        self.last: Decision | None = None
        self.last_good: Decision | None = None


class Engine:
    def __init__(
        self,
        cfg: HookConfig,
        telemetry: TelemetrySource,
        replicas: ReplicaSource | None = None,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.cfg, self.telemetry, self.kube, self.store = cfg, telemetry, replicas, store
        self.clock, self.log = clock, log
        self.lock = threading.RLock()
        self.workloads: dict[str, WorkloadRuntime] = {}
        self.ticks = 0
        for w in cfg.workloads:
            self.add(w)
        self.restore()

    # -- workloads -------------------------------------------------------------------------------------
    def add(self, w: WorkloadConfig) -> WorkloadRuntime:
        with self.lock:
            if w.key in self.workloads:
                return self.workloads[w.key]
            if len(self.workloads) >= MAX_WORKLOADS:
                raise GpufleetError(f"more than {MAX_WORKLOADS} workloads: refusing {w.key}")
            rt = self.workloads[w.key] = WorkloadRuntime(w)
            return rt

    def get(self, namespace: str, name: str) -> WorkloadRuntime | None:
        return self.workloads.get(f"{namespace}/{name}")

    def restore(self) -> int:
        """The latest decision (and latest good one) per workload from the store; returns how many."""
        if self.store is None:
            return 0
        d = self.store.scan("DECISIONS").collect()
        if d.height == 0:
            return 0
        n = 0
        for status_filter, attr in ((None, "last"), ("ok", "last_good")):
            f = d if status_filter is None else d.filter(pl.col("status") == status_filter)
            latest = f.sort("ts").group_by("namespace", "workload").last()
            for row in latest.iter_rows(named=True):
                rt = self.get(row["namespace"], row["workload"])
                if rt is None:
                    continue
                setattr(rt, attr, _decision_from_row(row))
                n += attr == "last"
        if n:
            self.log(f"restored the last decisions of {n} workload(s) from {self.store.root}")
        return n

    # -- deciding --------------------------------------------------------------------------------------
    def decide(self, rt: WorkloadRuntime, now: float) -> Decision:
        w = rt.cfg
        began = time.perf_counter()
        known = self.kube.replicas(w) if self.kube is not None else None
        base = dict(namespace=w.namespace, workload=w.name, policy=w.policy, ts=now)
        try:
            win = self.telemetry.window(w, now)
        except GpufleetError as e:
            current = known[0] if known else (rt.last.desired_replicas if rt.last else 0)
            return self._fallback(rt, base, current, "error", f"telemetry unavailable: {e}", math.inf, began)
        if known is not None:
            asked, ready = known
            ready_n, starting = min(ready, asked), max(0, asked - ready)
        else:  # without the Kubernetes side, the pods that report are the fleet
            ready_n, starting = win.pods, 0
        current = ready_n + starting
        age = win.age(now)
        if age > self.cfg.telemetry.stale_after:
            return self._fallback(rt, base, current, "stale", f"telemetry {age:.0f} s old", age, began)
        # history starts where telemetry starts: seconds before the first sample are unknown, not idle
        seen = np.flatnonzero(np.isfinite(win.concurrency))
        conc = win.concurrency[seen[0] :] if len(seen) else win.concurrency
        hist = min(HISTORY_S, len(conc))
        state = FleetState(
            now=now,
            ready=ready_n,
            starting=starting,
            slots_per_replica=w.slots_per_replica,
            service_s=win.service_s or w.service_s,
            cold_start_s=w.cold_start_s,
            concurrency=conc[-hist:],
            arrivals=win.arrivals[-hist:],
        )
        try:
            fc = None
            if rt.forecasting is not None:
                horizon = w.cold_start_s + rt.scaler.period_s
                a0 = win.arrivals_from
                fc = rt.forecasting.forecast(now, win.arrivals[a0:], horizon, t0=win.t0 + a0)
            plan = rt.scaler.decide(state, fc)
        except Exception as e:  # a policy bug must not take the hook down
            return self._fallback(rt, base, current, "error", f"policy failed: {type(e).__name__}: {e}", age, began)
        period = max(1, int(rt.scaler.period_s))
        recent = state.concurrency[-period:]
        lead = 0.0
        if fc is not None and len(fc.hi):
            steps = max(1, math.ceil((w.cold_start_s + rt.scaler.period_s) / fc.step_s))
            lead = float(np.max(fc.hi[:steps]))
        d = Decision(
            **base,  # type: ignore[arg-type]
            status="ok",
            current_replicas=current,
            desired_replicas=plan.desired,
            raw=float(plan.raw),
            concurrency=float(np.nanmean(recent)) if np.isfinite(recent).any() else math.nan,
            arrival_rate=float(np.mean(state.arrivals[-period:])),
            forecast_hi=lead if fc is not None else math.nan,
            service_s=state.service_s,
            telemetry_age_s=age,
            latency_ms=(time.perf_counter() - began) * 1e3,
            reason=plan.reason,
        )
        rt.last = rt.last_good = d
        return d

    def _fallback(
        self, rt: WorkloadRuntime, base: dict[str, Any], current: int, status: str, why: str, age: float, began: float
    ) -> Decision:
        g = rt.cfg.guardrails
        if rt.last_good is not None:
            want, how = rt.last_good.desired_replicas, "keeping the last good decision"
        else:
            want, how = max(current, g.min_replicas, 1), "keeping the current replicas"
        want = max(min(want, g.max_replicas), g.min_replicas, 1)  # never zero because data is missing
        d = Decision(
            **base,
            status=status,
            current_replicas=current,
            desired_replicas=want,
            raw=math.nan,
            concurrency=math.nan,
            arrival_rate=math.nan,
            forecast_hi=math.nan,
            service_s=math.nan,
            telemetry_age_s=age,
            latency_ms=(time.perf_counter() - began) * 1e3,
            reason=f"{why}: {how}",
        )
        rt.last = d
        return d

    def tick(self, now: float | None = None) -> list[Decision]:
        """Decide every workload once, record the decisions, and (apply mode) scale."""
        now = self.clock() if now is None else now
        with self.lock:
            runtimes = list(self.workloads.values())
        out = [self.decide(rt, now) for rt in runtimes]
        self.ticks += 1
        if self.store is not None and out:
            self.store.append("DECISIONS", "hook", _frame(out), ["namespace", "workload"])
        for d, rt in zip(out, runtimes, strict=True):
            if d.status != "ok":
                self.log(f"{d.namespace}/{d.workload}: {d.status}: {d.reason}")
            if self.kube is not None and d.desired_replicas != d.current_replicas:
                self.kube.scale(rt.cfg, d.desired_replicas)
        return out


def _frame(ds: list[Decision]) -> pl.DataFrame:
    rows = [asdict(d) for d in ds]
    f = pl.DataFrame(rows, infer_schema_length=None)
    return f.with_columns(
        pl.from_epoch((pl.col("ts") * 1e6).round().cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("ts"),
        *(pl.col(c).fill_nan(None) for c in ("raw", "concurrency", "arrival_rate", "forecast_hi", "service_s")),
        pl.when(pl.col("telemetry_age_s").is_infinite())
        .then(None)
        .otherwise(pl.col("telemetry_age_s"))
        .alias("telemetry_age_s"),
    )


def _decision_from_row(row: dict[str, Any]) -> Decision:
    def f(v: Any) -> float:
        return math.nan if v is None else float(v)

    return Decision(
        ts=row["ts"].timestamp(),
        namespace=row["namespace"],
        workload=row["workload"],
        policy=row["policy"] or "",
        status=row["status"],
        current_replicas=int(row["current_replicas"] or 0),
        desired_replicas=int(row["desired_replicas"]),
        raw=f(row["raw"]),
        concurrency=f(row["concurrency"]),
        arrival_rate=f(row["arrival_rate"]),
        forecast_hi=f(row["forecast_hi"]),
        service_s=f(row["service_s"]),
        telemetry_age_s=f(row["telemetry_age_s"]),
        latency_ms=f(row["latency_ms"]),
        reason=(row["reason"] or "") + " (restored)",
    )
