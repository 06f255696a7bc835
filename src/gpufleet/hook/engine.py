"""The decision loop: per workload, telemetry -> FleetState (+ forecast) -> the same Autoscaler object the
serving simulator runs -> a Decision, recorded in the store with its inputs and reason.

Never act on missing data:
- telemetry older than `telemetry.stale_after`, or than three of its own scrape intervals (an exporter that
  stopped), a Prometheus that does not answer, or a policy that raises: the answer is the last good decision
  (else the current replica count, at least min_replicas and never zero), recorded as `stale` or `error`
  with the reason. Such a decision is never applied to the cluster and never becomes the last good one;
- between two scrapes the newest sample holds (as Prometheus's own instant queries do), so a policy whose
  period is shorter than the scrape interval decides on the newest sample, not on "no data";
- the policies' own guardrails (min/max replicas, max step, the HPA's stabilization) apply as offline;
- after a restart the last decisions come back from the store and each policy's memory (its holds) from
  hook-memory.json (hook/memory.py), so a crash neither forgets a decision nor drops a held fleet at once.
Workloads come only from hook.yaml (`config`) or from the cluster (`labels`: labelled Deployments and
StatefulSets; `keda`: ScaledObjects whose trigger names our scaler). Requests can select them, never add them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.decision import Decision, decisions_frame
from gpufleet.core.errors import GpufleetError, brief
from gpufleet.forecasting.series.demand import Forecasting
from gpufleet.hook import conditions, memory
from gpufleet.hook.config import HookConfig, WorkloadConfig
from gpufleet.hook.telemetry import Window
from gpufleet.optimizer.autoscaling import AUTOSCALERS, FleetState
from gpufleet.optimizer.autoscaling.base import HISTORY_S

MAX_WORKLOADS = 1000  # bounded memory whatever the cluster declares
MISSED_SCRAPES = 3  # scrapes missed in a row before telemetry counts as stale (before stale_after)
MIN_LATE_S = 5.0
DEFAULT_SCRAPE_S = 15.0  # Prometheus's default scrape interval: assumed while a series has one sample only
ORIGINS = ("config", "labels", "keda")
log = logging.getLogger(__name__)


class TelemetrySource(Protocol):
    def window(self, w: WorkloadConfig, now: float) -> Window: ...


class ReplicaSource(Protocol):
    def replicas(self, w: WorkloadConfig) -> tuple[int, int] | None:
        """(replicas asked for, replicas ready), or None when unknown."""
        ...

    def scale(self, w: WorkloadConfig, replicas: int, *, labelled: bool, ids: dict[str, str] | None = None) -> None: ...


def needs_library(cfg: WorkloadConfig) -> None:
    """Import the workload's forecaster's libraries now: a slim `gpufleet[hook]` install has no LightGBM or
    Prophet, and a forecaster that needs them would otherwise fail at every decision, held as `error`, instead
    of once, at the start, with the extra to install."""
    from gpufleet.forecasting.series import FORECASTERS

    try:
        FORECASTERS.get(cfg.forecaster).warm_up()
    except ModuleNotFoundError as e:
        raise GpufleetError(
            f"{cfg.key}: forecaster {cfg.forecaster!r} needs {e.name or 'a library'}, which this install lacks: "
            "pip install 'gpufleet[hook,sim]'"
        ) from None


class WorkloadRuntime:
    """One workload's policy object, forecaster and latest decisions."""

    def __init__(self, cfg: WorkloadConfig, origin: str = "config") -> None:
        self.cfg, self.origin = cfg, origin
        self.scaler = AUTOSCALERS.build(cfg.policy, cfg.settings, guardrails=cfg.guardrails)
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
        if self.forecasting is not None:
            needs_library(cfg)
        self.capacity = cfg.capacity or cfg.slots_per_replica * self.scaler.target_util
        self.last: Decision | None = None
        self.last_good: Decision | None = None
        self.actual: int | None = None  # replicas the cluster asked for when it was last read (None: not read)
        self.fault: str | None = None  # why the last decision is held (a conditions.FAULTS key), None if fresh
        self.conditions: dict[str, dict[str, Any]] = {}  # type -> condition, kept by conditions.update
        self.restored = False  # the latest decision was read back from the store (no round since the start)

    def active(self) -> bool:
        """KEDA's IsActive: demand now, from fresh telemetry. On stale or missing telemetry, nothing changes:
        active while the last good decision saw demand or the fleet still runs (never scaled to zero, nor
        woken from zero, on missing data)."""
        d = self.last
        if d is None:
            return False
        if d.status == "ok":
            return d.demand
        return (self.last_good is not None and self.last_good.demand) or d.current_replicas > 0


