"""Right-sizing: what each workload should ask for (GPUs, MIG profile or share, GPU memory, CPU, memory)."""

from gpufleet.optimizer.rightsizing.base import (
    RIGHTSIZERS,
    History,
    Recommendation,
    RightSizer,
    RightSizerSettings,
    guess_model,
    histories,
    workload_name,
)
from gpufleet.optimizer.rightsizing.evaluate import holdout, recommend_all
from gpufleet.optimizer.rightsizing.mig import MIG_PROFILES, MigProfile, smallest_profile
from gpufleet.optimizer.rightsizing.sizers import KrrSimpleSettings, KrrSimpleSizer, VpaSettings, VpaSizer

__all__ = [
    "MIG_PROFILES",
    "RIGHTSIZERS",
    "History",
    "KrrSimpleSettings",
    "KrrSimpleSizer",
    "MigProfile",
    "Recommendation",
    "RightSizer",
    "RightSizerSettings",
    "VpaSettings",
    "VpaSizer",
    "guess_model",
    "histories",
    "holdout",
    "recommend_all",
    "smallest_profile",
    "workload_name",
]
