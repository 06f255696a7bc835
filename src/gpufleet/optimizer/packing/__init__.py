"""Packing: where jobs go. The Placer protocol and registry, the cluster view they score, and `place`."""

from gpufleet.optimizer.packing import helios  # noqa: F401  (registers helios-consolidate)
from gpufleet.optimizer.packing.fgd import FGD, Shape, workload_shapes
from gpufleet.optimizer.packing.place import Placement, apply, feasible, fits_ever, place, undo
from gpufleet.optimizer.packing.placers import PLACERS, BasePlacer, Placer
from gpufleet.optimizer.packing.view import ClusterView, Request

__all__ = [
    "FGD",
    "PLACERS",
    "BasePlacer",
    "ClusterView",
    "Placement",
    "Placer",
    "Request",
    "Shape",
    "apply",
    "feasible",
    "fits_ever",
    "place",
    "undo",
    "workload_shapes",
]
