"""What an SLO can be scored against before any replay, and how far a policy closes the GPU-hour gap.

Attainable share: in the slot model a request's TTFT is its wait plus its prefill, and its end-to-end latency
its wait plus its slot time (prefill + decode at a full batch's share); waits are never negative. So a
request whose prefill alone (ttft) or slot time alone (e2e), on an idle replica of the profile, exceeds the
bound misses the SLO under every policy, the oracle included: the share of the others is an upper bound on
any policy's attainment, and when it is below the SLO's percentile no policy can meet the SLO at all. (For
`wait` every request is attainable.) It is a lower bound on what cannot be fixed, not an estimate: requests
that become late by queueing count as attainable.

Gap closed: (GPU-h(baseline) - GPU-h(policy)) / (GPU-h(baseline) - GPU-h(floor)), with target-tracking as
the baseline and the oracle as the floor; 1 means as cheap as the oracle, 0 as dear as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gpufleet.sim.summary import ServingSummary

F64 = npt.NDArray[np.float64]
GAP_MIN_ATTAINMENT = 0.99  # a GPU-hour saving only counts at this SLO attainment or better


@dataclass(frozen=True)
class Feasibility:
    """How many scored requests can meet the SLO's bound at all, and whether its percentile is reachable."""

    slo: str
    q: float  # the SLO's percentile
    bound_s: float
    requests: int  # scored requests
    unattainable: int  # of them, late under any policy
    floor_s: float  # the largest per-request latency no policy can go below

    @property
    def share(self) -> float:
        """Attainable share of the scored requests (1.0 for none scored)."""
        return 1.0 - self.unattainable / self.requests if self.requests else 1.0

    @property
    def feasible(self) -> bool:
        """Can any policy meet the SLO: does the attainable share reach its percentile?"""
        return self.share >= self.q / 100.0 - 1e-12

    def sentence(self, what: str) -> str:
        """One line for people, saying plainly when the SLO is infeasible."""
        n, late = self.requests, self.unattainable
        head = (
            f"SLO {self.slo}: {self.share:.3%} of {n:,} scored requests can meet it at all"
            f" ({late:,} with {what} alone above {self.bound_s:g} s on an idle replica)"
        )
        if self.feasible:
            return head + "; the SLO is feasible"
        return (
            head + f"; the SLO is INFEASIBLE: p{self.q:g} needs {self.q:g}% and no policy, the oracle included,"
            " can meet it"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain fields for the summary and --json."""
        return {
            "slo": self.slo,
            "requests_scored": self.requests,
            "unattainable": self.unattainable,
            "attainable_share": self.share,
            "slo_feasible": self.feasible,
            "latency_floor_max_s": self.floor_s,
        }


def latency_floor(metric: str, prefill: F64, service: F64) -> F64:
    """Per request, the latency of `metric` with no wait at all: what no policy can go below."""
    if metric == "ttft":
        return prefill
    if metric == "e2e":
        return service
    return np.zeros_like(prefill)  # wait: an idle replica makes it zero


def slo_feasibility(slo: str, metric: str, q: float, bound_s: float, floor: F64) -> Feasibility:
    """The attainable share of requests whose latency floors are `floor` (scored requests only)."""
    late = int(np.count_nonzero(floor > bound_s))
    top = float(floor.max()) if len(floor) else 0.0
    return Feasibility(slo=slo, q=q, bound_s=bound_s, requests=len(floor), unattainable=late, floor_s=top)


def attainment_of_attainable(met: npt.NDArray[np.bool_], floor: F64, bound_s: float) -> float:
    """SLO attainment among the requests that can meet the bound at all (1.0 when none can)."""
    ok = floor <= bound_s
    return float(met[ok].mean()) if ok.any() else 1.0


def gap_closed(
    rows: list[ServingSummary], baseline: str = "target-tracking", floor: str = "oracle"
) -> list[ServingSummary]:
    """Each summary row with `gap_closed` (None without both reference rows or with no gap between them) and
    `gap_counts` (its attainment is at least GAP_MIN_ATTAINMENT, so the saving counts)."""
    by = {r.policy: r.gpu_hours for r in rows}
    hi, lo = by.get(baseline), by.get(floor)
    gap = hi - lo if hi is not None and lo is not None else None
    out = []
    for r in rows:
        closed = (hi - r.gpu_hours) / gap if gap and hi is not None and gap > 1e-12 else None
        out.append(r.model_copy(update={"gap_closed": closed, "gap_counts": r.slo_attainment >= GAP_MIN_ATTAINMENT}))
    return out
