"""Autoscaling: how many replicas a serving workload should run (and, later, node pools for training)."""

from gpufleet.optimizer.autoscaling.base import (
    AUTOSCALERS,
    Autoscaler,
    FleetState,
    Forecast,
    Guardrails,
    ScalingPlan,
    make_autoscaler,
    replicas_for,
)
from gpufleet.optimizer.autoscaling.policies import Kpa, Oracle, Predictive, TargetTracking

__all__ = [
    "AUTOSCALERS",
    "Autoscaler",
    "FleetState",
    "Forecast",
    "Guardrails",
    "Kpa",
    "Oracle",
    "Predictive",
    "ScalingPlan",
    "TargetTracking",
    "make_autoscaler",
    "replicas_for",
]
