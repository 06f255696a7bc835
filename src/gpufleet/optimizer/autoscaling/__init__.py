"""Autoscaling: how many replicas a serving workload should run (and, later, node pools for training)."""

from gpufleet.optimizer.autoscaling.base import (
    AUTOSCALERS,
    Autoscaler,
    AutoscalerSettings,
    FleetState,
    Forecast,
    Guardrails,
    ScalingPlan,
    replicas_for,
)
from gpufleet.optimizer.autoscaling.policies import Kpa, Oracle, Predictive, TargetTracking
from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS, PoolPlan, PoolScaler, PoolState

__all__ = [
    "AUTOSCALERS",
    "POOL_SCALERS",
    "Autoscaler",
    "AutoscalerSettings",
    "FleetState",
    "Forecast",
    "Guardrails",
    "Kpa",
    "Oracle",
    "PoolPlan",
    "PoolScaler",
    "PoolState",
    "Predictive",
    "ScalingPlan",
    "TargetTracking",
    "replicas_for",
]
