"""Running a right-sizer over a fleet, and judging it honestly: fit on the early part of the timeline,
count how often the proposals fall short on the later part it never saw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from gpufleet.optimizer.rightsizing.base import (
    RIGHTSIZERS,
    GpuProposal,
    GroupBy,
    History,
    Recommendation,
    attributed,
    exceeded,
    guess_model,
    histories,
)


def recommend_all(
    samples: pl.DataFrame,
    sizer: str = "vpa",
    *,
    settings: Mapping[str, Any] | None = None,
    by: GroupBy = "prefix",
    gpu_model: str | None = None,
    requests: pl.DataFrame | None = None,
) -> tuple[list[Recommendation], dict[str, Any]]:
    """Recommendations for every workload by `sizer` with `settings`, ranked by GPUs saved; plus notes on
    assumptions made."""
    rs = RIGHTSIZERS.build(sizer, settings)  # first: a bad name or setting fails before any work
    total = samples.height
    samples, dropped = attributed(samples)
    hs = histories(samples, by=by, gpu_model=gpu_model, requests=requests)
    notes: dict[str, Any] = {"workloads": len(hs), "samples": total, "samples_without_pod_left_out": dropped}
    if gpu_model is None and hs and all(h.gpu_model is None for h in hs):
        guessed = guess_model(hs)
        notes["assumed_gpu_model"] = guessed
        hs = histories(samples, by=by, gpu_model=guessed, requests=requests)
    recs = [rs.recommend(h) for h in hs]
    recs.sort(key=lambda r: (not r.opinion, -(r.gpus_saved or 0.0), r.workload))
    return recs, notes


def _shortfall(h: History, rec: Recommendation) -> float:
    """Share of `h`'s samples the recommendation (made on other data) would not have covered."""
    if rec.proposed_gpus is None:
        return 0.0
    compute = rec.proposed_compute if rec.proposed_compute is not None else rec.proposed_gpus
    return exceeded(h, GpuProposal(rec.proposed_gpus, compute, rec.proposed_gpu_mem_bytes or np.inf, rec.proposed_mig))


def holdout(
    samples: pl.DataFrame,
    sizer: str = "vpa",
    *,
    settings: Mapping[str, Any] | None = None,
    train_frac: float = 0.5,
    by: GroupBy = "prefix",
    gpu_model: str | None = None,
) -> dict[str, Any]:
    """Fit on the first `train_frac` of the timeline, score on the rest (split by time, never at random).

    Returns fleet figures (GPUs held now vs proposed by the workloads with an opinion, share of later
    samples not covered) and one row per workload."""
    t0, t1 = samples["ts"].min(), samples["ts"].max()
    cut = t0 + (t1 - t0) * train_frac  # type: ignore[operator]
    train, test = samples.filter(pl.col("ts") < cut), samples.filter(pl.col("ts") >= cut)
    recs, notes = recommend_all(train, sizer, settings=settings, by=by, gpu_model=gpu_model)
    model = gpu_model or notes.get("assumed_gpu_model")
    later = {h.workload: h for h in histories(attributed(test)[0], by=by, gpu_model=model)}
    rows: list[dict[str, Any]] = []
    for r in recs:
        h = later.get(r.workload)
        if not r.opinion or h is None or r.proposed_gpus is None:
            continue
        rows.append(
            {
                "workload": r.workload,
                "current_gpus": r.current_gpus,
                "proposed_gpus": r.proposed_gpus,
                "proposed_mig": r.proposed_mig,
                "pods": r.pods,
                "risk_train": r.risk,
                "shortfall_test": _shortfall(h, r),
                "test_samples": h.samples,
            }
        )
    held = sum((r["current_gpus"] or 0) * r["pods"] for r in rows)
    proposed = sum(r["proposed_gpus"] * r["pods"] for r in rows)
    weights = np.array([r["test_samples"] for r in rows], dtype=float)
    short = np.array([r["shortfall_test"] for r in rows], dtype=float)
    return {
        "sizer": sizer,
        "train_until": str(cut),
        "workloads": len(recs),
        "with_opinion": len(rows),
        "no_opinion": sum(not r.opinion for r in recs),
        "gpus_held": held,
        "gpus_proposed": proposed,
        "gpus_saved": held - proposed,
        "saved_share": (held - proposed) / held if held else 0.0,
        "test_shortfall": float((short * weights).sum() / weights.sum()) if weights.sum() else 0.0,
        "workloads_short_over_1pct": int((short > 0.01).sum()),
        **notes,
        "rows": rows,
    }
