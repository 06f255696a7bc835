"""The quota book on its own (no simulator): usage, cohort pools, borrowing and lending limits, reclaim plans."""

from __future__ import annotations

import random

import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.quota_book import BORROWING, EPS, NOMINAL, QuotaBook
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.workload import Workload


def workload(jobs: list[tuple[float, str | None, str | None]]) -> Workload:
    """Jobs of (GPUs, group, GPU type)."""
    n = len(jobs)
    return Workload(
        job_id=[f"j{k}" for k in range(n)],
        submit=[float(k) for k in range(n)],
        duration=[100.0] * n,
        gpus=[g for g, _, _ in jobs],
        cpus=[1.0] * n,
        mem=[0.0] * n,
        gpu_type=[t for _, _, t in jobs],
        pred=[100.0] * n,
        skipped_unknown_duration=[],
        group=[grp for _, grp, _ in jobs],
    )


def book_of(queues: dict[str, QueueSpec], jobs: list[tuple[float, str | None, str | None]], **kw: object) -> QuotaBook:
    book = QuotaBook(QuotaSpec(queues=queues, **kw))  # type: ignore[arg-type]
    book.assign(workload(jobs))
    return book


def test_jobs_go_to_their_groups_queue_or_the_default_or_none() -> None:
    queues = {"a": QueueSpec(nominal=8, groups=["x", "y"]), "b": QueueSpec(nominal=8)}
    book = book_of(queues, [(1, "x", None), (1, "y", None), (1, "b", None), (1, "z", None), (1, None, None)])
    assert book.job_queue == [0, 0, 1, -1, -1] and book.no_queue_jobs == 2
    book = book_of(queues, [(1, "z", None)], default_queue="b")
    assert book.job_queue == [1] and book.no_queue_jobs == 0


def test_a_group_in_two_queues_and_mixed_nominals_are_refused() -> None:
    with pytest.raises(GpufleetError, match="group 'x' is listed by queues 'a' and 'b'"):
        QuotaBook(QuotaSpec(queues={"a": QueueSpec(nominal=1, groups=["x"]), "b": QueueSpec(nominal=1, groups=["x"])}))
    with pytest.raises(GpufleetError, match="every queue's nominal per GPU type"):
        QuotaBook(QuotaSpec(queues={"a": QueueSpec(nominal={"A100": 1}), "b": QueueSpec(nominal=1)}))


def test_nominal_round_admits_within_nominal_and_borrowing_round_up_to_the_pool() -> None:
    queues = {"a": QueueSpec(nominal=8, cohort="c"), "b": QueueSpec(nominal=8, cohort="c", lending_limit=2)}
    book = book_of(queues, [(8, "a", None), (4, "a", None), (2, "a", None)])
    book.charge(0, None)
    assert book.admit(1, NOMINAL) == () and book.headroom(0, NOMINAL) == 0.0
    # b lends 2 of its 8: a may borrow 2, not 4
    assert book.admit(1, BORROWING) == () and book.admit(2, BORROWING) == (None,)
    assert book.charge(2, None) is True and book.borrowed(0) == 2.0 and book.can_borrow(0) is False
    book.release(2)
    assert book.borrowed(0) == 0.0 and book.usage[0] == [8.0]


def test_borrowing_limit_caps_a_queue_even_with_room_in_the_pool() -> None:
    queues = {"a": QueueSpec(nominal=4, cohort="c", borrowing_limit=1), "b": QueueSpec(nominal=16, cohort="c")}
    book = book_of(queues, [(4, "a", None), (2, "a", None), (1, "a", None), (32, "a", None)])
    book.charge(0, None)
    assert book.admit(1, BORROWING) == () and book.admit(2, BORROWING) == (None,)
    assert book.headroom(0, BORROWING) == 1.0
    assert book.can_ever(3) is False and book.over_quota_jobs == 1


def test_typed_flavors_untyped_jobs_try_their_queues_flavors_in_order() -> None:
    queues = {"a": QueueSpec(nominal={"A100": 8, "V100": 8}), "b": QueueSpec(nominal={"V100": 4})}
    book = book_of(queues, [(8, "a", None), (8, "a", None), (4, "a", "H100"), (4, "b", None)])
    assert book.flavors == ["A100", "V100"] and book.admit(0, NOMINAL) == ("A100", "V100")
    book.charge(0, "A100")
    assert book.admit(1, NOMINAL) == ("V100",)
    assert book.candidates(2) == [] and book.can_ever(2) is False  # no quota for that type at all
    assert book.candidates(3) == [0, 1]  # b has no A100 quota but no limit on borrowing it either
    capped = {**queues, "b": QueueSpec(nominal={"V100": 4}, borrowing_limit={"A100": 0})}
    assert book_of(capped, [(4, "b", None)]).candidates(0) == [1]


