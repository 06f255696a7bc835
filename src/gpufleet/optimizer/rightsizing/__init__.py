"""Right-sizing: what each workload should ask for (GPUs, MIG profile or share, GPU memory, CPU, memory)."""

from gpufleet.optimizer.rightsizing.base import (
    RIGHTSIZERS,
    History,
    Recommendation,
    RightSizer,
    guess_model,
    histories,
    make_rightsizer,
    workload_name,
)
from gpufleet.optimizer.rightsizing.evaluate import holdout, recommend_all
from gpufleet.optimizer.rightsizing.mig import MIG_PROFILES, MigProfile, smallest_profile
from gpufleet.optimizer.rightsizing.sizers import KrrSimpleSizer, VpaSizer

__all__ = [
    "MIG_PROFILES",
    "RIGHTSIZERS",
    "History",
    "KrrSimpleSizer",
    "MigProfile",
    "Recommendation",
    "RightSizer",
    "VpaSizer",
    "guess_model",
    "histories",
    "holdout",
    "make_rightsizer",
    "recommend_all",
    "smallest_profile",
    "workload_name",
]