class Engine:
    def __init__(
        self,
        cfg: HookConfig,
        telemetry: TelemetrySource,
        replicas: ReplicaSource | None = None,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg, self.telemetry, self.kube, self.store = cfg, telemetry, replicas, store
        self.clock = clock
        self.lock = threading.RLock()
        self.workloads: dict[str, WorkloadRuntime] = {}
        self.ticks = 0
        self.last_tick_at: float | None = None  # time.monotonic() at the end of the last tick
        # wall-clock time (never the injected clock, which may replay the past) of the first and last round's end:
        # /metrics exports the last so an alert can see a loop that stopped finishing rounds
        self.first_tick_wall: float | None = None
        self.last_tick_wall: float | None = None
        self.recovered_at: float | None = None  # wall time of the round that ended the latest stall
        self.decided: Counter[tuple[str, str, str]] = Counter()  # (namespace, workload, status) -> decisions
        self.refused_scales = 0  # apply mode: patches refused because the object left the selection
        # what a previous run left: decisions and policy memory, handed to each workload when it is added
        self._memory: dict[str, dict[str, Any]] = memory.load(store.root) if store is not None else {}
        self._restored = self._recorded()
        self.restored = 0
        for w in cfg.workloads:
            self.add(w)
        if self.restored:
            log.info("restored the last decisions of %d workload(s) from %s", self.restored, self.store.root)  # type: ignore[union-attr]

    # -- workloads -------------------------------------------------------------------------------------
    def add(self, w: WorkloadConfig, origin: str = "config") -> WorkloadRuntime:
        """Track a declared workload (hook.yaml or the cluster); its memory comes back if it was saved."""
        with self.lock:
            if w.key in self.workloads:
                return self.workloads[w.key]
            if len(self.workloads) >= MAX_WORKLOADS:
                raise GpufleetError(f"more than {MAX_WORKLOADS} workloads: refusing {w.key}")
            rt = WorkloadRuntime(w, origin)
            saved = self._memory.pop(w.key, None)
            if saved and saved.get("policy") == w.policy and saved.get("settings") == w.settings:
                try:
                    rt.scaler.recall(saved.get("memory") or {})
                except (TypeError, ValueError, KeyError) as e:
                    log.warning(
                        "%s: saved policy memory not usable (%s); starting without it",
                        w.key,
                        e,
                        extra={"workload": w.key},
                    )
            rec = self._restored.pop(w.key, {})
            rt.last, rt.last_good = rec.get("last"), rec.get("last_good")
            rt.restored = rt.last is not None
            self.restored += rt.last is not None
            self.workloads[w.key] = rt
            return rt

    def sync(self, found: list[tuple[WorkloadConfig, str]]) -> tuple[int, int]:
        """The cluster's declarations as discovery sees them now: new ones added, ones no longer declared (label
        removed, ScaledObject deleted) dropped. hook.yaml's workloads always stay. Returns (added, dropped)."""
        keys = {w.key for w, _ in found}
        added = dropped = 0
        with self.lock:
            for key, rt in list(self.workloads.items()):
                if rt.origin != "config" and key not in keys:
                    del self.workloads[key]
                    dropped += 1
            for w, origin in found:
                if w.key not in self.workloads:
                    self.add(w, origin)
                    added += 1
        return added, dropped

    def get(self, namespace: str, name: str) -> WorkloadRuntime | None:
        return self.workloads.get(f"{namespace}/{name}")

    def _recorded(self) -> dict[str, dict[str, Decision]]:
        """The latest decision (`last`) and latest good one (`last_good`) per workload in the store."""
        out: dict[str, dict[str, Decision]] = {}
        if self.store is None:
            return out
        scan = self.store.scan("DECISIONS")
        for status_filter, attr in ((None, "last"), ("ok", "last_good")):
            f = scan if status_filter is None else scan.filter(pl.col("status") == status_filter)
            for row in f.sort("ts").group_by("namespace", "workload").last().collect().iter_rows(named=True):
                d = Decision.from_row(row)
                d.reason += " (restored)"
                out.setdefault(f"{row['namespace']}/{row['workload']}", {})[attr] = d
        return out

    # -- deciding --------------------------------------------------------------------------------------
    def decide(self, rt: WorkloadRuntime, now: float) -> Decision:
        w = rt.cfg
        began = time.perf_counter()
        rt.restored = False
        known = self.kube.replicas(w) if self.kube is not None else None
        rt.actual = known[0] if known is not None else None
        base = dict(namespace=w.namespace, workload=w.name, policy=w.policy, ts=now)
        try:
            win = self.telemetry.window(w, now)
        except GpufleetError as e:
            current = known[0] if known else (rt.last.current_replicas if rt.last else 0)
            return self._fallback(
                rt, base, current, "error", f"telemetry unavailable: {e}", math.inf, began, "TelemetryUnavailable"
            )
        if known is not None:
            asked, ready = known
            ready_n, starting = min(ready, asked), max(0, asked - ready)
        else:  # without the Kubernetes side, the pods that report are the fleet
            ready_n, starting = win.pods, 0
        current = ready_n + starting
        age = win.age(now)
        scrape = win.scrape_s or DEFAULT_SCRAPE_S
        limit = min(self.cfg.telemetry.stale_after, max(MISSED_SCRAPES * scrape, MIN_LATE_S))
        if age > limit:
            why = "no telemetry" if not math.isfinite(age) else f"telemetry {age:.0f} s old (limit {limit:.0f} s)"
            return self._fallback(rt, base, current, "stale", why, age, began, "TelemetryStale")
        # history starts where telemetry starts: seconds before the first sample are unknown, not idle
        seen = np.flatnonzero(np.isfinite(win.concurrency))
        conc = win.concurrency[seen[0] :] if len(seen) else win.concurrency
        if len(seen):  # the newest sample holds until the next scrape (bounded by the limit above)
            conc = conc.copy()
            conc[seen[-1] - seen[0] + 1 :] = conc[seen[-1] - seen[0]]
        period = max(1, int(rt.scaler.period_s))
        if not np.isfinite(conc[-period:]).any():  # a gap inside the window: nothing to decide on
            return self._fallback(
                rt, base, current, "stale", f"no telemetry in the last {period} s", age, began, "TelemetryGap"
            )
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
            why = f"policy failed: {type(e).__name__}: {e}"
            return self._fallback(rt, base, current, "error", why, age, began, "PolicyFailed")
        recent = state.concurrency[-period:]
        lead = 0.0
        if fc is not None and len(fc.hi):
            steps = max(1, math.ceil((w.cold_start_s + rt.scaler.period_s) / fc.step_s))
            lead = float(np.max(fc.hi[:steps]))
        d = Decision(
            **base,
            status="ok",
            current_replicas=current,
            desired_replicas=plan.desired,
            raw=float(plan.raw),
            concurrency=float(np.nanmean(recent)),
            arrival_rate=float(np.mean(state.arrivals[-period:])),
            forecast_hi=lead if fc is not None else math.nan,
            service_s=state.service_s,
            telemetry_age_s=age,
            latency_ms=(time.perf_counter() - began) * 1e3,
            reason=plan.reason,
        )
        rt.last = rt.last_good = d
        rt.fault = None
        return d

    def _fallback(
        self,
        rt: WorkloadRuntime,
        base: dict[str, Any],
        current: int,
        status: str,
        why: str,
        age: float,
        began: float,
        fault: str,
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
        rt.last, rt.fault = d, fault
        return d

    def tick(self, now: float | None = None) -> list[Decision]:
        """Decide every workload once, record the decisions and the policies' memory, and (apply mode) scale
        the workloads whose fresh decision asks for a change."""
        now = self.clock() if now is None else now
        with self.lock:
            runtimes = list(self.workloads.values())
        previous = [rt.last for rt in runtimes]
        out = [self.decide(rt, now) for rt in runtimes]
        self.ticks += 1
        if self.store is not None and out:
            self.store.append("DECISIONS", "hook", decisions_frame(out), ["namespace", "workload"])
            memory.save(self.store.root, self._memories(runtimes))
        for d, rt, before in zip(out, runtimes, previous, strict=True):
            self.decided[(d.namespace, d.workload, d.status)] += 1
            conditions.update(rt)
            _log_decision(d, before)
            ids = {"workload": rt.cfg.key, "decision_id": d.decision_id}
            # a held (stale/error) decision is answered to KEDA but never applied: no action on missing data;
            # ScaledObjects are KEDA's to scale
            if d.status == "ok" and self.kube is not None and rt.origin != "keda":
                if d.desired_replicas == d.current_replicas:
                    continue
                try:
                    self.kube.scale(rt.cfg, d.desired_replicas, labelled=rt.origin == "labels", ids=ids)
                except GpufleetError as e:  # it left the selection: refused, and no longer decided for
                    self.refused_scales += 1
                    log.warning("%s: not scaled: %s", rt.cfg.key, e, extra=ids)
                    with self.lock:
                        self.workloads.pop(rt.cfg.key, None)
                except Exception as e:  # an API error on one workload must not stop the others
                    log.error("%s: scaling failed: %s: %s", rt.cfg.key, type(e).__name__, brief(e), extra=ids)
        ended = time.monotonic()
        if self.last_tick_at is not None and ended - self.last_tick_at > conditions.stall_after(self):
            self.recovered_at = time.time()
            log.warning("decision loop: a round finished after %.0f s without one", ended - self.last_tick_at)
        self.last_tick_at, self.last_tick_wall = ended, time.time()
        if self.first_tick_wall is None:
            self.first_tick_wall = self.last_tick_wall
        return out

    def _memories(self, runtimes: list[WorkloadRuntime]) -> dict[str, dict[str, Any]]:
        out = dict(self._memory)  # entries of workloads not (yet) back, kept for when they are
        for rt in runtimes:
            out[rt.cfg.key] = {"policy": rt.cfg.policy, "settings": rt.cfg.settings, "memory": rt.scaler.memory()}
        return out


def _log_decision(d: Decision, before: Decision | None) -> None:
    """One line per decision that changes something (its status or the replicas it asks for) at INFO, a held
    one at WARNING; an unchanged decision at DEBUG only, so a steady fleet does not flood the log."""
    key = f"{d.namespace}/{d.workload}"
    changed = before is None or before.status != d.status or before.desired_replicas != d.desired_replicas
    level = (logging.WARNING if d.status != "ok" else logging.INFO) if changed else logging.DEBUG
    log.log(
        level,
        "%s: %s: %d -> %d replicas: %s",
        key,
        d.status,
        d.current_replicas,
        d.desired_replicas,
        d.reason,
        extra={"workload": key, "decision_id": d.decision_id, "status": d.status, "desired": d.desired_replicas},
    )
