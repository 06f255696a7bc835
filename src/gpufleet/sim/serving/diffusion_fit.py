"""Fitting the diffusion work model's service time on timed requests (genai:requests), and scoring it.

Form (chosen 2026-12-06 on a validation window before the test window, bench/exp_diffusion_fit.py; docs/serving.md):
    log(exec_s) = b0 + b1 log(steps) + b2 log(images) + b3 [LoRA] + b4 min(LoRAs, 3) + b_type + b_model
with b_model a ridge-shrunk effect per base model (an unseen or rare model gets little or none of one, i.e. the
global level), fitted by least squares on successful requests with an execution time; the intercept is shifted
so that exp(prediction) is the median, and the residuals' quantiles are kept so a replay can draw the spread.
Baselines it must beat on held-back requests: the median per base model (global median for unseen models), and
the global median.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

F64 = npt.NDArray[np.float64]
TYPES = ("IMG_2_IMG", "INPAINTING")  # effects relative to TXT_2_IMG
MAX_LORA = 3
QUANTILES = 101


class DiffusionCoefficients(BaseModel):
    """A fitted diffusion service-time model (what is persisted as JSON)."""

    model_config = ConfigDict(extra="forbid")
    intercept: float
    log_steps: float
    log_images: float
    lora_any: float
    lora_n: float
    types: dict[str, float] = Field(default_factory=dict, description="effect per predict_type (vs TXT_2_IMG)")
    models: dict[str, float] = Field(default_factory=dict, description="effect per base model (vs the global level)")
    residual_quantiles: list[float] = Field(description="quantiles 0, 0.01, .., 1 of log(exec) - prediction")
    default_steps: float = Field(30.0, gt=0, description="steps of a request that gives none")
    default_images: float = Field(1.0, gt=0, description="images of a request that gives none")
    ridge: float = Field(0.0, ge=0, description="the penalty on the base-model effects it was fitted with")
    fitted_on: dict[str, Any] = Field(default_factory=dict, description="data, window and rows it was fitted on")
    errors: dict[str, Any] = Field(default_factory=dict, description="its errors and the baselines' on held-back data")

    def log_median(self, x: Features) -> F64:
        """log of the predicted median seconds per request."""
        out = self.intercept + self.log_steps * np.log(x.steps) + self.log_images * np.log(x.images)
        out = out + self.lora_any * (x.lora > 0) + self.lora_n * np.minimum(x.lora, MAX_LORA)
        for t, b in self.types.items():
            out = out + b * (x.kind == t)
        return out + np.array([self.models.get(m, 0.0) for m in x.model])

    def median_s(self, x: Features) -> F64:
        """Predicted median seconds per request."""
        return np.exp(self.log_median(x))


class Features:
    """The columns the model reads, with the defaults filled in (and how many were)."""

    def __init__(self, frame: pl.DataFrame, default_steps: float = 30.0, default_images: float = 1.0) -> None:
        def col(name: str, default: float) -> tuple[F64, int]:
            if name not in frame.columns:
                return np.full(frame.height, default), frame.height
            v = frame[name].cast(pl.Float64).to_numpy().astype(np.float64)
            bad = ~np.isfinite(v) | (v <= 0)
            return np.where(bad, default, v), int(bad.sum())

        self.steps, self.filled_steps = col("num_inference_steps", default_steps)
        self.images, self.filled_images = col("num_images_per_prompt", default_images)
        lora = frame["num_lora"].cast(pl.Float64).fill_null(0.0) if "num_lora" in frame.columns else None
        self.lora = np.zeros(frame.height) if lora is None else np.maximum(lora.to_numpy().astype(np.float64), 0.0)
        kind = frame["predict_type"].cast(pl.Utf8).fill_null("") if "predict_type" in frame.columns else None
        self.kind = (
            np.full(frame.height, "", dtype=object) if kind is None else np.asarray(kind.to_list(), dtype=object)
        )
        model = frame["model"].cast(pl.Utf8).fill_null("") if "model" in frame.columns else None
        self.model: list[str] = [""] * frame.height if model is None else model.to_list()


def trainable(frame: pl.DataFrame) -> pl.DataFrame:
    """Requests that teach the model: succeeded, with an execution time above zero, steps and images given."""
    f = frame
    if "predict_status" in f.columns:
        f = f.filter(pl.col("predict_status") == "SUCCEED")
    return f.filter(
        (pl.col("service_time") > 0)
        & pl.col("num_inference_steps").is_not_null()
        & pl.col("num_images_per_prompt").is_not_null()
    )


def fit(frame: pl.DataFrame, ridge: float) -> DiffusionCoefficients:
    """Least squares in log space, base-model effects shrunk by `ridge` (trainable rows of `frame` only)."""
    f = trainable(frame)
    if f.height < 20:
        raise ValueError(f"fitting the diffusion model needs at least 20 timed requests, got {f.height}")
    x = Features(f)
    models = sorted(set(x.model) - {""})
    index = {m: k for k, m in enumerate(models)}
    base = [np.ones(f.height), np.log(x.steps), np.log(x.images), x.lora > 0, np.minimum(x.lora, MAX_LORA)]
    base += [x.kind == t for t in TYPES]
    dummies = np.zeros((f.height, len(models)))
    rows = [k for k, m in enumerate(x.model) if m in index]
    dummies[rows, [index[x.model[k]] for k in rows]] = 1.0
    design = np.column_stack([np.column_stack(base).astype(np.float64), dummies])
    y = np.log(f["service_time"].cast(pl.Float64).to_numpy())
    penalty = np.diag([0.0] * len(base) + [ridge] * len(models))
    # a tiny ridge on every column keeps the system solvable when a type never occurs in the window
    beta = np.linalg.solve(design.T @ design + penalty + 1e-9 * np.eye(design.shape[1]), design.T @ y)
    resid = y - design @ beta
    shift = float(np.median(resid))
    resid = resid - shift
    return DiffusionCoefficients(
        intercept=float(beta[0]) + shift,
        log_steps=float(beta[1]),
        log_images=float(beta[2]),
        lora_any=float(beta[3]),
        lora_n=float(beta[4]),
        types={t: float(beta[5 + k]) for k, t in enumerate(TYPES)},
        models={m: float(beta[len(base) + k]) for k, m in enumerate(models)},
        residual_quantiles=np.quantile(resid, np.linspace(0, 1, QUANTILES)).tolist(),
        ridge=ridge,
    )


def errors(actual: F64, predicted: F64) -> dict[str, float]:
    """MAE, MAPE and the median and 90th percentile absolute error (seconds; MAPE as a fraction)."""
    err = np.abs(actual - predicted)
    return {
        "mae_s": float(err.mean()),
        "mape": float((err / actual).mean()),
        "abs_err_p50_s": float(np.median(err)),
        "abs_err_p90_s": float(np.quantile(err, 0.9)),
        "requests": len(actual),
    }


def baselines(train: pl.DataFrame, test: pl.DataFrame) -> dict[str, F64]:
    """The baselines' predictions for `test`, learned on `train`: median per base model, global median."""
    t = trainable(train)
    overall = float(t["service_time"].median())  # type: ignore[arg-type]
    per = dict(t.group_by("model").agg(pl.col("service_time").median()).iter_rows())
    models = test["model"].to_list()
    return {
        "median per base model": np.array([per.get(m, overall) for m in models], dtype=np.float64),
        "global median": np.full(test.height, overall),
    }


