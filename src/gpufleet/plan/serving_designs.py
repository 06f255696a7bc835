"""Comparing fleet designs for many models on a request trace (`gpufleet serving-designs`, the designs bench):
the measured switch costs, the hot models and the SLO chosen from the selection window, every design replayed.

The selection window is the first `select_share` of the trace by time (default 2/3, the same window the diffusion
work model was fitted on): the hot models and the default SLO come from it, never from the figures reported.
Each design is scored over the whole trace (after the warm-up) and over the held-back rest alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.errors import GpufleetError, TraceError
from gpufleet.sim.serving.designs import (
    DESIGNS,
    DesignResult,
    build_design,
    hot_models,
    pipelines_of,
    simulate_design,
)
from gpufleet.sim.serving.profiles import load_profile
from gpufleet.sim.serving.replica import Pipelines, SwitchCosts
from gpufleet.sim.serving.run import ServingConfig, parse_slo, prepare, warmup_for
from gpufleet.traces import load

# the measured load latencies (seconds) each switch draws from
SWITCH_REFS = {"base": "genai:basemodel-update", "lora": "genai:lora-update", "control": "genai:controlnet-update"}


def load_switch_costs(data_dir: str | Path | None) -> SwitchCosts:
    """Base-model, LoRA and ControlNet load times from the genai traces (every sample, as measured)."""
    values = {
        k: load(ref, data_dir).frame["y"].cast(pl.Float64).drop_nulls().to_numpy() for k, ref in SWITCH_REFS.items()
    }
    return SwitchCosts(base=values["base"], lora=values["lora"], control=values["control"])


def has_models(frame: pl.DataFrame) -> bool:
    """Whether requests name the base model each one needs (a `model` column with a value)."""
    return "model" in frame.columns and frame["model"].null_count() < frame.height


def shared_pool(frame: pl.DataFrame, cfg: ServingConfig, costs: SwitchCosts, select_share: float = 2 / 3) -> Pipelines:
    """What each request of a replay of `frame` under `cfg` needs loaded on one shared pool (the `shared` design):
    new replicas come up with the most requested base model of the selection window (the first `select_share` of
    the trace by time), never chosen from the figures reported."""
    w = prepare(frame, cfg).work
    t = frame["arrival_time"].cast(pl.Float64)
    t0 = float(t.min())  # type: ignore[arg-type]
    until = t0 + select_share * (float(t.max()) - t0)  # type: ignore[arg-type]
    popularity = hot_models(frame.filter(pl.col("arrival_time") < until), until, 1.0)
    return pipelines_of(frame, w.rows, popularity)


def replay_pipelines(
    frame: pl.DataFrame, cfg: ServingConfig, swaps: bool | None, data_dir: str | Path | None
) -> tuple[Pipelines | None, SwitchCosts | None, str | None]:
    """(pipelines, switch costs, a note) of one replay of `frame` under `cfg`: a shared pool that swaps base models
    (`shared_pool`) when `swaps`, or by default (None) when the requests name base models and the profile is not an
    LLM; (None, None, why not) otherwise. `--swaps` that cannot be honoured is one line."""
    if swaps is False:
        return None, None, None
    llm = load_profile(cfg.profile).work == "llm"
    if swaps and llm:
        raise GpufleetError(
            "--swaps: the load times are measured on diffusion pipelines (genai:*-update); loading an LLM's weights"
            " is not modelled: use a diffusion or fixed profile, or --no-swaps"
        )
    if not has_models(frame):
        if swaps:
            raise GpufleetError("--swaps: the requests name no base model (no `model` column): nothing to swap")
        return None, None, None
    if llm:
        return None, None, None
    try:
        costs = load_switch_costs(data_dir)
    except TraceError as e:
        if swaps:
            raise GpufleetError(f"--swaps needs the measured load times: {e}") from None
        return None, None, f"swaps not modelled: {e} (every replica serves every model without loading)"
    return shared_pool(frame, cfg, costs), costs, None


def default_slo(service: np.ndarray, costs: SwitchCosts) -> tuple[str, str]:
    """e2e_p99 <= the selection window's p99 service time plus one base-model load at its p90, rounded up to 10 s;
    and why, in words."""
    p99 = float(np.percentile(service, 99))
    load90 = float(np.percentile(costs.base, 90))
    bound = math.ceil((p99 + load90) / 10) * 10
    why = (
        f"the slowest 1% may take what the slowest 1% of runs take in the selection window ({p99:.0f} s) plus one"
        f" base-model load at its p90 ({load90:.1f} s)"
    )
    return f"e2e_p99<={bound}", why


@dataclass
class DesignsReport:
    """Every design's results over the whole trace and over the held-back window, with what was chosen before."""

    requests: int
    selection_until_s: float
    hot: list[str]
    hot_share: float
    slo: str
    slo_why: str
    policy: str
    results: dict[str, list[DesignResult]] = field(default_factory=dict)  # design -> [whole trace, held back]
    wall_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "requests": self.requests,
            "selection_until_s": self.selection_until_s,
            "hot_models": self.hot,
            "hot_share": self.hot_share,
            "slo": self.slo,
            "slo_why": self.slo_why,
            "policy": self.policy,
            "designs": {
                d: {"whole": rs[0].row(), "held_back": rs[1].row(), "wall_s": self.wall_s[d]}
                for d, rs in self.results.items()
            },
        }


def compare_designs(
    frame: pl.DataFrame,
    costs: SwitchCosts,
    *,
    designs: list[str],
    cfg: ServingConfig,
    slo: str | None = None,
    hot_share: float = 0.5,
    select_share: float = 2 / 3,
) -> DesignsReport:
    """Replay `frame` under each design (one autoscaler policy, the profile's work model)."""
    for d in designs:
        if d not in DESIGNS:
            raise GpufleetError(f"--designs: unknown design {d!r}; valid: {', '.join(DESIGNS)}")
    if "model" not in frame.columns or frame["model"].null_count() == frame.height:
        raise GpufleetError("--requests: no `model` column: a fleet design sends each request to its base model's pool")
    p = prepare(frame, cfg)
    w = p.work
    t0 = float(frame["arrival_time"].cast(pl.Float64).min())  # type: ignore[arg-type]
    until = t0 + select_share * (float(frame["arrival_time"].cast(pl.Float64).max()) - t0)  # type: ignore[arg-type]
    selection = frame.filter(pl.col("arrival_time") < until)
    hot = hot_models(selection, until, hot_share)
    popularity = hot_models(selection, until, 1.0)
    window = w.arrival < until - t0
    slo_text, why = (slo, "given") if slo is not None else default_slo(w.service[window], costs)
    parsed = parse_slo(slo_text)
    models = sorted(set(frame["model"].cast(pl.Utf8).fill_null("").to_list()))
    report = DesignsReport(frame.height, until - t0, hot, hot_share, parsed.text, why, cfg.policy)
    score_from = [warmup_for(w.arrival, cfg.warmup_s), until - t0]
    for name in designs:
        began = time.perf_counter()
        design = build_design(name, models, hot)
        report.results[name] = simulate_design(
            design, frame, w, p.model, p.profile, cfg, parsed, costs, popularity, score_from
        )
        report.wall_s[name] = time.perf_counter() - began
    return report
