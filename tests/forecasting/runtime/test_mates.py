"""Submission mates: grouping jobs submitted together, and the estimate their news gives."""

from __future__ import annotations

import itertools
import math

import pytest

from gpufleet.forecasting.runtime.mates import MateEvidence, submission_groups


def test_groups_chain_consecutive_submissions_with_the_same_key() -> None:
    submit = [0.0, 30.0, 80.0, 200.0, 210.0, 215.0]
    gpus = [1.0, 1.0, 1.0, 1.0, 8.0, 1.0]
    # 0 -> 30 -> 80 chain (each within 60 s of the previous, 80 s in all); 200 is 120 s after 80: new group;
    # the 8-GPU job has its own key; 215 follows 200 (1 GPU)
    assert submission_groups(submit, gpus, 60.0) == [0, 0, 0, 1, 2, 1]


def test_groups_use_user_and_name_where_the_trace_has_them() -> None:
    submit = [0.0, 1.0, 2.0, 3.0]
    gpus = [1.0] * 4
    user = ["a", "b", "a", "a"]
    name = ["x", "x", "x", "y"]
    assert submission_groups(submit, gpus, 60.0, user, name) == [0, 1, 0, 2]
    assert submission_groups(submit, gpus, 60.0, user) == [0, 1, 0, 0]


def test_no_gap_leaves_every_job_alone() -> None:
    assert submission_groups([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 0.0) == [0, 1, 2]


def test_estimate_blends_the_prior_with_finished_mates_in_log_space() -> None:
    ev = MateEvidence([0, 0, 0, 1], [5000.0, 5000.0, 5000.0, 300.0], weight=2.0)
    assert ev.estimate(1) == 5000.0  # no news: the prior
    ev.finished(0, 100.0)
    assert ev.known(1) == 1 and ev.known(3) == 0
    assert ev.estimate(1) == pytest.approx(math.exp((2 * math.log(5000) + math.log(100)) / 3))
    ev.finished(1, 100.0)
    assert ev.estimate(2) == pytest.approx(math.sqrt(5000 * 100))
    assert ev.estimate(3) == 300.0  # another group heard nothing


def test_a_running_mates_work_is_a_floor() -> None:
    ev = MateEvidence([0, 0], [1000.0, 1000.0])
    assert ev.estimate(1, running_work=4000.0) == 4000.0
    assert ev.estimate(1, running_work=10.0) == 1000.0


def test_more_finished_mates_pull_harder_than_the_prior() -> None:
    ev = MateEvidence([0] * 6, [10_000.0] * 6, weight=2.0)
    seen = []
    for k in range(5):
        ev.finished(k, 60.0)
        seen.append(ev.estimate(5))
    assert all(a > b for a, b in itertools.pairwise(seen)) and seen[-1] > 60.0


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="weight"):
        MateEvidence([0], [1.0], weight=-1.0)
