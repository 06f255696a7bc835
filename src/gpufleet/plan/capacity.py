"""Capacity search: the cheapest nodes to add to a fleet (or a whole fleet, from scratch) of some candidate GPU
types so that a replay of the workload meets a wait target; every probe is a full replay (docs/planning.md).

1. Singles: per candidate type, the fewest nodes of that type alone that meet the target. The statistic falls
   as nodes of one type are added, so a search over the count finds it: doubling until a count meets, then
   narrowing the bracket; each round probes `points` counts per type, all types' probes at once, in parallel.
2. Mixes: from the cheapest single answer, marginal-cost swaps: give up one node of a type in the mix for as
   many nodes of another as cost less (or give up as few nodes as pay for one node of a pricier, faster type),
   keep the cheapest swap that still meets the target, repeat; then trim each type to its fewest nodes with
   the others held (the same bracket search). Swaps and trims alternate until neither saves a dollar.
3. Evidence: the answer with one node fewer of each type it adds is replayed (or already was): each misses.
Jobs that no GPU type of the largest fleet considered can run count as waiting forever (or are left out with
`ignore_unschedulable`); either way the answer says how many.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.gpus import gpu_spec, known_gpu_models
from gpufleet.core.prices import HOURS_PER_MONTH, PriceTable
from gpufleet.core.schemas import JOBS, validate
from gpufleet.core.units import human_seconds
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.plan.capacity_probe import Target, fleet_label, fleet_nodes, never_runnable, probe
from gpufleet.sim.run import SimConfig
from gpufleet.sim.schedulers import SCHEDULERS

Mix = dict[str, int]


@dataclass
class CapacityQuestion:
    """What to size: the workload, the existing fleet (none: from scratch), the candidate types, the target."""

    jobs: pl.DataFrame
    candidates: list[str]
    target: Target
    cfg: SimConfig
    prices: PriceTable
    base_spec: str | None = None  # the existing fleet as a cluster spec, or
    base_nodes: pl.DataFrame | None = None  # as a NODES frame; neither: from scratch
    base_label: str = ""
    per_node: int = 8
    max_nodes: int = 512  # per candidate type
    ignore_unschedulable: bool = False
    points: int = 4  # counts probed per type per round (fixed, so the probes do not depend on the workers)
    notes: list[str] = field(default_factory=list)


def check_candidates(names: list[str], prices: PriceTable, option: str = "--add") -> list[str]:
    """Candidate types, canonical and priced; an unknown or unpriced one is one line naming it."""
    if not names:
        raise GpufleetError(f"{option}: name at least one GPU type, e.g. {option} A100,H100")
    out: list[str] = []
    for n in names:
        spec = gpu_spec(n)
        if not spec.known:
            raise GpufleetError(f"{option} {n!r}: unknown GPU type; known: {', '.join(known_gpu_models())}")
        if prices.rate(spec.name) is None:
            raise GpufleetError(f"{option} {n}: {prices.name} has no price for {spec.name}; give one in --prices")
        if spec.name not in out:
            out.append(spec.name)
    return out


class _Search:
    """The probes of one search: replays run through `plan.grids.map_tasks`, each fleet once (a cache)."""

    def __init__(self, q: CapacityQuestion, jobs: pl.DataFrame, predictions: pl.DataFrame | None, run: Any) -> None:
        self.q, self.jobs, self.predictions, self.run = q, jobs, predictions, run
        self.has_base = q.base_spec is not None or (q.base_nodes is not None and q.base_nodes.height > 0)
        self.seen: dict[tuple[tuple[str, int], ...], dict[str, Any]] = {}
        self.order: list[dict[str, Any]] = []

    def key(self, mix: Mix) -> tuple[tuple[str, int], ...]:
        return tuple(sorted((t, n) for t, n in mix.items() if n > 0))

    def cost(self, mix: Mix) -> float:
        """$ per month of the additions: GPUs x $/GPU-hour x 730."""
        q = self.q
        return sum(n * q.per_node * (q.prices.rate(t) or 0.0) * HOURS_PER_MONTH for t, n in mix.items())

    def probe(self, mixes: list[Mix], phase: str, full: bool = False) -> list[dict[str, Any]]:
        """Each mix's probe row, replaying only the fleets not seen before (all at once); `full`: replayed to
        the end (a row stopped early is replayed again), for the evidence's measured values."""
        q = self.q
        new = list(
            {
                self.key(m): m
                for m in mixes
                if self.key(m) not in self.seen or (full and self.seen[self.key(m)]["stopped_early"])
            }.values()
        )
        if not self.has_base and () in [self.key(m) for m in new]:
            new = [
                m for m in new if self.key(m)
            ]  # no fleet at all: nothing can run, every job waits forever (a replay would say so)
            self._record(
                {},
                phase,
                {
                    "value_s": math.inf if self.jobs.height else 0.0,
                    "unfinished": 0,
                    "unschedulable": self.jobs.height,
                    "stopped_early": False,
                    "wall_s": 0.0,
                },
            )
        tasks = [
            (
                self.jobs,
                q.base_spec,
                q.base_nodes,
                self.key(m),
                q.per_node,
                q.cfg.model_dump(),
                self.predictions,
                q.target,
                not full,
            )
            for m in new
        ]
        for m, r in zip(new, self.run(tasks), strict=True):
            self._record(m, phase, r)
        return [self.seen[self.key(m)] for m in mixes]

    def _record(self, m: Mix, phase: str, r: dict[str, Any]) -> None:
        q = self.q
        row = {
            "phase": phase,
            "fleet": fleet_label(q.base_label, dict(self.key(m)), q.per_node),
            "add": dict(self.key(m)),
            "gpus_added": sum(n for _, n in self.key(m)) * q.per_node,
            "usd_per_month": self.cost(m),
            "value_s": r["value_s"],
            "met": r["value_s"] <= q.target.limit_s,
            "unfinished": r["unfinished"],
            "unschedulable": r["unschedulable"],
            "stopped_early": r["stopped_early"],
            "wall_s": r["wall_s"],
        }
        if self.key(m) in self.seen:
            self.order.remove(self.seen[self.key(m)])
        self.seen[self.key(m)] = row
        self.order.append(row)

    def fewest(
        self, keys: list[str], mix_of: Callable[[str, int], Mix], phase: str, start: dict[str, int] | None = None
    ) -> dict[str, int | None]:
        """Per key (a type), the fewest nodes n in 0..max_nodes for which mix_of(key, n) meets the target
        (None: not even max_nodes), by doubling then narrowing, all keys' probes of a round at once. Probes
        already made seed the bracket; `start`: where the doubling of a key begins (a guess, never the answer's
        bound: the bracket search below it is the same)."""
        cap, k = self.q.max_nodes, max(1, self.q.points)
        miss = dict.fromkeys(keys, -1)
        met: dict[str, int | None] = dict.fromkeys(keys, None)
        for t in keys:  # what earlier probes already tell
            for n in range(cap + 1):
                row = self.seen.get(self.key(mix_of(t, n)))
                if row is not None and row["met"] and (met[t] is None or n < met[t]):  # type: ignore[operator]
                    met[t] = n
            for n in range(cap + 1):
                row = self.seen.get(self.key(mix_of(t, n)))
                if row is not None and not row["met"] and n > miss[t] and (met[t] is None or n < met[t]):  # type: ignore[operator]
                    miss[t] = n
        while True:
            want: dict[str, list[int]] = {}
            for t in keys:
                lo, hi = miss[t], met[t]
                if hi is None and lo < cap:
                    s0 = (start or {}).get(t, 0)
                    if lo < 0 and not s0:
                        pts = sorted({min(cap, 2**i - 1) for i in range(k)})
                    else:
                        first = max(lo + 1, 2 * lo, s0)
                        pts = sorted({min(cap, first * 2**i) for i in range(k)})
                elif hi is not None and hi - lo > 1:
                    gap = hi - lo
                    pts = sorted({lo + max(1, round(j * gap / (k + 1))) for j in range(1, k + 1)} - {hi})
                else:
                    continue
                want[t] = [p for p in pts if lo < p <= cap]
            if not want:
                return met
            mixes = [(t, n) for t, ns in want.items() for n in ns]
            rows = self.probe([mix_of(t, n) for t, n in mixes], phase)
            for (t, n), row in zip(mixes, rows, strict=True):
                if row["met"] and (met[t] is None or n < met[t]):  # type: ignore[operator]
                    met[t] = n
            for (t, n), row in zip(mixes, rows, strict=True):
                # a miss above a count that met (the statistic is not strictly monotone) narrows nothing
                if not row["met"] and n > miss[t] and (met[t] is None or n < met[t]):  # type: ignore[operator]
                    miss[t] = n


