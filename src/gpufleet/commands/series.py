"""`gpufleet backtest series` (rolling origins, or an independent protocol) and `gpufleet forecast`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    _params,
    _root_opt,
    check_out_file,
    emit_json,
    err,
    handles_errors,
    model_names,
    out,
    policy_settings,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

SeriesRef = Annotated[str, typer.Option("--data", help="SERIES, GPU_SAMPLES or REQUESTS reference.")]
IdsOpt = Annotated[str | None, typer.Option(help="Comma-separated series ids to keep (e.g. running_gpu_num).")]
TopOpt = Annotated[int | None, typer.Option(min=1, help="Keep the N series with the highest mean.")]
StepOpt = Annotated[str | None, typer.Option(help="Grid step (default: the horizon's natural step: 1m/10m/1h).")]
BASELINES = ("naive-last", "window-mean")
MAX_STEPS = 100_000  # a horizon longer than this many steps is a typo (11 years of hourly steps)


def _bounds(ref: str, table: str, frame: Any = None) -> tuple[Any, str]:
    """The forecast bounds a reference declares (schema check, part declaration, capacity column)."""
    from gpufleet.forecasting.series import Bounds
    from gpufleet.traces.bounds import declared_range

    r = declared_range(ref, table, frame=frame)
    return Bounds(r.lower, r.upper, r.capacity), r.source


def _table_of(ref: str) -> str:
    from gpufleet.traces.catalog import parse_ref

    try:
        return parse_ref(ref)[1].table
    except GpufleetError:
        return "SERIES"  # a file or a store: what load_series made of it is a SERIES frame


def _positive(option: str, text: str) -> float:
    """A duration option in seconds, refused unless it is longer than zero."""
    from gpufleet.core.durations import parse_duration

    return parse_duration(text, option)


def _series_grid(
    ref: str, ids: str | None, top: int | None, horizon: str, step: str | None, param: list[str] | None
) -> tuple[Any, float, int, str, Any]:
    from datetime import timedelta

    from gpufleet.forecasting.series import infer_step, resample
    from gpufleet.plan.references import load_series, natural_step

    h_s = _positive("--horizon", horizon)  # before any data is read
    given_step = _positive("--step", step) if step else None
    frame, note = load_series(
        ref, _root_opt("data_dir"), ids=ids.split(",") if ids else None, top=top, params=_params(param)
    )
    if frame.height == 0:
        raise GpufleetError(f"{ref}: no series values to forecast")
    table = _table_of(ref)
    raw = None
    if table == "SERIES" and ":" in ref:
        from gpufleet.traces.catalog import parse_ref

        if parse_ref(ref)[1].capacity:  # the capacity column is dropped by load_series: read it once more
            from gpufleet.traces import load

            raw = load(ref, _root_opt("data_dir"), **_params(param)).frame
    bounds, src = _bounds(ref, table, raw)
    native = infer_step(frame).total_seconds()
    step_s = given_step or natural_step(h_s, native)
    if step_s > native:
        frame = resample(frame, timedelta(seconds=step_s))
    h = max(1, round(h_s / step_s))
    if h > MAX_STEPS:
        raise GpufleetError(
            f"--horizon {horizon}: {h:,} steps of {step_s:g} s; at most {MAX_STEPS:,} (a longer --step, or a shorter"
            " horizon)"
        )
    return frame, step_s, h, note + f"; step {step_s:g} s, horizon {h} steps; bounds: {src}", bounds


def protocol_input(ref: str, protocol: str, param: list[str] | None) -> tuple[Any, Any, dict[str, float], str]:
    """(samples as unique_id/ds/y, bounds, capacity per series, note) for an independent protocol."""
    import polars as pl

    from gpufleet.traces import load

    tr = load(ref, _root_opt("data_dir"), **_params(param))
    f, table = tr.frame, tr.meta.table
    if protocol == "genai-a":
        if table != "GPU_SAMPLES" or "pod" not in f.columns:
            raise GpufleetError(
                f"--protocol genai-a scores per-pod GPU duty cycle: {ref} is {table}, use genai:duty-cycle"
            )
        n_no_pod = int(f["pod"].is_null().sum())
        f = f.filter(pl.col("pod").is_not_null() & pl.col("util").is_not_null())
        df = f.select(pl.col("pod").alias("unique_id"), pl.col("ts").alias("ds"), pl.col("util").alias("y"))
        note = f"{ref}: util per pod ({n_no_pod:,} samples without a pod left out, as the protocol says)"
    else:
        if table != "SERIES" or "capacity" not in f.columns:
            raise GpufleetError(
                f"--protocol helios-b scores GPU allocation against a per-series capacity: {ref} is {table}"
                + ("" if table != "SERIES" else " without a capacity column")
                + ", use helios:earth"
            )
        df = f.select("unique_id", "ds", "y")
        note = f"{ref}: allocated GPUs per VC"
    bounds, src = _bounds(ref, table, f)
    return df, bounds, dict(bounds.upper_by_id), note + f"; bounds: {src}"


def _auto_choice(store: dict[str, float]) -> Any:
    def on_fit(model: str, ids: list[str], f: Any) -> None:
        for uid in ids:
            for m, w in f.choice.get(uid, {}).items():
                store[m] = store.get(m, 0.0) + w

    return on_fit


def _protocol_cmd(
    data: str, protocol: str, names: list[str], shift: int, as_json: bool, param: list[str] | None
) -> None:
    from gpufleet.forecasting.series.protocol_run import run_protocol
    from gpufleet.forecasting.series.protocols import PROTOCOLS, bin_samples
    from gpufleet.report.console import metrics_table

    if protocol not in PROTOCOLS:
        raise GpufleetError(f"--protocol {protocol!r}: valid: {', '.join(PROTOCOLS)}")
    if shift < 0:
        raise GpufleetError(f"--shift {shift}: must be >= 0")
    p = PROTOCOLS[protocol]
    with err.status("loading …"):
        df, bounds, capacity, note = protocol_input(data, protocol, param)
        binned = bin_samples(df, p)
    choice: dict[str, float] = {}
    with err.status("scoring …") as st:
        try:
            summary, rows = run_protocol(
                binned,
                p,
                names,
                bounds,
                capacity if p.capacity else None,
                shift,
                progress=lambda m: st.update(f"{protocol}: {m} …"),
                on_fit=_auto_choice(choice),
            )
        except ValueError as e:
            raise GpufleetError(f"--protocol {protocol} on {data}: {e}") from None
    total = sum(choice.values())
    result = {
        "protocol": protocol,
        "doc": p.doc,
        "data": data,
        "series": note,
        "shift": shift,
        "unit": p.unit,
        "summary": summary.to_dicts(),
        "per_series": rows.to_dicts(),
        "auto_weight_share": {m: w / total for m, w in sorted(choice.items())} if total else None,
    }
    if as_json:
        emit_json(result)
        return
    for hz in p.horizons:
        sub = summary.filter(summary["horizon"] == hz.name).drop("horizon")
        title = f"{protocol} {hz.name} on {data} ({p.unit}{'; shifted ' + str(shift) if shift else ''}): {note}"
        out.print(metrics_table(title, sub.to_dicts()))
    if total:
        out.print(
            "auto's weights (share over evaluated series x origins): "
            + ", ".join(f"{m} {w / total:.1%}" for m, w in sorted(choice.items(), key=lambda kv: -kv[1]))
        )


# the forecasters `backtest series` scores when --models is not given (its help shows these same strings)
BACKTEST_MODELS = "seasonal-naive,prophet,lightgbm,auto"
PROTOCOL_MODELS = "lightgbm,lightgbm-direct,auto"


@handles_errors
@reads_files
def backtest_series_cmd(
    data: SeriesRef,
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated forecasters, of {policies:forecaster}; naive-last and window-mean always run"
            f" (default: {BACKTEST_MODELS}; with --protocol {PROTOCOL_MODELS}, as prophet would refit every"
            " series at every origin)."
        ),
    ] = None,
    horizon: Annotated[str, typer.Option(help="How far ahead, e.g. 1h (not with --protocol).")] = "1h",
    origins: Annotated[int, typer.Option(min=1, help="Rolling origins (the last N windows of one horizon).")] = 3,
    protocol: Annotated[
        str | None,
        typer.Option(help="Score under an independent protocol instead: genai-a or helios-b (see docs/models.md)."),
    ] = None,
    shift: Annotated[
        int, typer.Option(help="With --protocol: move every origin this many strides earlier (a validation run).")
    ] = 0,
    step: StepOpt = None,
    ids: IdsOpt = None,
    top: TopOpt = None,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Score forecasters over the last windows of each series (rolling origins in time), beside naive-last and
    window-mean; or exactly under an independent protocol (--protocol)."""
    from gpufleet.forecasting.series import backtest_series
    from gpufleet.report.console import metrics_table

    default = PROTOCOL_MODELS if protocol else BACKTEST_MODELS
    from gpufleet.forecasting.series import FORECASTERS

    picked = model_names(models or default, FORECASTERS)
    names = [*BASELINES, *(m for m in picked if m not in BASELINES)]
    if protocol is not None:
        _protocol_cmd(data, protocol, names, shift, as_json, param)
        return
    with err.status("loading …"):
        frame, step_s, h, note, bounds = _series_grid(data, ids, top, horizon, step, param)
    with err.status(f"backtesting {', '.join(names)} on {frame['unique_id'].n_unique()} series …"):
        table = backtest_series(frame, names, h=h, n_origins=origins, bounds=bounds)
    naive_mae = table.filter(table["model"] == "naive-last")["mae"][0]
    table = table.with_columns((table["mae"] / naive_mae).alias("mae_vs_naive"))
    result = {
        "data": data,
        "series": note,
        "step_s": step_s,
        "h": h,
        "origins": origins,
        "bounds": bounds.to_dict(),
        "metrics": table.to_dicts(),
    }
    if as_json:
        emit_json(result)
        return
    out.print(metrics_table(f"series backtest: {note}; {origins} origins", table.to_dicts()))


