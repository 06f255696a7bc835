"""Metrics as observers: per-job records from job transitions, a timeline sampled every `step` seconds.

Timeline semantics: the sample at grid time g is the state after every event at a time <= g. Between
two event times the state does not change, so each sample is taken just before the first event after
it, from the state the previous events left.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from gpufleet.optimizer.packing import ClusterView
from gpufleet.sim.summary import GroupRow

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


def grid_times(t0: array[float], counts: npt.NDArray[np.int64], step: float) -> npt.NDArray[np.float64]:
    """Sample times of run-length samples: each run's start plus 0, 1, ... steps, for `counts` steps each."""
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.array(t0, dtype=np.float64), counts) + within * step


class Timeline:
    """Allocated, idle and stranded GPUs, running and queued jobs every `step` seconds of simulated time."""

    COLS = ("allocated_gpus", "idle_gpus", "stranded_gpus", "running_jobs", "queued_jobs")

    def __init__(self, sim: Any, step: float, start: float) -> None:
        self.sim, self.step = sim, step
        self.next = math.floor(start / step) * step
        self.last_t = start
        self.area = 0.0  # integral of allocated GPUs over time, for the time-weighted average
        # Samples in runs: the state held for n grid steps from t0, one row per run in typed arrays (idle
        # stretches of a long replay are thousands of identical samples; they are expanded in frame()).
        self._t0, self._n = array("d"), array("q")
        self._vals: dict[str, array[Any]] = {c: array("q" if c.endswith("_jobs") else "d") for c in self.COLS}

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
        v = self._vals
        self._t0.append(self.next)
        self._n.append(k)
        v["allocated_gpus"].append(alloc)
        v["idle_gpus"].append(round(sim.total_gpus - alloc, 6))
        v["stranded_gpus"].append(stranded(sim))
        v["running_jobs"].append(len(sim.running))
        v["queued_jobs"].append(len(sim.queue))
        self.next += k * self.step

    def mean(self, col: str) -> float:
        """Mean of a column over all samples (0 without samples)."""
        n = np.array(self._n, dtype=np.float64)
        return float((np.array(self._vals[col], dtype=np.float64) * n).sum() / n.sum()) if len(n) else 0.0

    def frame(self) -> pl.DataFrame:
        """The samples as a frame."""
        counts = np.array(self._n, dtype=np.int64)
        cols: dict[str, Any] = {"t": grid_times(self._t0, counts, self.step)}
        for c in self.COLS:
            cols[c] = np.repeat(np.array(self._vals[c], dtype=np.int64 if c.endswith("_jobs") else np.float64), counts)
        return pl.DataFrame(
            cols,
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
    GPUs borrowed above it. Integrals are kept per group at each of its transitions (a group's usage only
    changes then), so the cost per event does not grow with the number of groups.
    """

    def __init__(
        self, sim: Any, names: list[str], group_of: list[int], step: float, start: float, quota: Any = None
    ) -> None:
        self.sim, self.names, self.group_of, self.step, self.quota = sim, names, group_of, step, quota
        k = len(names)
        self.used = [0.0] * k
        self.running = [0] * k
        self.queued = [0] * k
        self.borrowed = [0.0] * k
        self.used_area = [0.0] * k  # GPU-seconds
        self.borrowed_area = [0.0] * k
        self.peak_borrowed = [0.0] * k
        self._since = [start] * k  # when each group's usage last changed
        self.next = math.floor(start / step) * step
        # Samples in runs ("chunks": the state held for n grid steps from t0), in flat typed arrays: a 1M-job
        # replay emits ~350k chunks x groups, which as Python lists of floats cost hundreds of MiB.
        self._t0, self._n = array("d"), array("q")
        self._used, self._running, self._queued, self._borrowed = array("d"), array("q"), array("q"), array("d")

    def on_job(self, t: float, what: str, i: int) -> None:
        """Move the job's GPUs and counts between its group's queued and running columns."""
        k = self.group_of[i]
        if k < 0:
            return
        if what == "arrive":
            self.queued[k] += 1
            return
        if what == "unschedulable":
            return
        g = self.sim.wl.gpus[i]
        dt = t - self._since[k]
        self.used_area[k] += self.used[k] * dt
        self.borrowed_area[k] += self.borrowed[k] * dt
        self._since[k] = t
        if what == "start":
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
        if self.quota is not None:
            b = self.borrowed[k] = self.quota.borrowed(k)
            if b > self.peak_borrowed[k]:
                self.peak_borrowed[k] = b

    def before(self, t: float, kind: int, payload: Any) -> None:
        """Emit the grid samples that fall before this event (the state since the previous one)."""
        if t > self.next:
            self._emit_until(t)

    def close(self, t_end: float) -> None:
        """Close the integrals and emit up to and including the end of the run."""
        for k in range(len(self.names)):
            dt = max(0.0, t_end - self._since[k])
            self.used_area[k] += self.used[k] * dt
            self.borrowed_area[k] += self.borrowed[k] * dt
            self._since[k] = max(self._since[k], t_end)
        self._emit_until(t_end + self.step * 1e-9 + 1e-9)

    def _emit_until(self, t: float) -> None:
        n = math.ceil((t - self.next) / self.step)
        if n <= 0:
            return
        self._t0.append(self.next)
        self._n.append(n)
        self._used.extend(self.used)
        self._running.extend(self.running)
        self._queued.extend(self.queued)
        self._borrowed.extend(self.borrowed)
        self.next += n * self.step

    def frame(self) -> pl.DataFrame:
        """Long format: t, group, used_gpus, running_jobs, queued_jobs (+ nominal_gpus, borrowed_gpus)."""
        k = len(self.names)
        counts = np.array(self._n, dtype=np.int64)
        mats = [
            np.array(a, dtype=np.float64).reshape(len(counts), k)
            for a in (self._used, self._running, self._queued, self._borrowed)
        ]
        ts = grid_times(self._t0, counts, self.step)
        total = len(ts)
        cols: dict[str, Any] = {
            "t": np.repeat(ts, k),
            # names by index (a numpy object array of millions of strings costs more than the frame itself)
            "group": pl.Series(self.names, dtype=pl.String).gather(np.tile(np.arange(k), total)),
            "used_gpus": np.repeat(mats[0], counts, axis=0).ravel().round(6),
            "running_jobs": np.repeat(mats[1], counts, axis=0).ravel().astype(np.int64),
            "queued_jobs": np.repeat(mats[2], counts, axis=0).ravel().astype(np.int64),
        }
        schema = {"t": pl.Float64, "group": pl.String, "used_gpus": pl.Float64}
        schema |= {"running_jobs": pl.Int64, "queued_jobs": pl.Int64}
        if self.quota is not None:
            cols["nominal_gpus"] = np.tile(np.array([sum(n) for n in self.quota.nominal], dtype=float), total)
            cols["borrowed_gpus"] = np.repeat(mats[3], counts, axis=0).ravel().round(6)
            schema |= {"nominal_gpus": pl.Float64, "borrowed_gpus": pl.Float64}
        return pl.DataFrame({c: pl.Series(c, v, dtype=schema[c]) for c, v in cols.items()})


def group_stats(
    jobs: pl.DataFrame, span_s: float, gpus: dict[str, float] | None = None, tl: GroupTimeline | None = None
) -> list[GroupRow]:
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
        row = GroupRow(
            group=g,
            jobs=part.height,
            finished=done.height,
            avg_wait_s=float(wait.mean()) if len(wait) else 0.0,
            p95_wait_s=float(np.quantile(wait, 0.95)) if len(wait) else 0.0,
            avg_jct_s=float(jct.mean()) if len(jct) else 0.0,
            gpu_hours_used=used / 3600,
            gpus_owned=owned,
            allocation=used / (owned * span_s) if owned and span_s > 0 else None,
        )
        k = idx.get(str(g))
        if tl is not None and k is not None:
            # held GPU-hours include the time of runs later preempted (lost work), unlike gpu_hours_used
            # (set only here: a row without a timeline leaves these fields out of its summary.json)
            row.gpu_hours_held = tl.used_area[k] / 3600
            if owned and span_s > 0:
                row.allocation = tl.used_area[k] / (owned * span_s)
            if tl.quota is not None:
                row.avg_borrowed_gpus = tl.borrowed_area[k] / span_s if span_s > 0 else 0.0
                row.peak_borrowed_gpus = tl.peak_borrowed[k]
                row.borrowed_gpu_hours = tl.borrowed_area[k] / 3600
        rows.append(row)
    return sorted(rows, key=lambda r: str(r.group))