def _predictions(jobs: pl.DataFrame, cfg: SimConfig) -> pl.DataFrame | None:
    """The predictor's output for the jobs, once for every probe, when the scheduler reads predictions (the
    simulator would compute the same for each replay)."""
    if not SCHEDULERS.build(cfg.scheduler.name, cfg.scheduler.settings).uses_prediction:
        return None
    predictor = PREDICTORS.build(cfg.predictor.name, cfg.predictor.settings)
    return None if predictor.sees_future else predictor.predict(jobs)


def speed_of(cfg: SimConfig, gpu_type: str | None) -> float:
    """The speed factor a replay under `cfg` gives `gpu_type` (the simulator's rule: 'spec' = the GPU table
    relative to V100, a mapping = its value or 1.0, none = 1.0)."""
    if cfg.speeds == "spec":
        return gpu_spec(gpu_type or "").speed / gpu_spec("V100").speed if gpu_type else 1.0
    return float(cfg.speeds.get(gpu_type or "", 1.0)) if isinstance(cfg.speeds, dict) else 1.0


def _load_start(q: CapacityQuestion, jobs: pl.DataFrame) -> dict[str, int]:
    """Where each type's doubling starts: the nodes whose speed-weighted GPUs cover the workload's mean load
    (GPU-seconds of work over the submission span) beyond what the existing fleet covers. A wait target needs
    at least about that much, and starting there skips the probes of hopelessly small fleets."""
    known = jobs.filter(pl.col("duration").is_not_null())
    sub = known["submit_time"].to_numpy()
    span = float(sub.max() - sub.min()) if sub.size else 0.0
    if span <= 0:
        return {}
    load = float((known["num_gpus"] * known["duration"]).sum()) / span
    base = fleet_nodes(q.base_spec, q.base_nodes, {}, q.per_node)
    have = sum(g * speed_of(q.cfg, t) for g, t in zip(base["num_gpus"], base["gpu_type"], strict=True))
    return {t: max(1, math.floor((load - have) / (q.per_node * speed_of(q.cfg, t)))) for t in q.candidates}


