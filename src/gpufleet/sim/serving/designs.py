"""Fleet designs for many models: which base models share replicas, replayed and scored together.

A design is a list of pools; each pool serves a set of base models (or every model no other pool serves) on its
own replicas under its own autoscaler, and a request goes to the pool of its base model. Pools share nothing, so
a design is replayed pool by pool and scored over all its requests together:
- `per-model`: one pool per base model, scaling to zero when idle (the first request after a quiet spell waits
  a cold start; a pool kept at one replica per model would cost a GPU per model around the clock);
- `shared`: one pool for every model, at least one replica; replicas switch pipelines (replica.switch);
- `hybrid`: the hot models (the most requested, which together make `hot_share` of the requests in the selection
  window, before the replay's figures) each on a pool of their own with at least one replica, the long tail on
  one shared pool.
Every design replays the same requests with the same service times (the work model's draws are made once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.profiles import ReplicaProfile
from gpufleet.sim.serving.replica import NONE, Pipelines, SwitchCosts
from gpufleet.sim.serving.run import ServingConfig, Slo, replay
from gpufleet.sim.serving.work import RequestWork, WorkModel

F64 = npt.NDArray[np.float64]
DESIGNS = ("per-model", "shared", "hybrid")
CONTROL_TYPES = ("IMG_2_IMG", "INPAINTING")  # requests that bring a control image load a ControlNet (assumed)


class Pool(BaseModel):
    """Replicas that serve `models` (None: every model no other pool of the design serves)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    models: list[str] | None = None
    min_replicas: int = Field(1, ge=0, description="never fewer replicas (0: scales to zero)")


class Design(BaseModel):
    """A named list of pools."""

    model_config = ConfigDict(extra="forbid")
    name: str
    pools: list[Pool]


def hot_models(requests: pl.DataFrame, until_s: float, share: float) -> list[str]:
    """The most requested base models before `until_s` that together make at least `share` of those requests."""
    head = requests.filter(pl.col("arrival_time") < until_s)
    counts = head.group_by("model").len().sort(["len", "model"], descending=[True, False])
    total = max(int(counts["len"].sum()), 1)
    hot: list[str] = []
    seen = 0
    for model, n in counts.iter_rows():
        if seen >= share * total:
            break
        hot.append(str(model))
        seen += n
    return hot


def build_design(name: str, models: list[str], hot: list[str]) -> Design:
    """per-model, shared or hybrid over `models` (the hot ones dedicated in the hybrid)."""
    if name == "per-model":
        return Design(name=name, pools=[Pool(name=m, models=[m], min_replicas=0) for m in models])
    if name == "shared":
        return Design(name=name, pools=[Pool(name="shared")])
    if name == "hybrid":
        return Design(name=name, pools=[*(Pool(name=m, models=[m]) for m in hot), Pool(name="tail")])
    raise ValueError(f"unknown design {name!r}; valid: {', '.join(DESIGNS)}")


def pipelines_of(requests: pl.DataFrame, rows: npt.NDArray[np.int64], popularity: list[str]) -> Pipelines:
    """What each replayed request (`rows` of `requests`) needs loaded: its base model; the LoRA adapters of its
    user group when it uses any (the trace names no adapter: one group's adapters stand for one set); a ControlNet
    for image-to-image and inpainting. Model codes follow `popularity` (most requested first), then the rest."""
    f = requests[rows.tolist()] if len(rows) else requests.clear()
    names = list(dict.fromkeys([*popularity, *sorted(set(f["model"].cast(pl.Utf8).fill_null("").to_list()))]))
    code = {m: k for k, m in enumerate(names)}
    model = np.array([code[m] for m in f["model"].cast(pl.Utf8).fill_null("").to_list()], dtype=np.int64)
    n_lora = (
        f["num_lora"].cast(pl.Int64).fill_null(0).to_numpy() if "num_lora" in f.columns else np.zeros(f.height, int)
    )
    clients = f["client"].cast(pl.Utf8).fill_null("").to_list() if "client" in f.columns else [""] * f.height
    groups = {c: k for k, c in enumerate(dict.fromkeys(clients))}
    lora = np.where(n_lora > 0, np.array([groups[c] for c in clients], dtype=np.int64), NONE)
    kinds = f["predict_type"].cast(pl.Utf8).fill_null("").to_list() if "predict_type" in f.columns else [""] * f.height
    control = np.array([CONTROL_TYPES.index(k) if k in CONTROL_TYPES else NONE for k in kinds], dtype=np.int64)
    return Pipelines(model, lora.astype(np.int64), n_lora.astype(np.int64), control, names)


@dataclass
class PoolResult:
    """One pool's share of a design's replay."""

    name: str
    models: int
    requests: int
    gpu_hours: float
    peak_replicas: int
    loads: dict[str, int]
    events: int


@dataclass
class DesignResult:
    """A design's replay: GPU-hours, latencies, switches and SLO attainment over every scored request."""

    design: str
    slo: str
    scored_from_s: float  # requests arriving from then on are scored, GPU-hours count from then
    requests_scored: int
    gpu_hours: float
    e2e_p50_s: float
    e2e_p99_s: float
    wait_p99_s: float
    switch_p99_s: float
    slo_attainment: float
    swaps: int  # base-model loads
    lora_loads: int
    controlnet_loads: int
    switch_hours: float  # replica-hours spent loading pipelines
    peak_replicas: int  # the most replicas ordered at once over every pool
    pools: list[PoolResult] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """Plain fields for --json and tables (pools as a count and a list)."""
        out = {k: v for k, v in self.__dict__.items() if k != "pools"}
        out["pool_count"] = len(self.pools)
        out["pools"] = [p.__dict__ for p in self.pools]
        return out


