"""Refreshing waiting jobs' predicted durations from their submission mates while they wait.

A job's prediction is made at submission; while it waits, mates submitted with it (same user, name and GPU
count, `gpufleet.forecasting.runtime.mates`) start and finish. When a job finishes, the waiting jobs of
every group with news get a new estimate: finished mates' durations, the longest work done by a running
mate and the job's own work done before a preemption. The scheduler re-ranks them
(`Scheduler.update_prediction`). Only what is known at that moment is used: a mate's duration once it has
finished, a running mate's work so far (`tests/sim/test_refresh.py` lengthens jobs that finish later and
checks that nothing earlier moves).

Refreshed at finishes only: that is when GPUs come free and waiting jobs compete for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpufleet.forecasting.runtime.mates import MateEvidence

if TYPE_CHECKING:
    from gpufleet.sim.training import TrainingSim

# Waiting jobs are re-ranked when their estimate moves by more than a tenth: a running mate's work grows at
# every finish, and re-ranking for each small step cost Philly's replay 2.8M re-insertions (12 s -> 27 s).
REL_TOL = 0.1


class MateRefresher:
    """Simulator observer (attach / on_job) that keeps waiting jobs' `wl.pred` up to date."""

    def __init__(self, groups: list[int]) -> None:
        self.groups = groups
        self.evidence: MateEvidence | None = None
        self.sim: TrainingSim | None = None
        members: dict[int, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        # only groups with mates can carry news
        self._has_mates = {g for g, m in members.items() if len(m) > 1}
        self.waiting: dict[int, dict[int, None]] = {}
        self.running: dict[int, dict[int, None]] = {}
        # Groups with mates both waiting and running: a running mate's work grows, so their estimates may move
        # at any finish. Other groups change only when one of their own finishes.
        self._active: set[int] = set()
        self._news: set[int] = set()  # groups where a job joined the waiting ones or a mate finished
        # Per group: no waiting job's estimate can move by more than the tolerance while the longest running
        # mate's work stays at or below this (and there is no news): skipped without a look at each job.
        self._floor: dict[int, float] = {}
        self.refreshed = 0  # re-rankings made

    def attach(self, sim: TrainingSim) -> None:
        """Bind to the replay; the predictions it starts with are the priors."""
        self.sim = sim
        self.evidence = MateEvidence(self.groups, list(sim.wl.pred))

    def on_job(self, t: float, what: str, i: int) -> None:
        """Track who waits and who runs per group; refresh the waiting ones when a job finishes."""
        g = self.groups[i]
        if g not in self._has_mates:
            if what == "finish":  # no news about anyone, but running mates elsewhere have worked longer
                self._refresh(t)
            return
        waiting = self.waiting.setdefault(g, {})
        running = self.running.setdefault(g, {})
        if what in ("arrive", "preempt"):
            running.pop(i, None)
            waiting[i] = None
            self._news.add(g)
        elif what == "start":
            waiting.pop(i, None)
            running[i] = None
        elif what == "finish":
            assert self.evidence is not None and self.sim is not None
            running.pop(i, None)
            self.evidence.finished(i, self.sim.wl.duration[i])
            self._active.add(g)
            self._news.add(g)
            self._refresh(t)
            return
        else:
            return
        if waiting and (running or g in self._news):
            self._active.add(g)

    def _refresh(self, t: float) -> None:
        sim, ev = self.sim, self.evidence
        assert sim is not None and ev is not None
        pred, update, work = sim.wl.pred, sim.scheduler.update_prediction, sim.work_done
        news, floor = self._news, self._floor
        done = []
        for g in self._active:
            waiting, running = self.waiting[g], self.running[g]
            if not running:
                done.append(g)  # after this refresh, nothing moves until a mate starts or finishes
            if not waiting:
                continue
            most = max((work(m, t) for m in running), default=0.0)
            if g not in news and most <= floor.get(g, -1.0):
                # exact: without news each estimate only grows, to at most max(its last value, most), and both
                # are within the tolerance above its prediction, which the last look left within it below
                continue
            low = float("inf")
            for m in waiting:
                new = ev.estimate(m, max(most, work(m, t)))
                if abs(new - pred[m]) > REL_TOL * max(pred[m], 1.0):
                    update(sim, m, new)
                    self.refreshed += 1
                low = min(low, pred[m] + REL_TOL * max(pred[m], 1.0))
            floor[g] = low
        self._active.difference_update(done)
        news.clear()
