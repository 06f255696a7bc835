"""The serving-fleet simulator: requests onto autoscaled model replicas, on the shared event engine."""

from gpufleet.sim.serving.profiles import DEFAULT_COLD_START_S, DEFAULT_PROFILES, ReplicaProfile, load_profile
from gpufleet.sim.serving.run import ServingConfig, ServingResult, parse_slo, simulate_serving

__all__ = [
    "DEFAULT_COLD_START_S",
    "DEFAULT_PROFILES",
    "ReplicaProfile",
    "ServingConfig",
    "ServingResult",
    "load_profile",
    "parse_slo",
    "simulate_serving",
]