def _swaps(mix: Mix, candidates: list[str], price: dict[str, float]) -> list[Mix]:
    """The marginal-cost moves from `mix` that save money: one node of t for k cheaper nodes of u (the most
    that cost less), or i nodes of t (the fewest that cost more) for one node of a pricier u."""
    out: list[Mix] = []
    for t in [t for t, n in mix.items() if n > 0]:
        for u in candidates:
            if u == t:
                continue
            if price[u] < price[t]:
                k = math.ceil(price[t] / price[u]) - 1
                out.append(mix | {t: mix[t] - 1, u: mix.get(u, 0) + k})
            else:
                i = math.floor(price[u] / price[t]) + 1
                if i <= mix[t]:
                    out.append(mix | {t: mix[t] - i, u: mix.get(u, 0) + 1})
    return out


def plan_capacity(
    q: CapacityQuestion,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """The cheapest addition (nodes per candidate type) whose replay meets q.target, with its evidence; the
    replays run in worker processes, or as Ray tasks given `ray_address` (one pool of workers, or one Ray
    runtime, for the whole search: it makes about ten rounds of probes)."""
    from gpufleet.plan.grids import ray_runtime, worker_pool

    if ray_address:
        with ray_runtime(ray_address, workers):
            return _plan(q, workers, ray_address, progress)
    with worker_pool(workers):
        return _plan(q, workers, None, progress)


def _plan(
    q: CapacityQuestion, workers: int | None, ray_address: str | None, progress: Callable[[int], Any] | None
) -> dict[str, Any]:
    from gpufleet.plan.grids import map_tasks

    jobs = validate(q.jobs, JOBS)
    cands = q.candidates
    ceiling = fleet_nodes(q.base_spec, q.base_nodes, dict.fromkeys(cands, q.max_nodes), q.per_node)
    never = never_runnable(jobs, ceiling, q.cfg)
    if q.ignore_unschedulable and never:
        jobs = jobs.filter(~pl.col("job_id").is_in(never))
    unsched = {
        "jobs": len(never),
        "share": len(never) / q.jobs.height if q.jobs.height else 0.0,
        "counted_as": "left out (--ignore-unschedulable)" if q.ignore_unschedulable else "waiting forever",
        "first": never[:20],
    }
    price = {t: q.per_node * (q.prices.rate(t) or 0.0) * HOURS_PER_MONTH for t in cands}
    replays = [0]

    def run(tasks: list[Any]) -> list[dict[str, Any]]:
        if not tasks:
            return []
        res = map_tasks(probe, tasks, workers, ray_address)
        replays[0] += len(tasks)
        if progress is not None:
            progress(replays[0])
        return res

    types = sorted({t for t in ceiling["gpu_type"].unique().to_list() if t})
    out: dict[str, Any] = {
        "unschedulable": unsched,
        "candidates": cands,
        "target": q.target.text(),
        "speed_factors": {t: speed_of(q.cfg, t) for t in types},
    }
    if not q.ignore_unschedulable and never:
        floor = pl.DataFrame({"status": ["unschedulable"] * len(never) + ["finished"] * (jobs.height - len(never))})
        floor = floor.with_columns(pl.lit(0.0).alias(q.target.metric))
        if q.target.value(floor) > q.target.limit_s:
            return out | _no_answer(
                f"{len(never):,} of {q.jobs.height:,} jobs ({unsched['share']:.1%}) can run on no GPU type of the"
                f" fleet or the candidates ({', '.join(cands)}); counted as waiting forever they keep"
                f" {q.target.name} above any limit: add their types or pass --ignore-unschedulable",
                [],
                0,
            )
    s = _Search(q, jobs, _predictions(jobs, q.cfg), run)
    if s.has_base and s.probe([{}], "existing fleet")[0]["met"]:
        best: Mix | None = {}
    else:
        singles = s.fewest(cands, lambda t, n: {t: n}, "one type", _load_start(q, jobs))
        found = {t: n for t, n in singles.items() if n is not None}
        if found:
            best = min(({t: n} for t, n in found.items()), key=s.cost)
        else:  # typed jobs may need several types: the same count of every candidate, then trimmed
            even = s.fewest(["*"], lambda _, n: dict.fromkeys(cands, n), "every type")["*"]
            best = None if even is None else dict.fromkeys(cands, even)
    if best is None:
        typed = jobs.filter(pl.col("gpu_type").is_not_null() & ~pl.col("gpu_type").is_in(cands))["gpu_type"]
        held = ", ".join(f"{t}: {n:,}" for t, n in sorted(typed.value_counts().iter_rows(), key=lambda r: -r[1]))
        return out | _no_answer(
            f"even {q.max_nodes} nodes of each of {', '.join(cands)} keep {q.target.name} above"
            f" {human_seconds(q.target.limit_s)}"
            + (f" (jobs typed for other GPUs wait for those alone: {held})" if held else ""),
            s.order,
            replays[0],
        )
    best = _improve(s, best, cands, price)
    fewer = [best | {t: n - 1} for t, n in best.items() if n > 0]
    minimality = s.probe(fewer, "one fewer", full=True)
    answer = s.probe([best], "answer", full=True)[0]
    misses = [r for r in minimality if not r["met"]]
    add = dict(s.key(best))
    return out | {
        "met": True,
        "add": add,
        "add_gpus": {t: n * q.per_node for t, n in add.items()},
        "gpus_added": sum(add.values()) * q.per_node,
        "fleet": answer["fleet"],
        "usd_per_month": s.cost(add),
        "usd_per_gpu_hour": {t: q.prices.rate(t) for t in add},
        "value_s": answer["value_s"],
        "answer_probe": answer,
        "minimality": minimality,
        "next_cheaper": max(misses, key=lambda r: r["usd_per_month"]) if misses else None,
        "probes": s.order,
        "replays": replays[0],
        "target_met": f"{q.target.name} {human_seconds(answer['value_s'])} <= {human_seconds(q.target.limit_s)}"
        + (f"; one node fewer misses ({human_seconds(misses[0]['value_s'])})" if len(misses) == 1 else ""),
        "answer": f"add {fleet_label('', add, q.per_node) or 'nothing'}: {q.target.name}"
        f" {human_seconds(answer['value_s'])} <= {human_seconds(q.target.limit_s)}",
    }


def _improve(s: _Search, best: Mix, cands: list[str], price: dict[str, float]) -> Mix:
    """Marginal-cost swaps, then per-type trims, until neither finds a cheaper mix that meets the target."""
    for _ in range(100):  # each pass lowers the cost; the bound only guards against a search that would not end
        start = s.cost(best)
        while True:
            moves = [m for m in _swaps(best, cands, price) if s.cost(m) < s.cost(best)]
            good = [m for m, r in zip(moves, s.probe(moves, "swap"), strict=True) if r["met"]]
            if not good:
                break
            best = min(good, key=s.cost)
        for t in sorted((t for t, n in best.items() if n > 0), key=lambda t: -price[t]):
            held = dict(best)
            n = s.fewest([t], _with(held), "trim")[t]
            if n is not None and n < best[t]:
                best = held | {t: n}
        if s.cost(best) >= start:
            return {t: n for t, n in best.items() if n > 0}
    return {t: n for t, n in best.items() if n > 0}


def _with(held: Mix) -> Callable[[str, int], Mix]:
    """mix_of for a trim: `held` with the count of one type replaced."""
    return lambda t, n: held | {t: n}


def _no_answer(why: str, probes: list[dict[str, Any]], replays: int) -> dict[str, Any]:
    return {"met": False, "answer": why, "add": None, "probes": probes, "replays": replays}