@handles_errors
@reads_files
def forecast_cmd(
    series: Annotated[str, typer.Option("--series", help="SERIES, GPU_SAMPLES or REQUESTS reference.")],
    out_path: Annotated[Path, typer.Option("--out", help="Forecast file (.parquet or .csv).")],
    model: Annotated[str, typer.Option(help="Forecaster: {policies:forecaster}.")] = "lightgbm",
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Forecaster setting KEY=VALUE (e.g. n_estimators=100); repeatable; the grid step is --step;"
            " `gpufleet policies --kind forecaster` lists them.",
        ),
    ] = None,
    horizon: Annotated[str, typer.Option(help="How far ahead, e.g. 1h, 6h, 7d.")] = "1h",
    levels: Annotated[str, typer.Option(help="Interval levels in percent.")] = "80,95",
    step: StepOpt = None,
    ids: IdsOpt = None,
    top: TopOpt = None,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Fit a forecaster on every series of a reference and write mean and intervals for the horizon (clipped to
    the data's declared range)."""
    from gpufleet.forecasting.series import FORECASTERS

    check_out_file(out_path, suffixes=(".parquet", ".csv"))
    given = policy_settings("forecaster", model, setting)  # a bad name or setting: before any data is read
    if "step_s" in given:
        raise GpufleetError("--set step_s: the grid step is --step (the series are resampled to it)")
    try:
        lv = [int(x) for x in levels.split(",") if x.strip()]
    except ValueError:
        raise GpufleetError(f"--levels {levels!r}: expected integers such as 80,95") from None
    if not lv or not all(1 <= x <= 99 for x in lv):
        raise GpufleetError(f"--levels {levels!r}: give whole percentages between 1 and 99, such as 80,95")
    with err.status("loading …"):
        frame, step_s, h, note, bounds = _series_grid(series, ids, top, horizon, step, param)
    settings: dict[str, Any] = {"step_s": step_s}
    if "horizon" in FORECASTERS.settings_model(model).model_fields:
        settings["horizon"] = h  # calibrate for the horizon asked for, unless --set says otherwise
    settings |= given
    with err.status(f"fitting {model} on {frame['unique_id'].n_unique()} series …"):
        f = FORECASTERS.build(model, settings).fit(frame, bounds=bounds)
        pred = f.predict(h, lv)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pred.write_csv(out_path) if out_path.suffix == ".csv" else pred.write_parquet(out_path)
    info = {
        "series": note,
        "model": model,
        "h": h,
        "step_s": step_s,
        "rows": pred.height,
        "out": str(out_path),
        "bounds": bounds.to_dict(),
        "fallbacks": f.fallbacks,
        "input_changes": f.info,
    }
    if as_json:
        emit_json(info)
        return
    out.print(f"{model}: {pred['unique_id'].n_unique()} series x {h} steps of {step_s:g} s -> {out_path}")
    out.print(f"data: {note}")
    if f.fallbacks:
        out.print(
            f"{len(f.fallbacks)} series fell back: " + "; ".join(f"{k}: {v}" for k, v in list(f.fallbacks.items())[:5])
        )
