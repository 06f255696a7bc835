"""`helios-consolidate`: the consolidating placement of the Helios (SC'21) and Lucid (ASPLOS'23) trace
simulators, rule for rule, so published FIFO/SJF replays can be reproduced one to one.

Their `ConsolidatePlacement.consolidateSelect` (HeliosArtifact `framework/QSSF Service/policies/placer/
consolidate.py`, Lucid `simulation/policy/placer/consolidate.py`), for nodes of one size N (8 there):
- a job of at most N GPUs goes on one node: the one with the fewest free GPUs that fits (best fit), the
  lowest node first on ties;
- a multiple of N takes that many completely free nodes, lowest ids first;
- k*N + r (0 < r < N) takes k completely free nodes, lowest ids first, then puts r GPUs on the next node in
  the order "most free GPUs first, lowest id on ties": another free node if there is one (so the remainder
  does NOT go on a partly used node while a free node is left), otherwise the partly used node with the
  most free GPUs - and fails if that node has fewer than r free.
CPUs and memory are not looked at there; here they are checked per part, as are RDMA and the node pool
(traces without them are unaffected).
"""

from __future__ import annotations

import numpy as np

from gpufleet.optimizer.packing.place import Placement, _slots, chunk_request, fits_node
from gpufleet.optimizer.packing.placers import PLACERS, BasePlacer
from gpufleet.optimizer.packing.view import F64, ClusterView, Request


@PLACERS.register("helios-consolidate")
class HeliosConsolidate(BasePlacer):
    """Helios/Lucid consolidate: best fit on one node; whole free nodes (lowest ids) for gangs."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Free GPUs of the node (fewest first; argmin takes the lowest index on ties)."""
        return view.free_sum.astype(np.float64)

    def gang(self, view: ClusterView, req: Request, size: int) -> Placement | None:
        """A job wider than one node of `size` GPUs, placed by Helios' rule (module docstring)."""
        k, r = divmod(req.whole, size)
        ok = view.active.copy()
        if req.type_mask is not None:
            ok &= req.type_mask
        full = np.flatnonzero(ok & (view.whole_free >= size) & (view.gpu_total == size))
        if len(full) < k:
            return None
        nodes = [int(n) for n in full[:k]]
        sizes = [size] * k
        if r:
            if len(full) > k:
                nodes.append(int(full[k]))
            else:
                part = np.where(ok & (view.whole_free > 0), view.whole_free, -1)
                part[full[:k]] = -1
                best = int(part.argmax())
                if part[best] < r:
                    return None
                nodes.append(best)
            sizes.append(r)
        parts = []
        for n, c in zip(nodes, sizes, strict=True):
            sub = chunk_request(req, c)
            if not fits_node(view, sub, n):
                return None
            parts.append((n, _slots(view, n, sub), sub.cpus, sub.mem, sub.rdma))
        return Placement(tuple(parts))
