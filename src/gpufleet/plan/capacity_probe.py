"""One probe of the capacity search: a fleet (the existing one plus some nodes per candidate type) replayed, and
the target's statistic measured over every job, the ones that never ran counted as waiting forever.

Summary's percentiles are over finished jobs only (sim/run.py job_stats): a fleet that leaves 20% of the jobs
queued, or cannot run the jobs typed for a GPU it lacks, would look fast there. Here each unfinished or
unschedulable job is an infinite wait (and completion time), so it weighs on the percentile; when every job
finishes the value is exactly the summary's.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.durations import parse_duration
from gpufleet.core.errors import GpufleetError
from gpufleet.optimizer.packing import fits_ever
from gpufleet.optimizer.packing.pools import pool_rule
from gpufleet.sim.cluster_spec import parse_spec, view_from_nodes
from gpufleet.sim.run import SimConfig, simulate

_TARGET = re.compile(r"^\s*(avg|p\d+(?:\.\d+)?)_(wait|jct)\s*<=\s*(.+?)\s*$")
TARGET_HELP = "METRIC<=DURATION, METRIC one of avg_wait, p50_wait, p95_wait, p99_wait (or _jct), e.g. p95_wait<=1h"


@dataclass(frozen=True)
class Target:
    """What the fleet must achieve: a statistic of per-job waits (or completion times) at most `limit_s`."""

    stat: str  # "avg" or "pNN"
    metric: str  # "wait" or "jct"
    limit_s: float

    @property
    def name(self) -> str:
        """'p95_wait'."""
        return f"{self.stat}_{self.metric}"

    def value(self, jobs: pl.DataFrame) -> float:
        """The statistic over a replay's job frame (status, wait, jct); a job that did not finish counts as inf."""
        if jobs.height == 0:
            return 0.0
        done = jobs["status"] == "finished"
        x = np.where(done.to_numpy(), jobs[self.metric].fill_null(math.inf).to_numpy(), math.inf).astype(float)
        if self.stat == "avg":
            return float(x.mean())
        q = float(self.stat[1:]) / 100
        # linear interpolation as Summary's percentiles; a neighbour at inf makes the value inf, never nan
        pos = q * (x.size - 1)
        xs = np.sort(x)
        lo, hi = xs[math.floor(pos)], xs[math.ceil(pos)]
        if math.isinf(hi):
            return math.inf if pos > math.floor(pos) or math.isinf(lo) else float(lo)
        return float(np.quantile(x, q))

    def text(self) -> str:
        """'p95_wait<=1.0h'."""
        from gpufleet.core.units import human_seconds

        return f"{self.name}<={human_seconds(self.limit_s)}"


def parse_target(text: str, option: str = "--target") -> Target:
    """'p95_wait<=1h' -> Target; anything else is one line naming the option."""
    m = _TARGET.match(text or "")
    if not m:
        raise GpufleetError(f"{option} {text!r}: expected {TARGET_HELP}")
    stat, metric, limit = m.groups()
    if stat != "avg" and not 0 < float(stat[1:]) <= 100:
        raise GpufleetError(f"{option} {text!r}: a percentile is p1 to p100")
    return Target(stat, metric, parse_duration(limit, f"{option} {stat}_{metric}", positive=False))


def add_spec(add: dict[str, int], per_node: int) -> str:
    """The additions as a cluster spec ('12x8:A100,3x8:H100'); '' for none."""
    return ",".join(f"{n}x{per_node}:{t}" for t, n in add.items() if n > 0)


def fleet_nodes(
    base_spec: str | None, base_nodes: pl.DataFrame | None, add: dict[str, int], per_node: int
) -> pl.DataFrame:
    """The existing fleet plus the additions. A spec base and the additions make one spec, so the fleet is the
    very one `gpufleet simulate --cluster <that spec>` replays (node names and order included)."""
    extra = add_spec(add, per_node)
    if base_spec is not None:
        return parse_spec(",".join(p for p in (base_spec, extra) if p))
    base = base_nodes if base_nodes is not None else parse_spec("1x1:V100").clear()
    if not extra:
        return base
    added = parse_spec(extra).with_columns(("added-" + pl.col("node_id")).alias("node_id"))
    return pl.concat([base, added], how="diagonal_relaxed")