def test_accounting_invariants_hold_under_random_charges_and_releases() -> None:
    # pool_used is the sum over a cohort of what each queue uses above its guaranteed part; borrowed is
    # usage above nominal; held is usage over flavors; and nothing is admitted beyond its limits
    queues = {
        "a": QueueSpec(nominal={"A100": 8, "V100": 4}, cohort="c", borrowing_limit={"A100": 4}),
        "b": QueueSpec(nominal={"A100": 4, "V100": 8}, cohort="c", lending_limit={"V100": 2}),
        "c": QueueSpec(nominal={"A100": 4, "V100": 4}),
    }
    rng = random.Random(7)
    jobs = [(float(rng.choice([1, 2, 4])), rng.choice("abc"), rng.choice([None, "A100", "V100"])) for _ in range(400)]
    book = book_of(queues, jobs)
    running: list[int] = []
    for i in range(len(jobs)):
        if running and rng.random() < 0.4:
            book.release(running.pop(rng.randrange(len(running))))
        mode = rng.choice([NOMINAL, BORROWING])
        flavors = book.admit(i, mode)
        if flavors:
            book.charge(i, flavors[0])
            running.append(i)
        for q in range(3):
            for f in range(2):
                assert book.usage[q][f] <= book.limit(q, f, BORROWING) + EPS
            assert book.held[q] == pytest.approx(sum(book.usage[q]))
            over = sum(max(0.0, u - n) for u, n in zip(book.usage[q], book.nominal[q], strict=True))
            assert book.borrowed(q) == pytest.approx(over)
            assert set(book.running[q]) == {j for j in running if book.job_queue[j] == q}
        for c, members in enumerate(book.members):
            for f in range(2):
                used = sum(max(0.0, book.usage[q][f] - book.guaranteed[q][f]) for q in members)
                assert book.pool_used[c][f] == pytest.approx(used)
                assert used <= book.pool_cap[c][f] + EPS
    for j in running:
        book.release(j)
    assert book.usage == [[0.0, 0.0]] * 3 and book.held == [0.0] * 3 and book.cohort_borrowed == [0.0, 0.0]


def test_reclaim_plan_takes_the_youngest_borrowers_and_the_fewest_that_are_enough() -> None:
    queues = {"a": QueueSpec(nominal=8, cohort="c"), "b": QueueSpec(nominal=8, cohort="c")}
    # b uses its 8 and borrows 6 (jobs 1..3); a then wants 4 of its nominal back
    book = book_of(queues, [(8, "b", None), (2, "b", None), (2, "b", None), (2, "b", None), (4, "a", None)])
    for j in range(4):
        book.charge(j, None)
    assert book.may_reclaim(0) and not book.may_reclaim(1) and book.reclaimable(0, 0, 4.0)
    last_start = [0.0, 10.0, 30.0, 20.0, 0.0]
    plan = book.plan_reclaim(4, 0, last_start, free=0.0)
    assert plan is not None
    # b gives back its newest jobs until it no longer borrows (3, 2, 1: 6 GPUs), youngest start first
    assert plan.victims == [2, 3, 1]
    assert plan.enough == 2  # two 2-GPU victims free the 4 GPUs a needs and its quota
    assert book.plan_reclaim(4, 0, last_start, free=4.0).enough == 1  # type: ignore[union-attr]
    # admission with the victims gone counts their GPUs back
    assert book.admits_without(4, plan.victims[:2], NOMINAL) == [None]


def test_no_reclaim_without_borrowers_or_beyond_nominal_or_when_off() -> None:
    queues = {"a": QueueSpec(nominal=8, cohort="c"), "b": QueueSpec(nominal=8, cohort="c")}
    jobs = [(8, "b", None), (2, "b", None), (10, "a", None)]
    book = book_of(queues, jobs)
    book.charge(0, None)
    assert not book.may_reclaim(0)  # nobody borrows yet
    book.charge(1, None)
    assert book.may_reclaim(0) and not book.reclaimable(0, 0, 10.0)  # 10 is beyond a's nominal 8
    off = book_of(queues, jobs, reclaim=False)
    off.charge(0, None)
    off.charge(1, None)
    assert not off.may_reclaim(0)
