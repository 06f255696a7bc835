"""`last-fit`: a placer that lives outside gpufleet and joins it through an entry point."""

from __future__ import annotations

import numpy as np

from gpufleet.optimizer.packing import BasePlacer, ClusterView, Request
from gpufleet.optimizer.packing.view import F64


class LastFit(BasePlacer):
    """The last node (in inventory order) that fits: the mirror image of first-fit, which keeps the low
    node ids free for whoever fills the cluster from the front.

    It subclasses gpufleet's BasePlacer, which gives every member of the Placer Protocol but `score` a
    default (no settings, nothing learned, gpufleet's own GPU choice inside a node and gang split) and takes
    the run's `seed` as context.
    """

    def score(self, view: ClusterView, req: Request) -> F64:
        """One score per node, lower is better: minus the node index (gpufleet checks feasibility itself)."""
        return -np.arange(view.n, dtype=np.float64)