def fleet_label(base_label: str, add: dict[str, int], per_node: int) -> str:
    """How the answer names a fleet: '40x8:V100 + 12x8:A100'."""
    extra = add_spec(add, per_node)
    return " + ".join(p for p in (base_label, extra) if p) or "(no nodes)"


def never_runnable(jobs: pl.DataFrame, nodes: pl.DataFrame, cfg: SimConfig) -> list[str]:
    """Jobs no node of `nodes` could ever hold (the simulator's own test): typed for a GPU the fleet lacks,
    or wider than any node when gangs may not span nodes. Called with the largest fleet the search considers."""
    if jobs.height == 0:
        return []
    view = view_from_nodes(nodes)
    jobs = pool_rule(jobs, nodes)[0]  # the simulator's rule: a job naming a node pool runs only there
    cols = [c for c in ("num_gpus", "num_cpus", "mem_bytes", "gpu_type", "rdma", "pool") if c in jobs.columns]
    shapes = jobs.select(cols).unique()
    bad = []
    for row in shapes.iter_rows(named=True):
        req = view.request(
            float(row["num_gpus"]),
            float(row.get("num_cpus") or 0),
            float(row.get("mem_bytes") or 0),
            row.get("gpu_type"),
            float(row.get("rdma") or 0),
            row.get("pool"),
        )
        if not fits_ever(view, req, chunk=cfg.chunk_gpus, multi_node=cfg.multi_node):
            bad.append(row)
    if not bad:
        return []
    return jobs.join(pl.DataFrame(bad, schema=shapes.schema), on=cols, how="semi", nulls_equal=True)["job_id"].to_list()


class _Missed(Exception):
    """Raised by EarlyMiss to end a replay whose target is already out of reach."""


class EarlyMiss:
    """Ends a replay as soon as the target can no longer be met: for a percentile, once so many jobs waited
    (or will wait) past the limit that the percentile is past it whatever the rest do; for a mean, once the
    waits seen add up past limit x jobs. Waits only grow, so the stop never turns a meeting fleet into a miss.
    An overloaded fleet is thus measured in seconds, not in the minutes its growing queue would take."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.over, self.total = 0, 0.0

    def attach(self, sim: Any) -> None:
        """Read the run's submit times and size."""
        self.submit, n = sim.wl.submit, sim.wl.n
        self.started = [False] * n
        q = 1.0 if self.target.stat == "avg" else float(self.target.stat[1:]) / 100
        self.enough = n - math.floor(q * (n - 1))  # this many past the limit put the percentile past it
        self.budget = self.target.limit_s * n

    def on_job(self, t: float, what: str, i: int) -> None:
        """Count waits past the limit as jobs first start (or are found unschedulable)."""
        if what == "unschedulable":
            wait = math.inf
        elif what == "start" and not self.started[i]:
            self.started[i] = True
            wait = t - self.submit[i]
        else:
            return
        if self.target.metric != "wait":
            return  # a completion time is only known at the finish: no early stop for jct targets
        self.total += wait
        self.over += wait > self.target.limit_s
        if self.over >= self.enough if self.target.stat != "avg" else self.total > self.budget:
            raise _Missed


def probe(task: tuple[Any, ...]) -> dict[str, Any]:
    """Replay one fleet (a worker's task: jobs, base spec, base nodes, additions, per-node GPUs, config, the
    predictor's output or None, target, stop early) and measure it."""
    jobs, base_spec, base_nodes, add, per_node, cfg, predictions, target, stop_early = task
    t0 = time.perf_counter()
    nodes = fleet_nodes(base_spec, base_nodes, dict(add), per_node)
    early = [EarlyMiss(target)] if stop_early else None
    try:
        res = simulate(jobs, nodes, SimConfig(**cfg), early, predictions)
    except _Missed:
        return {
            "add": dict(add),
            "value_s": math.inf,
            "stopped_early": True,
            "finished": None,
            "unfinished": None,
            "unschedulable": None,
            "gpus": float(nodes["num_gpus"].sum()),
            "wall_s": time.perf_counter() - t0,
        }
    s = res.summary
    return {
        "add": dict(add),
        "value_s": target.value(res.jobs),
        "stopped_early": False,
        "finished": s.finished,
        "unfinished": s.unfinished,
        "unschedulable": s.unschedulable,
        "gpus": s.cluster_gpus,
        "wall_s": time.perf_counter() - t0,
    }
