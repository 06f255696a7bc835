"""`place`: feasibility, gang splitting and GPU choice around a Placer's node scores.

Gang semantics (all or nothing): a job that fits on one node goes on one node. A larger job is split
into chunks of `chunk` GPUs (8 by default, the usual node size) plus a remainder, each chunk on a
different node; the chunks are placed one after another on the best-scoring feasible node, and if any
chunk does not fit nothing is taken. CPUs, memory and RDMA are split across chunks in proportion to GPUs.
A request only ever goes to the nodes its mask allows (GPU types and node pool): every placer, since
feasibility is decided here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpufleet.optimizer.packing.placers import Placer
from gpufleet.optimizer.packing.view import EPS, B, ClusterView, Request

BIG = np.inf


@dataclass(frozen=True)
class Placement:
    """Where a job runs: per node, the GPU slots and shares taken, and its CPUs, memory and RDMA."""

    parts: tuple[tuple[int, tuple[tuple[int, float], ...], float, float, float], ...]

    @property
    def nodes(self) -> list[int]:
        """Node indices used."""
        return [p[0] for p in self.parts]


def feasible(view: ClusterView, req: Request) -> B:
    """Nodes that can host `req` right now (GPU count or share, CPUs, memory, RDMA, GPU type and pool)."""
    if req.whole:
        ok = view.whole_free >= req.whole
    elif req.fraction:
        ok = view.frac_max >= req.fraction - EPS
    else:
        ok = np.ones(view.n, dtype=bool)
    if req.cpus > 0 and view.cpu_limited:
        ok &= view.cpu_free >= req.cpus - EPS
    if req.mem > 0 and view.mem_limited:
        ok &= view.mem_free >= req.mem - EPS
    if req.rdma > 0 and view.rdma_limited:
        ok &= view.rdma_free >= req.rdma - EPS
    if req.type_mask is not None:
        ok &= req.type_mask
    if not view.all_active:
        ok &= view.active
    return ok


def fits_node(view: ClusterView, req: Request, n: int) -> bool:
    """Scalar version of `feasible` for one node."""
    if req.whole:
        if view.whole_free[n] < req.whole:
            return False
    elif req.fraction and view.frac_max[n] < req.fraction - EPS:
        return False
    if req.cpus > 0 and view.cpu_free[n] < req.cpus - EPS:
        return False
    if req.mem > 0 and view.mem_free[n] < req.mem - EPS:
        return False
    if req.rdma > 0 and view.rdma_free[n] < req.rdma - EPS:
        return False
    if not view.active[n]:
        return False
    return req.type_mask is None or bool(req.type_mask[n])


def _slots(view: ClusterView, node: int, req: Request, placer: Placer | None = None) -> tuple[tuple[int, float], ...]:
    row = view.rows[node]
    if req.fraction and placer is not None:
        # placers that score GPUs inside a node (fgd) say which one they meant
        s = placer.choose_slot(view, node, req)
        if s is not None:
            return ((s, req.fraction),)
    if req.whole:
        free = [s for s, v in enumerate(row) if v >= 1.0 - EPS][: req.whole]
        return tuple((s, 1.0) for s in free)
    if req.fraction:
        # best fit inside the node: the partly used GPU with the least room that still fits
        f = req.fraction - EPS
        best = min((v, s) for s, v in enumerate(row) if v >= f)
        return ((best[1], req.fraction),)
    return ()


def _pick(view: ClusterView, req: Request, placer: Placer, exclude: list[int]) -> int | None:
    ok = feasible(view, req)
    if exclude:
        ok[exclude] = False
    if not ok.any():
        return None
    scores = np.where(ok, placer.score(view, req), BIG)
    return int(scores.argmin())


def max_node_gpus(view: ClusterView, type_mask: B | None) -> int:
    """GPUs on the largest node a request may use (cached per mask object)."""
    key = id(type_mask)
    hit = view.widest.get(key)
    if hit is None or hit[1] is not type_mask:
        g = view.gpu_total if type_mask is None else view.gpu_total[type_mask]
        # the cache holds the mask itself, so its id cannot be reused by another array while cached
        hit = view.widest[key] = (int(g.max(initial=0)), type_mask)
    return hit[0]


def fits_ever(view: ClusterView, req: Request, *, chunk: int = 8, multi_node: bool = True) -> bool:
    """Whether the request could run on the empty cluster at all (otherwise it is unschedulable)."""
    cap = view.gpu_total if req.type_mask is None else np.where(req.type_mask, view.gpu_total, 0)
    cpu_ok = view.cpu_total >= req.cpus - EPS
    mem_ok = view.mem_total >= req.mem - EPS
    rdma_ok = view.rdma_total >= req.rdma - EPS
    type_ok = np.ones(view.n, bool) if req.type_mask is None else req.type_mask
    need = req.whole if req.whole else (1 if req.fraction else 0)
    if bool(((cap >= need) & cpu_ok & mem_ok & rdma_ok & type_ok).any()):
        return True
    widest = max_node_gpus(view, req.type_mask)
    if not multi_node or not req.whole or widest == 0:
        return False
    chunks = _chunks(req.whole, min(chunk, widest))
    share = [c / req.whole for c in chunks]
    usable = [
        int(
            (
                (cap >= c)
                & (view.cpu_total >= req.cpus * s - EPS)
                & (view.mem_total >= req.mem * s - EPS)
                & (view.rdma_total >= req.rdma * s - EPS)
                & type_ok
            ).sum()
        )
        for c, s in zip(chunks, share, strict=True)
    ]
    return len(chunks) <= min(usable) if usable else False


def _chunks(whole: int, chunk: int) -> list[int]:
    q, r = divmod(whole, chunk)
    return [chunk] * q + ([r] if r else [])


def place(
    view: ClusterView, req: Request, placer: Placer, *, chunk: int = 8, multi_node: bool = True
) -> Placement | None:
    """Choose where `req` runs without changing `view`; None when it does not fit now."""
    widest = max_node_gpus(view, req.type_mask)
    if req.whole <= widest or not multi_node or widest == 0:
        # a job that fits on one node waits for one node rather than spreading
        node = _pick(view, req, placer, [])
        if node is None:
            return None
        return Placement(((node, _slots(view, node, req, placer), req.cpus, req.mem, req.rdma),))
    return placer.gang(view, req, min(chunk, widest))


def split_gang(view: ClusterView, req: Request, placer: Placer, size: int) -> Placement | None:
    """The usual gang rule (BasePlacer.gang): chunks of `size` GPUs plus a remainder, each on the best-scoring
    feasible node not yet taken by the job, placed one after another; None (nothing taken) if one does not fit."""
    chunks = _chunks(req.whole, size)
    parts: list[tuple[int, tuple[tuple[int, float], ...], float, float, float]] = []
    taken: list[int] = []
    try:
        for c in chunks:
            sub = chunk_request(req, c)
            n = _pick(view, sub, placer, taken)
            if n is None:
                return None
            slots = _slots(view, n, sub, placer)
            # tentatively take it so the next chunk sees the updated node; undone below
            view.allocate(n, list(slots), sub.cpus, sub.mem, sub.rdma)
            parts.append((n, slots, sub.cpus, sub.mem, sub.rdma))
            taken.append(n)
        return Placement(tuple(parts))
    finally:
        for n, slots, cpus, mem, rdma in parts:
            view.release(n, list(slots), cpus, mem, rdma)


def chunk_request(req: Request, gpus: int) -> Request:
    """The part of gang `req` that runs `gpus` of its GPUs on one node: CPUs, memory and RDMA in proportion."""
    share = gpus / req.whole
    return Request(float(gpus), req.cpus * share, req.mem * share, req.type_mask, req.rdma * share)


def apply(view: ClusterView, p: Placement) -> None:
    """Take the resources of a placement."""
    for n, slots, cpus, mem, rdma in p.parts:
        view.allocate(n, list(slots), cpus, mem, rdma)


def undo(view: ClusterView, p: Placement) -> None:
    """Give back the resources of a placement."""
    for n, slots, cpus, mem, rdma in p.parts:
        view.release(n, list(slots), cpus, mem, rdma)
