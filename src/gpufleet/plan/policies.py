"""Every policy kind and its registry, for the edges: `gpufleet policies`, the `--set` checks, PolicyHelp, the
dashboard's pickers and docs/policies.md all read the kinds from here.

The registries are imported only when a kind is read, so that `gpufleet --help` loads none of the policy modules
(and their numpy/polars).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # not at run time: `gpufleet --help` imports this module and must not pay for pydantic
    from gpufleet.core.registry import PolicyRegistry

# The one map from a kind's name to its registry ("module:ATTRIBUTE").
KINDS: dict[str, str] = {
    "scheduler": "gpufleet.sim.schedulers:SCHEDULERS",
    "placer": "gpufleet.optimizer.packing:PLACERS",
    "predictor": "gpufleet.forecasting.runtime:PREDICTORS",
    "pool-scaler": "gpufleet.optimizer.autoscaling.pools:POOL_SCALERS",
    "forecaster": "gpufleet.forecasting.series:FORECASTERS",
    "autoscaler": "gpufleet.optimizer.autoscaling:AUTOSCALERS",
    "rightsizer": "gpufleet.optimizer.rightsizing:RIGHTSIZERS",
    "work-model": "gpufleet.sim.serving:WORK_MODELS",
}


def registry(kind: str) -> PolicyRegistry[Any]:
    """The registry of `kind` (a KINDS key), imported now."""
    module, attr = KINDS[kind].split(":")
    reg: PolicyRegistry[Any] = getattr(importlib.import_module(module), attr)
    return reg


def members(kinds: list[str], builtin_only: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Every member of `kinds` as `PolicyRegistry.describe` gives it, and one line per plugin that could not
    be loaded."""
    from gpufleet.core.registry import BUILTIN

    rows: list[dict[str, Any]] = []
    broken: list[str] = []
    for kind in kinds:
        reg = registry(kind)
        broken += [f"{reg.kind} {why}" for why in reg.broken().values()]
        for name in reg.names():
            row = reg.describe(name)
            if not builtin_only or row["origin"] == BUILTIN:
                rows.append(row)
    return rows, broken
