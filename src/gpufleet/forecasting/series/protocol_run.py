"""Score forecasters under a SeriesProtocol (protocols.py): per-series rows and the summary table.

At each distinct origin time o every model is fitted once on every series' observed bins before o (series
that ended earlier and series the protocol does not evaluate included: a global model may learn from them),
told that each series evaluated at o is live until bin o - 1 (`ends`: its forecast starts at o even when
its last bins are missing), and asked for h steps; only observed bins are scored.

Per series and horizon: MAE, RMSE; MASE = MAE / s with s = mean |y_t - y_(t-1)| over adjacent observed bins
before the series' first origin (left empty when s = 0); relMAE = MAE / naive-last's MAE on the same points;
nMAE_pct_cap = 100 x MAE / capacity; fit_predict_s = the model's seconds at each origin split evenly over the
series it predicted there. Errors are reported in the protocol's unit (x unit_scale).
Summary per model and horizon: n, unweighted means over series, median MASE, pooled relMAE (sum of MAE over
sum of naive MAE), wins (series whose MAE is below naive's) and the summed seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from gpufleet.forecasting.series.base import FORECASTERS
from gpufleet.forecasting.series.bounds import Bounds
from gpufleet.forecasting.series.protocols import Binned, SeriesProtocol, evaluated

NAIVE = "naive-last"
BASELINES = ("naive-last", "window-mean")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _settings(name: str, protocol: SeriesProtocol, given: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    cfg = dict(given.get(name, {}))
    cfg.setdefault("step_s", float(protocol.bin_s))
    if "horizon" in FORECASTERS.settings_model(name).model_fields:
        cfg.setdefault("horizon", protocol.h)
    return cfg


def forecast_at_origins(
    binned: Binned,
    protocol: SeriesProtocol,
    model: str,
    bounds: Bounds | None = None,
    shift: int = 0,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    on_fit: Callable[[str, list[str], Any], None] | None = None,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """(unique_id, origin, lead, forecast) for every evaluated series and origin; seconds per series.
    `on_fit(model, ids, forecaster)` sees each fitted forecaster and the series it is scored on."""
    plan = evaluated(binned, protocol, shift)
    by_origin: dict[int, list[str]] = {}
    for uid, os_ in plan.items():
        for o in os_:
            by_origin.setdefault(o, []).append(uid)
    FORECASTERS.get(model).warm_up()
    cfg = _settings(model, protocol, settings or {})
    parts, secs = [], dict.fromkeys(plan, 0.0)
    for j, o in enumerate(sorted(by_origin)):
        if progress:
            progress(f"{model}: origin {j + 1}/{len(by_origin)}")
        ids = sorted(by_origin[o])
        end = EPOCH + timedelta(microseconds=binned.time_us(o - 1))
        t0 = time.perf_counter()
        f = FORECASTERS.build(model, cfg)
        f.fit(binned.frame_before(o), bounds=bounds, ends=dict.fromkeys(ids, end))
        pred = f.predict(protocol.h, [80]).filter(pl.col("unique_id").is_in(ids))
        share = (time.perf_counter() - t0) / len(ids)
        if on_fit:
            on_fit(model, ids, f)
        for uid in ids:
            secs[uid] += share
        lead = (pred["ds"].dt.epoch("us") - binned.time_us(o)) // binned.bin_us + 1
        parts.append(
            pred.select("unique_id", pl.lit(o).alias("origin"), lead.alias("lead"), pl.col("mean").alias("forecast"))
        )
    if not parts:
        return pl.DataFrame(
            schema={"unique_id": pl.Utf8, "origin": pl.Int64, "lead": pl.Int64, "forecast": pl.Float64}
        ), secs
    return pl.concat(parts), secs


def truth(binned: Binned, protocol: SeriesProtocol, shift: int = 0) -> tuple[pl.DataFrame, dict[str, float]]:
    """(unique_id, origin, lead, y) of every observed test bin; and each series' MASE scale."""
    plan = evaluated(binned, protocol, shift)
    rows: dict[str, list[Any]] = {"unique_id": [], "origin": [], "lead": [], "y": []}
    scales = {}
    for i, uid in enumerate(binned.ids):
        if uid not in plan:
            continue
        first, y = binned.series(i)
        hist = y[: plan[uid][0] - first]
        d = np.abs(np.diff(hist))
        scales[uid] = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
        for o in plan[uid]:
            win = y[o - first : o - first + protocol.h]
            for k, v in enumerate(win):
                if np.isfinite(v):
                    rows["unique_id"].append(uid)
                    rows["origin"].append(o)
                    rows["lead"].append(k + 1)
                    rows["y"].append(float(v))
    schema = {"unique_id": pl.Utf8, "origin": pl.Int64, "lead": pl.Int64, "y": pl.Float64}
    return pl.DataFrame(rows, schema=schema), scales


def errors(protocol: SeriesProtocol, actual: pl.DataFrame, forecast: pl.DataFrame) -> pl.DataFrame:
    """(unique_id, horizon, e) with one error per scored point of each horizon, in the protocol's unit."""
    j = actual.join(forecast, on=["unique_id", "origin", "lead"], how="left")
    if j["forecast"].null_count():
        raise ValueError(f"{j['forecast'].null_count()} test points have no forecast")
    out = []
    for hz in protocol.horizons:
        sub = j.filter(pl.col("lead") <= hz.leads)
        if hz.kind == "mean":
            # the mean of all the forecast leads against the mean of the observed bins in that window
            fc = (
                forecast.filter(pl.col("lead") <= hz.leads)
                .group_by("unique_id", "origin")
                .agg(pl.col("forecast").mean())
            )
            sub = sub.group_by("unique_id", "origin").agg(pl.col("y").mean()).join(fc, on=["unique_id", "origin"])
        out.append(
            sub.select(
                "unique_id",
                pl.lit(hz.name).alias("horizon"),
                ((pl.col("y") - pl.col("forecast")) * protocol.unit_scale).alias("e"),
            )
        )
    return pl.concat(out)