@dataclass
class _PoolRun:
    pool: Pool
    idx: npt.NDArray[np.int64]
    meter: FleetMeter
    last: float
    events: int
    models: int


def simulate_design(
    design: Design,
    requests: pl.DataFrame,
    work: RequestWork,
    model: WorkModel,
    profile: ReplicaProfile,
    cfg: ServingConfig,
    slo: Slo,
    switch_costs: SwitchCosts,
    popularity: list[str],
    score_from: list[float],
) -> list[DesignResult]:
    """Replay `work` (arrival from the trace's first request; `work.rows` its rows of `requests`) under `design`,
    scored from each of `score_from` (seconds) on: latencies of the requests arriving from then, GPU-hours from then."""
    models = requests["model"].cast(pl.Utf8).fill_null("").to_numpy()[work.rows]
    claimed = {m for p in design.pools if p.models is not None for m in p.models}
    n = len(work.arrival)
    finish, start, switch_s = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    runs: list[_PoolRun] = []
    for pool in design.pools:
        mine = np.isin(models, pool.models) if pool.models is not None else ~np.isin(models, list(claimed))
        idx = np.flatnonzero(mine)
        if not len(idx):
            continue
        sub = RequestWork(work.arrival[idx], work.prefill[idx], work.service[idx], work.rows[idx], 0)
        pipes = pipelines_of(requests, sub.rows, popularity)
        present = set(models[idx])
        default = next((pipes.names.index(m) for m in popularity if m in present), int(pipes.model[0]))
        pipes = Pipelines(pipes.model, pipes.lora, pipes.lora_n, pipes.control, pipes.names, default)
        # a pool that scales to zero starts empty; the others start sized for their first minute, at least the minimum
        # (set on a copy: the run's config, as commands take it, holds at least one replica)
        first = None if pool.min_replicas else 0
        pool_cfg = cfg.model_copy(update={"min_replicas": pool.min_replicas, "initial_replicas": first})
        r = replay(sub, model, profile, pool_cfg, pipelines=pipes, switch_costs=switch_costs, timeline=False)
        start[idx], finish[idx], switch_s[idx] = r.meter.start, r.meter.finish, r.meter.switch_s
        runs.append(_PoolRun(pool, idx, r.meter, r.end, r.sim.events, len(present)))
    end = float(np.nanmax(finish)) if n else 0.0
    out = []
    for since in score_from:
        scored = work.arrival >= since
        e2e = (finish - work.arrival)[scored]
        wait = (start - work.arrival)[scored]
        ttft = wait + switch_s[scored] + work.prefill[scored]
        metric = {"ttft": ttft, "e2e": e2e, "wait": wait}[slo.metric]
        pools = [_pool_result(p, since, end, profile.gpus) for p in runs]
        loads = {k: sum(p.loads[k] for p in pools) for k in ("base", "lora", "control")}
        lifetimes = [life for p in runs for life in _lifetimes(p, end)]
        out.append(
            DesignResult(
                design=design.name,
                slo=slo.text,
                scored_from_s=since,
                requests_scored=int(scored.sum()),
                gpu_hours=sum(p.gpu_hours for p in pools),
                e2e_p50_s=float(np.percentile(e2e, 50)),
                e2e_p99_s=float(np.percentile(e2e, 99)),
                wait_p99_s=float(np.percentile(wait, 99)),
                switch_p99_s=float(np.percentile(switch_s[scored], 99)),
                slo_attainment=float((metric <= slo.seconds).mean()),
                swaps=loads["base"],
                lora_loads=loads["lora"],
                controlnet_loads=loads["control"],
                switch_hours=sum(_load_s(p, since) for p in runs) / 3600,
                peak_replicas=peak([(max(o, since), g) for o, g in lifetimes]),
                pools=pools,
            )
        )
    return out


def _lifetimes(p: _PoolRun, end: float) -> list[tuple[float, float]]:
    """Each replica's [ordered, gone); a pool whose own requests ended before the trace's keeps its minimum until
    the trace's last request is served (its replay stopped at its own last request)."""
    out = [(o, g if g is not None else o) for o, g in zip(p.meter.ordered, p.meter.gone, strict=True)]
    if p.pool.min_replicas and end > p.last:
        out += [(p.last, end)] * p.pool.min_replicas
    return out


def _pool_result(p: _PoolRun, since: float, end: float, gpus: int) -> PoolResult:
    lives = _lifetimes(p, end)
    hours = sum(max(0.0, g - max(o, since)) for o, g in lives) * gpus / 3600
    starts = np.asarray(p.meter.switch_at, dtype=np.float64)
    kinds = p.meter.switch_kinds
    counted = {k: int(sum(1 for t, w in zip(starts, kinds, strict=True) if t >= since and w == k)) for k in LOADS}
    return PoolResult(
        name=p.pool.name,
        models=p.models,
        requests=len(p.idx),
        gpu_hours=hours,
        peak_replicas=peak([(max(o, since), g) for o, g in lives]),
        loads=counted,
        events=p.events,
    )


def _load_s(p: _PoolRun, since: float) -> float:
    return float(sum(s for t, s in zip(p.meter.switch_at, p.meter.switch_seconds, strict=True) if t >= since))


LOADS = ("base", "lora", "control")


def peak(lifetimes: list[tuple[float, float]]) -> int:
    """The most intervals [ordered, gone) open at once."""
    events = sorted([(o, 1) for o, g in lifetimes if g > o] + [(g, -1) for o, g in lifetimes if g > o])
    best = now = 0
    for _, d in events:  # at equal times a release (-1) sorts before an order (+1)
        now += d
        best = max(best, now)
    return best
