"""Metrics as observers: per-job records from job transitions, a timeline sampled every `step` seconds.

Timeline semantics: the sample at grid time g is the state after every event at a time <= g. Between
two event times the state does not change, so each sample is taken just before the first event after
it, from the state the previous events left.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from gpufleet.optimizer.packing import ClusterView

NAN = math.nan


class JobRecorder:
    """First start, finish, preemptions and nodes of every job, from 'start'/'preempt'/'finish' events."""

    def __init__(self, n: int, view: ClusterView, placements: list[Any]) -> None:
        self.first_start = [NAN] * n
        self.finish = [NAN] * n
        self.preemptions = [0] * n
        self.unschedulable = [False] * n
        self.nodes = [""] * n
        self._view, self._placements = view, placements

    def on_job(self, t: float, what: str, i: int) -> None:
        """Record one transition."""
        if what == "start":
            if self.first_start[i] != self.first_start[i]:  # NaN: first start
                self.first_start[i] = t
            p = self._placements[i]
            self.nodes[i] = ",".join(self._view.node_ids[n] for n in p.nodes)
        elif what == "finish":
            self.finish[i] = t
        elif what == "preempt":
            self.preemptions[i] += 1
        elif what == "unschedulable":
            self.unschedulable[i] = True


class Timeline:
    """Allocated, idle and stranded GPUs, running and queued jobs every `step` seconds of simulated time."""

    def __init__(self, sim: Any, step: float, start: float) -> None:
        self.sim, self.step = sim, step
        self.next = math.floor(start / step) * step
        self.last_t = start
        self.area = 0.0  # integral of allocated GPUs over time, for the time-weighted average
        self.cols: dict[str, list[Any]] = {
            k: [] for k in ("t", "allocated_gpus", "idle_gpus", "stranded_gpus", "running_jobs", "queued_jobs")
        }

    def before(self, t: float, kind: int, payload: Any) -> None:
        """Account the interval since the previous event and emit grid samples that fall in it."""
        if t <= self.last_t:
            return
        self.area += self.sim.allocated * (t - self.last_t)
        self.last_t = t
        if t > self.next:
            self._emit_until(t)

    def close(self, t_end: float) -> None:
        """Emit the samples up to and including the end of the run."""
        if t_end > self.last_t:
            self.area += self.sim.allocated * (t_end - self.last_t)
            self.last_t = t_end
        self._emit_until(t_end + self.step * 1e-9 + 1e-9)

    def _emit_until(self, t: float) -> None:
        k = math.ceil((t - self.next) / self.step)
        if k <= 0:
            return
        sim = self.sim
        alloc = round(sim.allocated, 6)
        snap = (alloc, round(sim.total_gpus - alloc, 6), stranded(sim), len(sim.running), len(sim.queue))
        self.cols["t"].extend((self.next + np.arange(k) * self.step).tolist())
        for name, v in zip(list(self.cols)[1:], snap, strict=True):
            self.cols[name].extend([v] * k)
        self.next += k * self.step

    def frame(self) -> pl.DataFrame:
        """The samples as a frame."""
        return pl.DataFrame(
            self.cols,
            schema={
                "t": pl.Float64,
                "allocated_gpus": pl.Float64,
                "idle_gpus": pl.Float64,
                "stranded_gpus": pl.Float64,
                "running_jobs": pl.Int64,
                "queued_jobs": pl.Int64,
            },
        )


def stranded(sim: Any) -> float:
    """Idle GPU capacity that the smallest queued request cannot use where it sits (0 with an empty queue).

    With a smallest request of s whole GPUs (capped at the node size), the free capacity of every node
    that has fewer than s whole GPUs free is stranded; with a fractional smallest request f, the free
    slivers smaller than f on partly used GPUs are. CPU and memory are not considered.
    """
    sizes = [g for g, c in sim.queued_sizes.items() if c > 0 and g > 0]
    if not sizes:
        return 0.0
    s = min(sizes)
    v = sim.view
    if s >= 1.0 - 1e-9:
        need = np.minimum(math.ceil(s - 1e-9), v.gpu_total)
        return float(v.free_sum[(v.whole_free < need) & (v.gpu_total > 0)].sum())
    return float(sum(x for row in v.rows for x in row if 1e-9 < x < s - 1e-9))


class GroupTimeline:
    """Per group (team / VC / queue): GPUs in use, running and queued jobs every `step` seconds, and the
    exact time integrals of GPUs used and borrowed (from job transitions, so preemptions count).

    With a quota (`quota` given, one group per queue), the samples also hold the nominal quota and the
    GPUs borrowed above it.
    """

    def __init__(
        self, sim: Any, names: list[str], group_of: list[int], step: float, start: float, quota: Any = None
    ) -> None:
        self.sim, self.names, self.group_of, self.step, self.quota = sim, names, group_of, step, quota
        k = len(names)
        self.used = [0.0] * k
        self.running = [0] * k
        self.queued = [0] * k
        self.used_area = [0.0] * k  # GPU-seconds
        self.borrowed_area = [0.0] * k
        self.peak_borrowed = [0.0] * k
        self.next = math.floor(start / step) * step
        self.last_t = start
        self._chunks: list[tuple[float, int, tuple[Any, ...]]] = []

    def on_job(self, t: float, what: str, i: int) -> None:
        """Move the job's GPUs and counts between its group's queued and running columns."""
        k = self.group_of[i]
        if k < 0:
            return
        g = self.sim.wl.gpus[i]
        if what == "arrive":
            self.queued[k] += 1
        elif what == "start":
            self.queued[k] -= 1
            self.running[k] += 1
            self.used[k] += g
        elif what == "preempt":
            self.running[k] -= 1
            self.queued[k] += 1
            self.used[k] -= g
        elif what == "finish":
            self.running[k] -= 1
            self.used[k] -= g
        if self.quota is not None and what in ("start", "preempt"):
            b = self.quota.borrowed(k)
            if b > self.peak_borrowed[k]:
                self.peak_borrowed[k] = b

    def before(self, t: float, kind: int, payload: Any) -> None:
        """Integrate since the previous event and emit the grid samples that fall in between."""
        if t <= self.last_t:
            return
        dt = t - self.last_t
        for k, u in enumerate(self.used):
            if u:
                self.used_area[k] += u * dt
        if self.quota is not None:
            for k in range(len(self.names)):
                b = self.quota.borrowed(k)
                if b:
                    self.borrowed_area[k] += b * dt
        self.last_t = t
        if t > self.next:
            self._emit_until(t)

    def close(self, t_end: float) -> None:
        """Emit up to and including the end of the run."""
        if t_end > self.last_t:
            self.before(t_end, -1, None)
        self._emit_until(t_end + self.step * 1e-9 + 1e-9)

    def _emit_until(self, t: float) -> None:
        n = math.ceil((t - self.next) / self.step)
        if n <= 0:
            return
        q = self.quota
        snap: tuple[Any, ...] = (
            [round(u, 6) for u in self.used],
            list(self.running),
            list(self.queued),
            [round(q.borrowed(k), 6) for k in range(len(self.names))] if q is not None else None,
        )
        self._chunks.append((self.next, n, snap))
        self.next += n * self.step

    def frame(self) -> pl.DataFrame:
        """Long format: t, group, used_gpus, running_jobs, queued_jobs (+ nominal_gpus, borrowed_gpus)."""
        k = len(self.names)
        cols: dict[str, list[Any]] = {"t": [], "group": [], "used_gpus": [], "running_jobs": [], "queued_jobs": []}
        if self.quota is not None:
            cols |= {"nominal_gpus": [], "borrowed_gpus": []}
            nominal = [sum(n) for n in self.quota.nominal]
        for t0, n, (used, run, queued, borrowed) in self._chunks:
            ts = (t0 + np.arange(n) * self.step).tolist()
            cols["t"] += [x for x in ts for _ in range(k)]
            cols["group"] += self.names * n
            cols["used_gpus"] += used * n
            cols["running_jobs"] += run * n
            cols["queued_jobs"] += queued * n
            if self.quota is not None:
                cols["nominal_gpus"] += nominal * n
                cols["borrowed_gpus"] += borrowed * n
        schema = {"t": pl.Float64, "group": pl.String, "used_gpus": pl.Float64}
        schema |= {"running_jobs": pl.Int64, "queued_jobs": pl.Int64}
        if self.quota is not None:
            schema |= {"nominal_gpus": pl.Float64, "borrowed_gpus": pl.Float64}
        return pl.DataFrame(cols, schema=schema)


def group_stats(
    jobs: pl.DataFrame, span_s: float, gpus: dict[str, float] | None = None, tl: GroupTimeline | None = None
) -> list[dict[str, Any]]:
    """Per group: jobs, wait and JCT, GPU-hours used, GPUs owned (partitioned) or nominal quota, and the
    allocation (GPU-hours used over GPUs owned x span); with a timeline, the average and peak GPUs
    borrowed. `jobs` is a run's job frame with a `group` column."""
    gpus = gpus or {}
    idx = {n: k for k, n in enumerate(tl.names)} if tl is not None else {}
    rows = []
    for (g,), part in jobs.group_by("group", maintain_order=True):
        done = part.filter(pl.col("finish").is_not_null())
        wait = done["wait"].to_numpy()
        jct = done["jct"].to_numpy()
        # the trace's work (GPUs x duration); held time (below) adds preempted runs' lost work and restores
        used = float((done["num_gpus"] * done["duration"]).sum())
        owned = gpus.get(str(g))
        row: dict[str, Any] = {
            "group": g,
            "jobs": part.height,
            "finished": done.height,
            "avg_wait_s": float(wait.mean()) if len(wait) else 0.0,
            "p95_wait_s": float(np.quantile(wait, 0.95)) if len(wait) else 0.0,
            "avg_jct_s": float(jct.mean()) if len(jct) else 0.0,
            "gpu_hours_used": used / 3600,
            "gpus_owned": owned,
            "allocation": used / (owned * span_s) if owned and span_s > 0 else None,
        }
        k = idx.get(str(g))
        if tl is not None and k is not None:
            # held GPU-hours include the time of runs later preempted (lost work), unlike gpu_hours_used
            row["gpu_hours_held"] = tl.used_area[k] / 3600
            if owned and span_s > 0:
                row["allocation"] = tl.used_area[k] / (owned * span_s)
            if tl.quota is not None:
                row["avg_borrowed_gpus"] = tl.borrowed_area[k] / span_s if span_s > 0 else 0.0
                row["peak_borrowed_gpus"] = tl.peak_borrowed[k]
                row["borrowed_gpu_hours"] = tl.borrowed_area[k] / 3600
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["group"]))