def scored(model: DiffusionCoefficients, train: pl.DataFrame, test: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Errors of the model and of each baseline on the trainable requests of `test`."""
    t = trainable(test)
    actual = t["service_time"].cast(pl.Float64).to_numpy()
    out = {"fitted": errors(actual, model.median_s(Features(t)))}
    for name, pred in baselines(train, t).items():
        out[name] = errors(actual, pred)
    return out


def median_per_model(frame: pl.DataFrame) -> DiffusionCoefficients:
    """The baseline in the model's own form: the median per base model (the global median for others)."""
    t = trainable(frame)
    overall = float(t["service_time"].median())  # type: ignore[arg-type]
    per = dict(t.group_by("model").agg(pl.col("service_time").median()).iter_rows())
    model = DiffusionCoefficients(
        intercept=float(np.log(overall)),
        log_steps=0.0,
        log_images=0.0,
        lora_any=0.0,
        lora_n=0.0,
        models={str(m): float(np.log(v / overall)) for m, v in per.items() if m is not None},
        residual_quantiles=[0.0] * QUANTILES,
    )
    resid = np.log(t["service_time"].cast(pl.Float64).to_numpy()) - model.log_median(Features(t))
    return model.model_copy(update={"residual_quantiles": np.quantile(resid, np.linspace(0, 1, QUANTILES)).tolist()})


def select(
    train: pl.DataFrame, valid: pl.DataFrame, ridges: tuple[float, ...] = (0.1, 1.0, 5.0, 20.0, 100.0)
) -> tuple[str, float | None, dict[str, float]]:
    """On a validation window after the training window: the ridge with the lowest MAE, and whether the fitted
    form beats the median per base model at all ('log-linear' or 'median per base model'); validation MAE of each."""
    v = trainable(valid)
    actual = v["service_time"].cast(pl.Float64).to_numpy()
    x = Features(v)
    mae = {f"ridge {r:g}": float(np.abs(fit(train, r).median_s(x) - actual).mean()) for r in ridges}
    best = min(ridges, key=lambda r: mae[f"ridge {r:g}"])
    mae["median per base model"] = float(np.abs(median_per_model(train).median_s(x) - actual).mean())
    if mae[f"ridge {best:g}"] < mae["median per base model"]:
        return "log-linear", best, mae
    return "median per base model", None, mae
