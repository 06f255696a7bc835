"""The quota book: Kueue-style quota accounting with no simulator in it.

It holds the queues' nominal quotas per flavor (GPU type), the cohorts and their shared pools, the borrowing
and lending limits, and what each queue uses; it answers whether a job may start (in the nominal round or
the borrowing one) and, for reclaim, which borrowers to preempt, as data (a ReclaimPlan). Carrying a plan
out, and the rounds over the queues, is the dispatcher's (sim/quota.py, where the semantics are written).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.quota_spec import QuotaSpec
from gpufleet.sim.workload import Workload

EPS = 1e-9
INF = float("inf")
ANY = "*"
NOMINAL, BORROWING = 0, 1  # the two rounds of a scheduling pass: admit within nominal quota, then borrow


def _per_flavor(v: float | dict[str, float] | None, flavors: list[str], default: float) -> dict[str, float]:
    if v is None:
        return dict.fromkeys(flavors, default)
    if isinstance(v, dict):
        return {f: float(v.get(f, 0.0 if default == 0.0 else default)) for f in flavors}
    return dict.fromkeys(flavors, float(v))


@dataclass(frozen=True)
class ReclaimPlan:
    """Borrowers of one flavor to preempt so that a job can start within its nominal quota: youngest first
    across queues, and `enough`, the length of the shortest prefix that could do (GPUs and quota)."""

    flavor: int
    victims: list[int]
    enough: int


class QuotaBook:
    """Nominal quotas, cohorts, borrowing and lending per queue and flavor, and each queue's usage."""

    def __init__(self, spec: QuotaSpec) -> None:
        self.spec = spec
        self.reclaim_on = spec.reclaim
        self.names = list(spec.queues)
        typed = [isinstance(q.nominal, dict) for q in spec.queues.values()]
        if any(typed) and not all(typed):
            raise GpufleetError("quota: give every queue's nominal per GPU type, or every one as a number")
        if all(typed):
            flavors: list[str] = []
            for q in spec.queues.values():
                flavors += [f for f in q.nominal if f not in flavors]  # type: ignore[union-attr]
        else:
            flavors = [ANY]
        self.flavors = flavors
        self._fidx = {f: k for k, f in enumerate(flavors)}
        self.nominal = [list(_per_flavor(q.nominal, flavors, 0.0).values()) for q in spec.queues.values()]
        self.blimit = [list(_per_flavor(q.borrowing_limit, flavors, INF).values()) for q in spec.queues.values()]
        lend = [_per_flavor(q.lending_limit, flavors, INF) for q in spec.queues.values()]
        # the part of nominal a queue never lends
        self.guaranteed = [
            [max(0.0, n - min(lend[q][f], n)) for n, f in zip(self.nominal[q], flavors, strict=True)]
            for q in range(len(self.names))
        ]
        cohorts: dict[str, int] = {}
        self.cohort = [
            cohorts.setdefault(spec_q.cohort, len(cohorts)) if spec_q.cohort else -1 for spec_q in spec.queues.values()
        ]
        for k, c in enumerate(self.cohort):  # a queue without a cohort is a cohort of its own
            if c < 0:
                self.cohort[k] = len(cohorts) + k
        ids = sorted(set(self.cohort))
        remap = {c: k for k, c in enumerate(ids)}
        self.cohort = [remap[c] for c in self.cohort]
        self.members: list[list[int]] = [[q for q, c in enumerate(self.cohort) if c == k] for k in range(len(ids))]
        nf = len(flavors)
        self.pool_cap = [
            [sum(self.nominal[q][f] - self.guaranteed[q][f] for q in m) for f in range(nf)] for m in self.members
        ]
        self.pool_used = [[0.0] * nf for _ in self.members]
        self.usage = [[0.0] * nf for _ in self.names]
        self.held = [0.0] * len(self.names)  # usage summed over flavors, per queue
        self.borrowed_now = [0.0] * len(self.names)  # GPUs above nominal per queue, kept by _add
        self.cohort_borrowed = [0.0] * len(self.members)  # and their sum per cohort
        self.single = flavors == [ANY]
        by_group: dict[str, int] = {}
        for k, (name, spec_q) in enumerate(spec.queues.items()):
            for g in spec_q.groups or [name]:
                if g in by_group:
                    raise GpufleetError(
                        f"quota: group {g!r} is listed by queues {self.names[by_group[g]]!r} and {name!r}"
                    )
                by_group[g] = k
        if spec.default_queue is not None and spec.default_queue not in spec.queues:
            raise GpufleetError(f"quota: default_queue {spec.default_queue!r} is not one of the queues")
        self._by_group = by_group
        self._default = self.names.index(spec.default_queue) if spec.default_queue else -1
        # each queue's charged jobs in start order (newest last: reclaim takes from the end)
        self.running: list[dict[int, None]] = [{} for _ in self.names]
        self.job_queue: list[int] = []
        self.no_queue_jobs = 0
        self.over_quota_jobs = 0
        self.flavor_of: dict[int, int] = {}
        self.gpus: list[float] = []
        self.gpu_type: list[str | None] = []

    def assign(self, wl: Workload) -> None:
        """Put each job in its queue (by its group; unlisted groups go to the default queue, else to none)."""
        self.gpus, self.gpu_type = wl.gpus, wl.gpu_type
        groups = wl.group or [None] * wl.n
        d = self._default
        self.job_queue = [self._by_group.get(g, d) if g is not None else d for g in groups]
        self.no_queue_jobs = sum(1 for q in self.job_queue if q < 0)

    # -- admission -----------------------------------------------------------------------------------
    def fits(self, q: int, f: int, g: float, limit: float, pool_used: float | None = None) -> bool:
        """Whether queue q could take g more GPUs of flavor f under `limit` (and its cohort's pool)."""
        u = self.usage[q][f]
        if u + g > limit + EPS:
            return False
        gq = self.guaranteed[q][f]
        add = max(0.0, u + g - gq) - max(0.0, u - gq)
        c = self.cohort[q]
        used = self.pool_used[c][f] if pool_used is None else pool_used
        return used + add <= self.pool_cap[c][f] + EPS

    def limit(self, q: int, f: int, mode: int) -> float:
        """Most GPUs of flavor f queue q may hold in round `mode`."""
        return self.nominal[q][f] if mode == NOMINAL else self.nominal[q][f] + self.blimit[q][f]

    def candidates(self, i: int) -> list[int]:
        """The flavors job i could run on: its type's, or (untyped) every one its queue has quota for."""
        if self.single:
            return [0]
        gtype = self.gpu_type[i]
        if gtype is not None:
            f = self._fidx.get(gtype)
            return [] if f is None else [f]
        q = self.job_queue[i]
        return [f for f in range(len(self.flavors)) if self.nominal[q][f] + self.blimit[q][f] > 0]

    def admit(self, i: int, mode: int) -> tuple[str | None, ...]:
        """Flavors job i may start on now in round `mode` (None: any type); () = not now."""
        q = self.job_queue[i]
        g = self.gpus[i]
        if self.single:  # the common case, fits() inlined: it runs for every job tried
            u, gq, c = self.usage[q][0], self.guaranteed[q][0], self.cohort[q]
            limit = self.nominal[q][0] if mode == NOMINAL else self.nominal[q][0] + self.blimit[q][0]
            if u + g > limit + EPS:
                return ()
            add = (u + g - gq if u + g > gq else 0.0) - (u - gq if u > gq else 0.0)
            if self.pool_used[c][0] + add <= self.pool_cap[c][0] + EPS:
                return (None,)
            return ()
        out: list[str | None] = []
        for f in self.candidates(i):
            if self.fits(q, f, g, self.limit(q, f, mode)):
                out.append(None if self.flavors[f] == ANY else self.flavors[f])
        return tuple(out)

    def can_ever(self, i: int) -> bool:
        """Whether the job has a queue and a flavor whose quota could ever hold it (counts those that cannot)."""
        q = self.job_queue[i]
        if q < 0:
            return False
        g = self.gpus[i]
        c = self.cohort[q]
        for f in self.candidates(i):
            most = min(self.nominal[q][f] + self.blimit[q][f], self.guaranteed[q][f] + self.pool_cap[c][f])
            if g <= most + EPS:
                return True
        self.over_quota_jobs += 1
        return False

    def admits_without(self, i: int, victims: list[int], mode: int) -> list[str | None]:
        """The flavors job i would be admitted on in round `mode` with every victim's GPUs given back."""
        gpus = self.gpus
        removed: dict[tuple[int, int], float] = {}
        for v in victims:
            key = (self.job_queue[v], self.flavor_of[v])
            removed[key] = removed.get(key, 0.0) + gpus[v]
        q, g = self.job_queue[i], gpus[i]
        c = self.cohort[q]
        out: list[str | None] = []
        for f in self.candidates(i):
            pool = self.pool_used[c][f]
            for (m, ff), r in removed.items():
                if ff == f and self.cohort[m] == c:
                    u, gm = self.usage[m][f], self.guaranteed[m][f]
                    pool -= max(0.0, u - gm) - max(0.0, u - r - gm)
            u = self.usage[q][f] - removed.get((q, f), 0.0)
            limit = self.limit(q, f, mode)
            gq = self.guaranteed[q][f]
            if u + g <= limit + EPS and pool + max(0.0, u + g - gq) - max(0.0, u - gq) <= self.pool_cap[c][f] + EPS:
                out.append(None if self.flavors[f] == ANY else self.flavors[f])
        return out

    # -- usage ---------------------------------------------------------------------------------------
    def charge(self, i: int, flavor: str | None) -> bool:
        """Job i took its GPUs out of its queue's quota; True when its queue now borrows that flavor."""
        f = self._fidx[flavor] if flavor is not None else 0
        q = self.job_queue[i]
        self._add(q, f, self.gpus[i])
        self.flavor_of[i] = f
        self.running[q][i] = None
        return self.usage[q][f] > self.nominal[q][f] + EPS

    def release(self, i: int) -> None:
        """Job i gave its GPUs back."""
        f = self.flavor_of.pop(i)
        q = self.job_queue[i]
        self._add(q, f, -self.gpus[i])
        self.running[q].pop(i, None)

    def _add(self, q: int, f: int, g: float) -> None:
        u = self.usage[q][f]
        gq = self.guaranteed[q][f]
        self.pool_used[self.cohort[q]][f] += (u + g - gq if u + g > gq else 0.0) - (u - gq if u > gq else 0.0)
        self.usage[q][f] = u + g if abs(u + g) > EPS else 0.0
        h = self.held[q] + g
        self.held[q] = h if abs(h) > EPS else 0.0
        if self.single:
            b = self.usage[q][0] - self.nominal[q][0]
            b = b if b > 0.0 else 0.0
        else:
            b = sum(max(0.0, x - n) for x, n in zip(self.usage[q], self.nominal[q], strict=True))
        self.cohort_borrowed[self.cohort[q]] += b - self.borrowed_now[q]
        self.borrowed_now[q] = b

    def headroom(self, q: int, mode: int) -> float:
        """GPUs queue q could still be admitted in round `mode` (nominal round: what reclaim could give)."""
        if mode == NOMINAL and self.single:
            r = self.nominal[q][0] - self.usage[q][0]
            return r if r > 0.0 else 0.0
        room = 0.0
        c = self.cohort[q]
        for f in range(len(self.flavors)):
            u = self.usage[q][f]
            if mode == NOMINAL:
                room += max(0.0, self.nominal[q][f] - u)
            else:
                free_pool = self.pool_cap[c][f] - self.pool_used[c][f]
                own = max(0.0, self.guaranteed[q][f] - u)
                room += max(0.0, min(self.nominal[q][f] + self.blimit[q][f] - u, own + free_pool))
        return room

    def at_nominal(self, q: int) -> bool:
        """Whether queue q uses all of its nominal quota on every flavor."""
        if self.single:
            return self.usage[q][0] >= self.nominal[q][0] - EPS
        return all(u >= n - EPS for u, n in zip(self.usage[q], self.nominal[q], strict=True))

    def can_borrow(self, q: int) -> bool:
        """Whether queue q could now be admitted above its nominal quota on some flavor."""
        c = self.cohort[q]
        for f in range(len(self.flavors)):
            u, n = self.usage[q][f], self.nominal[q][f]
            room = min(
                n + self.blimit[q][f] - u,
                max(0.0, self.guaranteed[q][f] - u) + self.pool_cap[c][f] - self.pool_used[c][f],
            )
            if room > EPS and u + room > n + EPS:
                return True
        return False

    def borrowed(self, q: int) -> float:
        """GPUs queue q holds above its nominal quota."""
        return self.borrowed_now[q]

    # -- reclaim -------------------------------------------------------------------------------------
    def may_reclaim(self, q: int) -> bool:
        """Whether a job of queue q could reclaim now: reclaim is on and another queue of its cohort borrows."""
        return self.reclaim_on and self.cohort_borrowed[self.cohort[q]] - self.borrowed_now[q] > EPS

    def reclaimable(self, q: int, f: int, g: float) -> bool:
        """Whether g more GPUs of flavor f are within queue q's nominal quota while a cohort-mate borrows f."""
        if self.usage[q][f] + g > self.nominal[q][f] + EPS:
            return False
        return any(m != q and self.usage[m][f] > self.nominal[m][f] + EPS for m in self.members[self.cohort[q]])

    def plan_reclaim(self, i: int, f: int, last_start: list[float], free: float) -> ReclaimPlan | None:
        """The borrowers of flavor f whose preemption would let job i (within its nominal quota) in, each
        borrowing queue giving back its newest jobs until it no longer borrows; None when they would not be
        enough for the quota. `last_start`: each job's start time; `free`: GPUs free in the cluster now."""
        q, g = self.job_queue[i], self.gpus[i]
        c = self.cohort[q]
        victims: list[int] = []
        pool_after = self.pool_used[c][f]
        for m in self.members[c]:
            over = self.usage[m][f] - self.nominal[m][f]
            if m == q or over <= EPS:
                continue
            took, u, gm = 0.0, self.usage[m][f], self.guaranteed[m][f]
            for j in reversed(self.running[m]):  # Kueue stops taking once it no longer borrows
                if took >= over - EPS:
                    break
                if not self.single and self.flavor_of[j] != f:
                    continue
                took += self.gpus[j]
                victims.append(j)
            pool_after -= max(0.0, u - gm) - max(0.0, u - took - gm)
        if not victims or not self.fits(q, f, g, self.nominal[q][f], pool_after):
            return None
        victims.sort(key=lambda j: -last_start[j])  # youngest first across queues (stable within one)
        return ReclaimPlan(f, victims, self._enough(i, q, f, victims, free))

    def _enough(self, i: int, q: int, f: int, victims: list[int], free: float) -> int:
        """The fewest victims (a prefix) whose GPUs and quota could let job i start."""
        g = self.gpus[i]
        c = self.cohort[q]
        pool = self.pool_used[c][f]
        took: dict[int, float] = {}
        for k, v in enumerate(victims):
            m, gv = self.job_queue[v], self.gpus[v]
            u, gm, before = self.usage[m][f], self.guaranteed[m][f], took.get(m, 0.0)
            pool -= max(0.0, u - before - gm) - max(0.0, u - before - gv - gm)
            took[m] = before + gv
            free += gv
            if free >= g - EPS and self.fits(q, f, g, self.nominal[q][f], pool):
                return k + 1
        return len(victims)
