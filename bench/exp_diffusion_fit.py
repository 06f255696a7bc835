"""The diffusion work model's fit (#25 point 1): choose the form on a validation window, score it on a later test
window, and (with --write) persist the coefficients the `diffusion` work model uses.

Split by time over genai:requests (three weeks): train on the first 2/3 minus its last 35%, validate on that 35%
(choose the ridge on the base-model effects, and the fitted form vs the median per base model; LightGBM is scored
there too when installed), then refit the chosen form on the whole first 2/3 and report errors on the last third,
next to the baselines (median per base model, global median) fitted on the same 2/3. Nothing is chosen on the
test window. Only successful requests with an execution time above zero are scored (docs/serving.md).
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_diffusion_fit.py [--write] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from typing import Any

import numpy as np

TRAIN_SHARE = 2 / 3  # the fit window; the rest is the test window
VALID_SHARE = 0.35  # the end of the fit window that chooses the form


def lightgbm_mae(train: Any, valid: Any) -> float | None:
    """Validation MAE of LightGBM (L1 on log seconds) on the same features, or None without LightGBM."""
    try:
        import lightgbm as lgb
    except ImportError:
        return None
    from gpufleet.sim.serving.diffusion_fit import Features, trainable

    t, v = trainable(train), trainable(valid)
    cats = {m: k for k, m in enumerate(sorted(set(t["model"].to_list())))}

    def matrix(f: Any) -> Any:
        x = Features(f)
        kind = np.asarray(x.kind)
        models = [cats.get(m, -1) for m in x.model]
        cols = [x.steps, x.images, x.lora, kind == "IMG_2_IMG", kind == "INPAINTING", models]
        return np.column_stack(cols).astype(np.float64)

    params = {"objective": "l1", "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 20, "verbose": -1}
    ds = lgb.Dataset(matrix(t), np.log(t["service_time"].to_numpy()), categorical_feature=[5])
    booster = lgb.train({**params, "seed": 0}, ds, 300)
    pred = np.exp(booster.predict(matrix(v)))
    return float(np.abs(pred - v["service_time"].to_numpy()).mean())


def main() -> int:
    """Fit, score, print; with --write, persist the coefficients next to the work model."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write src/gpufleet/sim/serving/diffusion_genai.json")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import polars as pl

    from gpufleet.plan.references import load_requests
    from gpufleet.sim.serving.diffusion import BUILTIN
    from gpufleet.sim.serving.diffusion_fit import fit, median_per_model, scored, select

    frame = load_requests("genai:requests", os.environ.get("GPUFLEET_DATA"))
    end = float(frame["arrival_time"].max())  # type: ignore[arg-type]
    cut = end * TRAIN_SHARE
    val_from = cut * (1 - VALID_SHARE)
    fit_window = frame.filter(pl.col("arrival_time") < cut)
    train = fit_window.filter(pl.col("arrival_time") < val_from)
    valid = fit_window.filter(pl.col("arrival_time") >= val_from)
    test = frame.filter(pl.col("arrival_time") >= cut)
    form, ridge, val_mae = select(train, valid)
    lgbm = lightgbm_mae(train, valid)
    if lgbm is not None:
        val_mae["lightgbm (not chosen unless clearly better)"] = lgbm
    model = fit(fit_window, ridge) if ridge is not None else median_per_model(fit_window)
    errs = scored(model, fit_window, test)
    model = model.model_copy(
        update={
            "fitted_on": {
                "trace": "genai:requests",
                "fit_window_s": [0.0, cut],
                "validation_window_s": [val_from, cut],
                "test_window_s": [cut, end],
                "form": form,
                "validation_mae_s": val_mae,
                "date": str(date(2026, 12, 6)),
                "command": "python bench/exp_diffusion_fit.py --write",
            },
            "errors": {"test_window": errs},
        }
    )
    if args.write:
        tmp = BUILTIN.with_suffix(".tmp")
        tmp.write_text(model.model_dump_json(indent=1) + "\n")
        tmp.replace(BUILTIN)  # whole or not at all
    if args.json:
        print(json.dumps({"form": form, "ridge": ridge, "validation_mae_s": val_mae, "test": errs}, indent=1))
        return 0
    days = f"first {cut / 86400:.2f} days; validation from day {val_from / 86400:.2f}; test to day {end / 86400:.2f}"
    print(f"fit window: {days}")
    print("validation MAE (s): " + ", ".join(f"{k} {v:.2f}" for k, v in val_mae.items()))
    print(f"chosen: {form}" + (f", ridge {ridge:g}" if ridge is not None else ""))
    print(f"{'held-back test window':32} {'MAE s':>7} {'MAPE':>7} {'|err| p50':>10} {'|err| p90':>10} {'requests':>9}")
    for name, e in errs.items():
        print(
            f"{name:32} {e['mae_s']:7.2f} {e['mape']:7.1%} {e['abs_err_p50_s']:10.2f} {e['abs_err_p90_s']:10.2f}"
            f" {e['requests']:9,}"
        )
    if args.write:
        print(f"written: {BUILTIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
