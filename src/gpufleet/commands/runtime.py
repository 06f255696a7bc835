"""`gpufleet backtest runtime`: predictors scored on one trace or many (time / leave-one-out), always beside
the baselines, and their effect on SJF/QSSF through the simulator (nudged replays, FIFO and oracle rows)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    _params,
    _root_opt,
    emit_json,
    err,
    handles_errors,
    model_names,
    out,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

DEFAULT_MODELS = "user-history,gpu-class,lightgbm,xgb-aft,auto,oracle"


def _names(text: str) -> tuple[list[str], list[str]]:
    """(models to run with the baselines first, the baselines that were added because they were not asked)."""
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.forecasting.runtime.crosstrace import BASELINES

    names = model_names(text, PREDICTORS)
    if not names:
        raise GpufleetError("--models is empty")
    added = [b for b in BASELINES if b not in names]
    return [*added, *names], added


@handles_errors
@reads_files
def backtest_runtime_cmd(
    data: Annotated[
        str,
        typer.Option(
            "--data", help="JOBS reference(s), comma-separated; NAME:* takes every part present (e.g. 'itp:*')."
        ),
    ],
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated predictors, of {policies:predictor} (the baselines user-history and gpu-class are"
            " always run)."
        ),
    ] = DEFAULT_MODELS,
    scheme: Annotated[
        str,
        typer.Option(help="time: each trace trains on its own past; leave-one-out: also on every other trace given."),
    ] = "time",
    test_frac: Annotated[float, typer.Option(help="Share of jobs (last, by submit time) to test on.")] = 0.2,
    origins: Annotated[int, typer.Option(min=1, max=1000, help="Rolling origins (folds) inside the test window.")] = 1,
    cluster: Annotated[
        str | None,
        typer.Option(help="Cluster for the downstream replays (default: per trace, sized so mean demand is 95%)."),
    ] = None,
    sim: Annotated[bool, typer.Option(help="Also replay SJF and QSSF with each predictor, beside FIFO and oracle.")] = (
        True
    ),
    nudges: Annotated[
        int,
        typer.Option(
            min=0,
            max=1000,
            help="Replays of each predictor row with its predictions nudged by 1%: the mean is the figure, the "
            "range is how far one replay can move.",
        ),
    ] = 5,
    fixed: Annotated[bool, typer.Option(help="Also replay predictions fixed at submission (no mates refresh).")] = (
        False
    ),
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Score runtime predictors on the last part of each trace (never trained on), beside the baselines, and
    their effect on SJF/QSSF through the simulator."""
    from gpufleet.forecasting.runtime.backtest import METRIC_DOC
    from gpufleet.forecasting.runtime.crosstrace import SCHEMES, backtest_traces, summarize
    from gpufleet.plan.downstream import downstream, gains_across_traces
    from gpufleet.plan.references import auto_cluster, load_cluster, load_jobs
    from gpufleet.traces import expand_refs

    if scheme not in SCHEMES:
        raise GpufleetError(f"--scheme {scheme!r}: use {' or '.join(SCHEMES)}")
    if not 0 < test_frac < 1:
        raise GpufleetError(f"--test-frac {test_frac}: must lie between 0 and 1")
    names, added = _names(models)
    refs = expand_refs(data, _root_opt("data_dir")) if ("*" in data or "," in data) else [data]
    if scheme == "leave-one-out" and len(refs) < 2:
        raise GpufleetError("--scheme leave-one-out needs at least two traces, e.g. --data 'itp:*'")
    if cluster is not None and sim:
        load_cluster(cluster, _root_opt("data_dir"))  # a bad --cluster fails now, not after the backtest
    with err.status("loading …") as st:
        traces = {r: load_jobs(r, _root_opt("data_dir"), _params(param)) for r in refs}
        for r, f in traces.items():
            if f.filter(f["duration"].is_not_null()).height < 20:
                raise GpufleetError(f"{r}: a runtime backtest needs at least 20 jobs with durations")
        table, choices = backtest_traces(
            traces,
            names,
            scheme=scheme,
            test_frac=test_frac,
            n_origins=origins,
            progress=lambda m: st.update(f"backtesting {m} …"),
        )
        effect: dict[str, list[dict[str, Any]]] = {}
        specs: dict[str, str] = {}
        if sim:
            for r, f in traces.items():
                specs[r] = cluster or auto_cluster(f)
                st.update(f"replaying FIFO/SJF/QSSF on {r} ({specs[r]}, {nudges} nudges) …")
                nodes = load_cluster(specs[r], _root_opt("data_dir"))
                effect[r] = downstream(f, nodes, names, nudges=nudges, fixed=fixed)
    summary = summarize(table)
    result = {
        "data": data,
        "traces": refs,
        "scheme": scheme,
        "test_frac": test_frac,
        "origins": origins,
        "baselines_added": added,
        "metrics": table.to_dicts(),
        "summary": summary,
        "auto_choices": choices,
        "metric_definitions": METRIC_DOC,
        "cluster": specs if len(refs) > 1 else specs.get(refs[0]),
        "downstream": effect if len(refs) > 1 else effect.get(refs[0], []),
        "downstream_summary": gains_across_traces(effect),
    }
    if as_json:
        emit_json(result)
        return
    _print(result, table, effect, specs)


def _print(result: dict[str, Any], table: Any, effect: dict[str, Any], specs: dict[str, str]) -> None:
    from gpufleet.report.console import metrics_table

    scheme = result["scheme"]
    how = "own past" if scheme == "time" else "own past + every other trace"
    if result["baselines_added"]:
        out.print(f"baselines added beside the models asked for: {', '.join(result['baselines_added'])}")
    keep = ("trace", "model", "log_mae", "bias", "cover_p10_p90", "within_2x", "mdape", "fit_s", "n_test")
    rows = [{k: r[k] for k in keep if k in r} for r in result["metrics"]]
    if len(result["traces"]) == 1:
        rows = [{k: v for k, v in r.items() if k != "trace"} for r in rows]
    out.print(
        metrics_table(
            f"runtime backtest, last {result['test_frac']:.0%} of each trace by time (trained on {how})", rows
        )
    )
    if len(result["traces"]) > 1:
        out.print(
            metrics_table(
                "across traces (log-MAE ratios per trace; best baseline of user-history, gpu-class)", result["summary"]
            )
        )
    for c in result["auto_choices"]:
        scores = ", ".join(f"{k} {v:.3f}" for k, v in c.get("scores", {}).items())
        out.print(f"auto on {c['trace']}: chose [bold]{c['member']}[/bold] ({c['why']}; validation {scores})")
    for ref, rows_ in effect.items():
        out.print(
            metrics_table(f"downstream on {ref}: average JCT on {specs[ref]} (whole trace, causal predictions)", rows_)
        )
    if len(effect) > 1:
        out.print(
            metrics_table(
                "downstream across traces: gain_captured = (FIFO - row) / (FIFO - oracle)", result["downstream_summary"]
            )
        )