def series_rows(
    protocol: SeriesProtocol,
    model: str,
    errs: pl.DataFrame,
    scales: Mapping[str, float],
    secs: Mapping[str, float],
    capacity: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """One row per (series, horizon): MAE, RMSE, MASE, seconds, nMAE % of capacity."""
    g = (
        errs.group_by("unique_id", "horizon")
        .agg(
            pl.col("e").abs().mean().alias("MAE"),
            (pl.col("e") ** 2).mean().sqrt().alias("RMSE"),
            pl.len().alias("n_points"),
        )
        .sort("unique_id", "horizon")
    )
    s = pl.DataFrame(
        {
            "unique_id": list(scales),
            "mase_scale": [v * protocol.unit_scale for v in scales.values()],
            "fit_predict_s": [secs.get(k, 0.0) for k in scales],
            "capacity": [(capacity or {}).get(k) for k in scales],
        },
        schema={"unique_id": pl.Utf8, "mase_scale": pl.Float64, "fit_predict_s": pl.Float64, "capacity": pl.Float64},
    )
    return g.join(s, on="unique_id", how="left").with_columns(
        pl.lit(model).alias("model"),
        pl.when(pl.col("mase_scale") > 0).then(pl.col("MAE") / pl.col("mase_scale")).alias("MASE"),
        (100 * pl.col("MAE") / pl.col("capacity")).alias("nMAE_pct_cap"),
    )


def summarize(rows: pl.DataFrame, protocol: SeriesProtocol, models: Sequence[str]) -> pl.DataFrame:
    """Per model and horizon: n, mean MAE/RMSE/MASE, median MASE, pooled relMAE, wins vs naive, seconds."""
    naive = rows.filter(pl.col("model") == NAIVE).select("unique_id", "horizon", pl.col("MAE").alias("naive_MAE"))
    r = rows.join(naive, on=["unique_id", "horizon"], how="left")
    g = r.group_by("model", "horizon").agg(
        pl.len().alias("n"),
        pl.col("MAE").mean().alias("mean_MAE"),
        *([pl.col("nMAE_pct_cap").mean().alias("mean_nMAE_pct_cap")] if protocol.capacity else []),
        pl.col("RMSE").mean().alias("mean_RMSE"),
        pl.col("MASE").drop_nulls().mean().alias("mean_MASE"),
        pl.col("MASE").drop_nulls().median().alias("median_MASE"),
        (pl.col("MAE").sum() / pl.col("naive_MAE").sum()).alias("pooled_relMAE"),
        (pl.col("MAE") < pl.col("naive_MAE")).sum().alias("wins_vs_naive"),
        pl.col("fit_predict_s").sum().alias("fit_predict_s"),
    )
    order = {m: k for k, m in enumerate(models)}
    h_order = {h.name: k for k, h in enumerate(protocol.horizons)}
    return (
        g.with_columns(
            pl.col("model").replace_strict(order, return_dtype=pl.Int64).alias("_m"),
            pl.col("horizon").replace_strict(h_order, return_dtype=pl.Int64).alias("_h"),
        )
        .sort("_h", "_m")
        .drop("_m", "_h")
    )


def with_rel(rows: pl.DataFrame) -> pl.DataFrame:
    """Per-series rows with relMAE_vs_naive (empty where naive's MAE is 0)."""
    naive = rows.filter(pl.col("model") == NAIVE).select("unique_id", "horizon", pl.col("MAE").alias("_n"))
    return (
        rows.join(naive, on=["unique_id", "horizon"], how="left")
        .with_columns(pl.when(pl.col("_n") > 0).then(pl.col("MAE") / pl.col("_n")).alias("relMAE_vs_naive"))
        .drop("_n")
    )


def run_protocol(
    binned: Binned,
    protocol: SeriesProtocol,
    models: Sequence[str],
    bounds: Bounds | None = None,
    capacity: Mapping[str, float] | None = None,
    shift: int = 0,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    on_fit: Callable[[str, list[str], Any], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary, per-series rows) for the models plus the naive-last and window-mean baselines."""
    names = [*BASELINES, *(m for m in models if m not in BASELINES)]
    actual, scales = truth(binned, protocol, shift)
    if actual.height == 0:
        raise ValueError(f"protocol {protocol.name}: no series has an origin to score")
    per = []
    for name in names:
        fc, secs = forecast_at_origins(binned, protocol, name, bounds, shift, settings, progress, on_fit)
        per.append(series_rows(protocol, name, errors(protocol, actual, fc), scales, secs, capacity))
    rows = with_rel(pl.concat(per, how="diagonal_relaxed"))
    cols = [
        "model",
        "unique_id",
        "horizon",
        "MAE",
        "RMSE",
        "MASE",
        "relMAE_vs_naive",
        "nMAE_pct_cap",
        "n_points",
        "mase_scale",
        "capacity",
        "fit_predict_s",
    ]
    rows = rows.select(cols)
    return summarize(rows, protocol, names), rows
