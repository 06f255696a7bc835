"""Submission mates: jobs submitted together (a sweep, an array job) tend to run about as long as each other.

On ITP cluster04, two consecutive jobs with the same GPU count submitted within 5 s have log durations
correlated at 0.88 (mean absolute difference 0.19, against 1.16 for two random jobs); within 60 s 0.83.
At submission that evidence does not exist yet (the mates were submitted at the same moment), but while a
job waits its mates start and finish. `MateEvidence` turns what has become known about a job's mates into
a better estimate of its duration, so that a scheduler can re-rank waiting jobs. It sees only finished
mates' durations and running mates' work done so far: nothing that lies in the future of the decision.

Pure arithmetic here; the simulator (`gpufleet.sim.refresh`) tells it what finished and what runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_GAP_S = 60.0
# How many finished mates the model's own prediction counts as. Chosen, with the 60 s gap, on ITP clusters
# 02 and 07 and Philly (SJF average JCT over SJF with the true durations, docs/results.md), not cluster04.
PRIOR_WEIGHT = 2.0


def submission_groups(
    submit: Sequence[float],
    gpus: Sequence[float],
    gap_s: float = DEFAULT_GAP_S,
    user: Sequence[str | None] | None = None,
    name: Sequence[str | None] | None = None,
) -> list[int]:
    """A group id per job (jobs in submit order): consecutive jobs with the same user, name and GPU count
    (whichever the trace has) each submitted within `gap_s` of the previous one share a group. A chain may
    last longer than `gap_s` in all; a job alone in its group has no mates. `gap_s` <= 0: every job alone."""
    n = len(submit)
    users = user if user is not None else [None] * n
    names = name if name is not None else [None] * n
    last: dict[tuple[str | None, str | None, float], tuple[float, int]] = {}
    out = [0] * n
    groups = 0
    for k in range(n):
        key = (users[k], names[k], gpus[k])
        prev = last.get(key)
        if gap_s > 0 and prev is not None and submit[k] - prev[0] <= gap_s:
            g = prev[1]
        else:
            g = groups
            groups += 1
        out[k] = g
        last[key] = (submit[k], g)
    return out


class MateEvidence:
    """Per group, the log durations of the mates that finished; estimates for the ones still waiting.

    estimate = exp((w * log(prior) + sum of finished mates' log durations) / (w + finished mates)), raised
    to the longest work done by a running mate (that mate runs at least that long; its waiting mates are
    then likely to as well). Without finished or running mates it is the prior itself."""

    def __init__(self, groups: Sequence[int], prior: Sequence[float], weight: float = PRIOR_WEIGHT) -> None:
        if weight < 0:
            raise ValueError(f"mate evidence: weight must be >= 0, got {weight}")
        self.groups, self.prior, self.weight = list(groups), list(prior), weight
        self._sum: dict[int, float] = {}
        self._count: dict[int, int] = {}

    def finished(self, i: int, duration: float) -> None:
        """Job i finished after `duration` seconds of work."""
        g = self.groups[i]
        self._sum[g] = self._sum.get(g, 0.0) + math.log(max(duration, 1.0))
        self._count[g] = self._count.get(g, 0) + 1

    def known(self, i: int) -> int:
        """How many of job i's mates have finished."""
        return self._count.get(self.groups[i], 0)

    def estimate(self, i: int, running_work: float = 0.0) -> float:
        """Job i's duration given its finished mates and the longest work done by a running mate."""
        g = self.groups[i]
        k = self._count.get(g, 0)
        p = self.prior[i]
        if k:
            w = self.weight
            p = math.exp((w * math.log(max(p, 1.0)) + self._sum[g]) / (w + k))
        return max(p, running_work)
