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
