"""Saving and loading trained models (an edge module: forecasting itself does no I/O).

A model directory holds `model.json` (the model's own state, boosters as text) and `meta.json` (what it
was trained on, which features it could use, the feature schema version, the gpufleet version).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gpufleet import __version__
from gpufleet.core.config import read_json_object
from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime import PREDICTORS, AFTRuntime, AutoRuntime
from gpufleet.forecasting.runtime.gbm import LightGBMRuntime

SAVABLE = "lightgbm, xgb-aft and auto"


def save_runtime_model(model: Any, out: Path, meta: dict[str, Any]) -> list[Path]:
    """Write a fitted runtime model and its metadata."""
    if not hasattr(model, "to_state"):
        raise GpufleetError(f"this runtime predictor has nothing to train or save (trained: {SAVABLE})")
    state = model.to_state()
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps(state))
    info = meta | {
        "gpufleet_version": __version__,
        "model": state["model"],
        "kind": state["kind"],
        "feature_schema_version": state["feature_schema_version"],
        "features_used": state["features"],
        "features_unavailable": state["features_missing"],
        "trained_on_jobs": state["trained_on"],
        "choice": state.get("choice"),  # auto: the member, its validation scores and why
    }
    (out / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return [out / "model.json", out / "meta.json"]


def _member(state: dict[str, Any]) -> Any:
    if state.get("kind") != "runtime":
        raise GpufleetError(f"not a runtime model (kind={state.get('kind')})")
    if state.get("model") == "lightgbm":
        return LightGBMRuntime.from_state(state)
    if state.get("model") == "xgb-aft":
        return AFTRuntime.from_state(state)
    if state.get("model") == "auto":
        return AutoRuntime.from_state(state, _member)
    raise GpufleetError(f"unknown saved runtime model {state.get('model')!r} (saved models: {SAVABLE})")


def load_runtime_model(path: Path) -> Any:
    """Read a model directory written by save_runtime_model; clear errors for anything else."""
    f = path / "model.json"
    if not f.is_file():
        raise GpufleetError(f"{path}: not a model directory (no model.json); create one with `gpufleet train runtime`")
    state = read_json_object(f, "a model file")
    if state.get("model") not in PREDICTORS:
        raise GpufleetError(f"{f}: unknown model {state.get('model')!r}")
    try:
        return _member(state)
    except (KeyError, TypeError, ValueError) as e:
        raise GpufleetError(f"{f}: not a model this gpufleet can read ({type(e).__name__}: {e})") from None
