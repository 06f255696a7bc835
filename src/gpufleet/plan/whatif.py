"""The live hook's what-if (/v1/what-if): a workload's recent arrivals replayed under its current policy and a
proposed one. The hook reads the telemetry and answers the request; the replay is here, so the hook itself
never imports the simulator."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.optimizer.autoscaling import Guardrails
from gpufleet.sim.serving import ServingConfig, simulate_serving


def requests_from_arrivals(counts: np.ndarray, service_s: float) -> pl.DataFrame:
    """One request per arrival (`counts[i]` arrivals in second i, spread evenly inside it), each holding a
    slot for `service_s`."""
    k = np.round(counts).astype(np.int64)
    sec = np.repeat(np.arange(len(k)), k)
    within = (np.arange(len(sec)) - np.repeat(np.cumsum(k) - k, k) + 0.5) / np.repeat(np.maximum(k, 1), k)
    return pl.DataFrame(
        {"request_id": [f"r{i}" for i in range(len(sec))], "arrival_time": sec + within, "service_time": service_s}
    )


def replay_policies(
    reqs: pl.DataFrame,
    policies: list[tuple[str, str, dict[str, Any]]],
    *,
    slo: str,
    cold_start_s: float,
    guardrails: Guardrails,
) -> dict[str, dict[str, Any]]:
    """Per (label, policy, settings): the replay's GPU-hours and SLO attainment; a bad policy or setting is a
    ValueError whose message says which."""
    out: dict[str, dict[str, Any]] = {}
    for label, policy, settings in policies:
        cfg = ServingConfig(
            policy=policy,
            settings=settings,
            slo=slo,
            cold_start_s=cold_start_s,
            min_replicas=max(1, guardrails.min_replicas),
            max_replicas=guardrails.max_replicas,
            max_step=guardrails.max_step,
        )
        try:
            s = simulate_serving(reqs, cfg).summary
        except GpufleetError as e:
            raise ValueError(str(e)) from None
        out[label] = {
            "policy": policy,
            "gpu_hours": s.gpu_hours,
            "slo": s.slo,
            "slo_attainment": s.slo_attainment,
            "slo_met": s.slo_met,
        }
    return out
