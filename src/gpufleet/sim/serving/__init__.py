"""The serving-fleet simulator: requests onto autoscaled model replicas, on the shared event engine."""

from gpufleet.sim.serving import diffusion as _diffusion  # noqa: F401  (registers the diffusion work model)
from gpufleet.sim.serving.profiles import DEFAULT_COLD_START_S, DEFAULT_PROFILES, ReplicaProfile, load_profile
from gpufleet.sim.serving.run import ServingConfig, ServingResult, parse_slo, serving_feasibility, simulate_serving
from gpufleet.sim.serving.scoring import GAP_MIN_ATTAINMENT, Feasibility, gap_closed
from gpufleet.sim.serving.work import WORK_MODELS, WorkModel

__all__ = [
    "DEFAULT_COLD_START_S",
    "DEFAULT_PROFILES",
    "GAP_MIN_ATTAINMENT",
    "WORK_MODELS",
    "Feasibility",
    "ReplicaProfile",
    "ServingConfig",
    "ServingResult",
    "WorkModel",
    "gap_closed",
    "load_profile",
    "parse_slo",
    "serving_feasibility",
    "simulate_serving",
]
