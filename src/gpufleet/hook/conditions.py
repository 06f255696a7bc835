"""Conditions, in the shape Kubernetes uses for its own objects (`type`, `status` True/False/Unknown, `reason`,
`message`, `since`): per workload in /v1/workloads, and the decision loop's own in /v1/workloads and /readyz.

Staleness is a workload's condition, never the pod's readiness: the scaler keeps answering the held decision,
which is what KEDA should get. A stalled loop is not a readiness matter either (the held decisions are still
served); it is the `DecisionLoopRunning` condition, `gpufleet_loop_last_tick_timestamp_seconds` and an alert.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpufleet.hook.engine import Engine, WorkloadRuntime

# why a decision is held (WorkloadRuntime.fault) -> whether the telemetry itself was the problem
FAULTS = {
    "TelemetryUnavailable": True,  # Prometheus did not answer
    "TelemetryStale": True,  # the newest sample is too old (or there is none)
    "TelemetryGap": True,  # no sample in the last decision period
    "PolicyFailed": False,  # fresh telemetry, the policy raised
}
STALL_FACTOR = 3  # rounds missed before the loop counts as stalled
MIN_STALL_S = 60.0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _set(rt: WorkloadRuntime, kind: str, status: str, reason: str, message: str, at: float) -> None:
    """Record a condition; `since` moves only when the status changes."""
    old = rt.conditions.get(kind)
    since = old["since_ts"] if old is not None and old["status"] == status else at
    rt.conditions[kind] = {"type": kind, "status": status, "reason": reason, "message": message, "since_ts": since}


def update(rt: WorkloadRuntime, at: float | None = None) -> None:
    """After a decision (or on restore): TelemetryFresh and FallbackEngaged from the workload's latest decision."""
    d = rt.last
    at = time.time() if at is None else at
    if d is None:
        _set(rt, "TelemetryFresh", "Unknown", "NoDecisionYet", "no decision round has read it yet", at)
        _set(rt, "FallbackEngaged", "True", "NoDecisionYet", "the scaler answers UNAVAILABLE: KEDA's fallback", at)
        return
    if rt.restored:  # read back from the store at start; no round has read telemetry since
        _set(rt, "TelemetryFresh", "Unknown", "Restored", "no round has read telemetry since the restart", at)
        _set(rt, "FallbackEngaged", "True", "Restored", f"serving the decision recorded before: {d.reason}", at)
        return
    if rt.fault is not None and FAULTS.get(rt.fault, False):
        _set(rt, "TelemetryFresh", "False", rt.fault, d.reason, at)
    elif d.status == "ok" or rt.fault == "PolicyFailed":
        _set(rt, "TelemetryFresh", "True", "Fresh", f"newest sample {d.telemetry_age_s:.0f} s old", at)
    else:  # a held decision read back from the store: what made it stale is not known here
        _set(rt, "TelemetryFresh", "False", "Restored" + d.status.capitalize(), d.reason, at)
    if d.status == "ok":
        _set(rt, "FallbackEngaged", "False", "FreshDecision", d.reason, at)
    else:
        held = "HoldingLastGood" if rt.last_good is not None else "HoldingCurrentReplicas"
        _set(rt, "FallbackEngaged", "True", held, d.reason, at)


def workload(rt: WorkloadRuntime) -> list[dict[str, Any]]:
    """The workload's conditions as JSON (`since` in ISO 8601)."""
    if not rt.conditions:
        update(rt)
    return [
        {k: v for k, v in c.items() if k != "since_ts"} | {"since": _iso(c["since_ts"])} for c in rt.conditions.values()
    ]


def telemetry_age(rt: WorkloadRuntime) -> float | None:
    """Age of the newest sample at the last decision, seconds (None: no decision, or no sample at all)."""
    d = rt.last
    return d.telemetry_age_s if d is not None and math.isfinite(d.telemetry_age_s) else None


def stall_after(engine: Engine) -> float:
    """Seconds without a finished round before the loop counts as stalled."""
    return max(STALL_FACTOR * engine.cfg.interval, MIN_STALL_S)


def loop(engine: Engine) -> dict[str, Any]:
    """DecisionLoopRunning: True while a round finished within stall_after(); False (Stalled) after; Unknown
    before the first round."""
    last = engine.last_tick_wall
    cond: dict[str, Any] = {"type": "DecisionLoopRunning"}
    if last is None or engine.last_tick_at is None:
        return cond | {
            "status": "Unknown",
            "reason": "NotStarted",
            "message": "no round has finished yet",
            "since": None,
        }
    quiet = time.monotonic() - engine.last_tick_at
    limit = stall_after(engine)
    if quiet > limit:
        why = f"no round finished for {quiet:.0f} s (limit {limit:.0f} s); the held decisions are still served"
        return cond | {"status": "False", "reason": "Stalled", "message": why, "since": _iso(last + limit)}
    # running since the first round, or since the round that ended the last stall
    since = engine.first_tick_wall if engine.recovered_at is None else engine.recovered_at
    msg = f"the last round finished {quiet:.0f} s ago"
    return cond | {"status": "True", "reason": "Running", "message": msg, "since": _iso(since)}
