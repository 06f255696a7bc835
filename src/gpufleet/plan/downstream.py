"""What runtime predictions are worth downstream (`gpufleet backtest runtime`): average JCT of the
prediction-driven schedulers (SJF, QSSF) with each predictor, beside FIFO (the floor) and the oracle (the
ceiling), with nudged replays that show how far one non-preemptive replay can move."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.plan.grids import map_tasks
from gpufleet.sim.run import SimConfig, simulate

NUDGE_SD = 0.01  # log-scale s.d. of the nudges: 1%, far below any runtime model's own error


def nudge(preds: pl.DataFrame, seed: int, sd: float = NUDGE_SD) -> pl.DataFrame:
    """Runtime predictions (p10, p50, p90) each multiplied by exp(N(0, sd)), one draw per job, seeded."""
    k = pl.Series(np.exp(np.random.default_rng(seed).normal(0.0, sd, preds.height)))
    return preds.with_columns(*(pl.col(c) * k for c in ("p10", "p50", "p90")))


DEFAULT_NUDGES = 5  # one non-preemptive replay can move several points under a 1% nudge: report a mean


def _replay(args: tuple[pl.DataFrame, pl.DataFrame, dict[str, Any], pl.DataFrame | None]) -> float:
    jobs, nodes, cfg, preds = args
    return float(simulate(jobs, nodes, SimConfig(**cfg), predictions=preds).summary.avg_jct_s)


def downstream(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    predictors: list[str],
    schedulers: tuple[str, ...] = ("sjf", "qssf"),
    nudges: int = DEFAULT_NUDGES,
    fixed: bool = False,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Average JCT of each prediction-driven scheduler with each predictor, beside FIFO and the oracle.

    Per scheduler: a `fifo` row (no prediction: the floor any predictor must beat), an `oracle` row (true
    durations: the ceiling), and one row per predictor with waiting jobs refreshed from their submission
    mates (the default), plus, with `fixed`, predictions fixed at submission. Each predictor row is also
    replayed `nudges` times with every prediction multiplied by exp(N(0, 0.01)) (seeds 1..nudges): one
    non-preemptive replay's JCT can move by several points under such a nudge (which long job grabs a node
    first cascades), so the nudged mean is the figure to compare and its min..max the noise band.
    `gain_captured` = (FIFO - predictor) / (FIFO - oracle) in average JCT (nudged mean when nudged): the
    share of what perfect knowledge of runtimes would gain over FIFO that this predictor gets."""
    preds = {p: PREDICTORS.build(p).predict(jobs) for p in predictors if p != "oracle"}  # one causal pass each
    tasks: list[Any] = []
    keys: list[tuple[str, str, str, int]] = []
    tasks.append((jobs, nodes, SimConfig(scheduler="fifo").model_dump(), None))
    keys.append(("fifo", "fifo", "-", 0))
    for s in schedulers:
        tasks += [(jobs, nodes, SimConfig(scheduler=s, predictor="oracle").model_dump(), None)]
        keys.append((s, "oracle", "-", 0))
        for p, pr in preds.items():
            for gap, label in [(SimConfig().mate_gap_s, "refreshed")] + ([(0.0, "fixed")] if fixed else []):
                cfg = SimConfig(scheduler=s, predictor=p, mate_gap_s=gap).model_dump()
                for seed in range(nudges + 1):
                    tasks.append((jobs, nodes, cfg, pr if seed == 0 else nudge(pr, seed)))
                    keys.append((s, p, label, seed))
    jct = dict(zip(keys, map_tasks(_replay, tasks, workers), strict=True))
    rows: list[dict[str, Any]] = []
    for s in schedulers:
        fifo, oracle = jct[("fifo", "fifo", "-", 0)], jct[(s, "oracle", "-", 0)]
        span = fifo - oracle
        rows.append(_row(s, "fifo", "-", fifo, oracle, [], fifo, span))
        rows.append(_row(s, "oracle", "-", oracle, oracle, [], fifo, span))
        for p in preds:
            for label in ["refreshed"] + (["fixed"] if fixed else []):
                nudged = [jct[(s, p, label, k)] for k in range(1, nudges + 1)]
                rows.append(_row(s, p, label, jct[(s, p, label, 0)], oracle, nudged, fifo, span))
    return rows


def _row(
    s: str, p: str, mates: str, jct: float, oracle: float, nudged: list[float], fifo: float, span: float
) -> dict[str, Any]:
    """One downstream row: the single replay, the nudged mean and range (as ratios to the oracle), the gain."""
    r = [x / oracle for x in nudged] if oracle else []
    figure = float(np.mean(nudged)) if nudged else jct
    return {
        "scheduler": s,
        "predictor": p,
        "mates": mates,
        "avg_jct_s": jct,
        "vs_oracle": jct / oracle if oracle else None,
        "nudged_mean": float(np.mean(r)) if r else None,
        "nudged_min": min(r) if r else None,
        "nudged_max": max(r) if r else None,
        # the share of FIFO's excess over the oracle that this row removes (1 = all of it)
        "gain_captured": (fifo - figure) / span if span > 0 else None,
    }


def gains_across_traces(effect: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per scheduler and predictor across traces: gain_captured's median and minimum."""
    acc: dict[tuple[str, str, str], list[float]] = {}
    for rows in effect.values():
        for r in rows:
            if r["predictor"] not in ("fifo", "oracle") and r["gain_captured"] is not None:
                acc.setdefault((r["scheduler"], r["predictor"], r["mates"]), []).append(r["gain_captured"])
    return [
        {
            "scheduler": s,
            "predictor": p,
            "mates": m,
            "traces": len(v),
            "gain_captured_median": float(np.median(v)),
            "gain_captured_min": min(v),
        }
        for (s, p, m), v in acc.items()
    ]
