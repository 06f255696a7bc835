"""`gpufleet train|predict runtime` and the `backtest` group (its commands: commands/runtime.py, commands/series.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PolicyHelp,
    _params,
    _root_opt,
    check_out_dir,
    check_out_file,
    emit_json,
    err,
    handles_errors,
    out,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

train_app = typer.Typer(help="Train models and save them.", no_args_is_help=True)
predict_app = typer.Typer(help="Predict with a saved model.", no_args_is_help=True)
backtest_app = typer.Typer(help="Backtest models with rolling origins in time.", no_args_is_help=True)

JobsRef = Annotated[str, typer.Option("--jobs", help="JOBS reference, e.g. philly:jobs or synthetic:jobs.")]


@train_app.command("runtime", cls=PolicyHelp)
@handles_errors
@reads_files
def train_runtime(
    jobs: JobsRef,
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    model: Annotated[str, typer.Option(help="Runtime model to train: {policies:predictor:learned}.")] = "auto",
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Train a runtime predictor on every finished job of a trace and save it with its feature schema."""
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.plan.modelstore import save_runtime_model
    from gpufleet.plan.references import load_jobs

    check_out_dir(out_dir)
    if not PREDICTORS.get(model).learned:  # the rule `--model`'s help lists by: the members declaring `learned`
        learned = ", ".join(PREDICTORS.having("learned"))
        raise GpufleetError(f"--model {model!r}: learns nothing: nothing to train or save (learned: {learned})")
    m = PREDICTORS.build(model)
    with err.status(f"training {model} …"):
        frame = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        m.fit(frame)
    save_runtime_model(m, out_dir, {"jobs": jobs, "params": _params(param), "rows": frame.height})
    state = m.to_state()  # type: ignore[attr-defined]
    info = {
        "model": model,
        "out": str(out_dir),
        "trained_on_jobs": state["trained_on"],
        "features_used": state["features"],
        "features_unavailable": state["features_missing"],
        "choice": state.get("choice"),
    }
    if as_json:
        emit_json(info)
        return
    n = state["trained_on"] or frame.height
    out.print(f"trained [bold]{model}[/bold] on {n:,} jobs of {jobs}; saved to {out_dir}/")
    if state.get("choice"):
        c = state["choice"]
        out.print(f"auto chose [bold]{c['member']}[/bold]: {c['why']}")
    out.print(f"features used: {', '.join(state['features']) or 'none (a causal baseline)'}")
    if state["features_missing"]:
        out.print(f"features this data could not provide: {', '.join(state['features_missing'])}")


@predict_app.command("runtime")
@handles_errors
@reads_files
def predict_runtime(
    model_dir: Annotated[Path, typer.Option("--model", help="Directory from `train runtime`.")],
    jobs: JobsRef,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write predictions (.parquet)")] = None,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Predict p10/p50/p90 run times for a trace with a saved model (history features from the trace itself)."""
    import numpy as np

    from gpufleet.forecasting.runtime.backtest import runtime_metrics
    from gpufleet.plan.modelstore import load_runtime_model
    from gpufleet.plan.references import load_jobs

    if out_path is not None:
        check_out_file(out_path, suffixes=(".parquet",))
    m = load_runtime_model(model_dir)
    frame = load_jobs(jobs, _root_opt("data_dir"), _params(param))
    m.check_columns(frame)
    pred = m.predict(frame)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        pred.write_parquet(out_path)
    known = frame["duration"].is_not_null().to_numpy()
    score = (
        runtime_metrics(
            frame["duration"].to_numpy()[known], *(pred[c].to_numpy()[known] for c in ("p10", "p50", "p90"))
        )
        if known.any()
        else None
    )
    info = {
        "jobs": frame.height,
        "p50_median_s": float(np.median(pred["p50"].to_numpy())) if frame.height else None,
        "out": str(out_path) if out_path else None,
        "scored_against_known_durations": score,
        "notes": m.notes,
    }
    if as_json:
        emit_json(info)
        return
    for note in m.notes:
        err.print(f"note: {note}")
    median = f"{info['p50_median_s']:.0f} s" if info["p50_median_s"] is not None else "-"
    out.print(
        f"predicted {frame.height:,} jobs; median p50 {median}" + (f"; written to {out_path}" if out_path else "")
    )
    if score:
        out.print(
            "against the durations in the trace (in-sample if the model saw them): "
            + ", ".join(f"{k} {v:.3f}" for k, v in score.items())
        )
