"""Rolling-origin backtest of forecasters on a SERIES frame: frames in, one row of scores per model out.

Origins are in calendar time on the prepared (regular) grid: with T the last timestamp of the frame,
window k (k = 1..n_origins) covers the h steps ending at T - (k-1)*h*step, and each model is fitted
on every row before the window's first step; a window never overlaps its training data and nothing
is split at random. A series is scored at an origin when its training part reaches the step right
before the window (it is live there); its forecast then lines up with the window, and every window
step where the series has a value is scored.

Scores (pooled over series, origins and horizon steps unless said otherwise):
- mae, rmse of y - mean;
- mase: for each (series, origin), the window's MAE divided by that series' in-sample MAE of the
  one-season-ahead seasonal-naive forecast on the training part, mean |y_t - y_{t-m}|, where m is
  `season` (default: one day of steps), or m = 1 for a series whose training part holds no more than
  m points; pairs whose scale is 0 (a constant history) are left out; mase is the mean over pairs;
- coverage-L: share of scored points inside the L% interval (nominal: L/100);
- fit_s, predict_s: wall seconds summed over origins; n_series: series scored at least once;
  n_fallback: of those, how many the model forecast by its fallback at one origin or more.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.series.base import FORECASTERS
from gpufleet.forecasting.series.bounds import Bounds
from gpufleet.forecasting.series.panel import Panel, check_levels, day_steps, to_us
from gpufleet.forecasting.series.prepare import prepare


def _model_settings(
    name: str, h: int, step_s: float, season: int | None, given: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    # The backtest knows the grid, the horizon and the season; a model gets them unless told otherwise.
    cfg = dict(given.get(name, {}))
    fields = FORECASTERS.settings_model(name).model_fields
    cfg.setdefault("step_s", step_s)
    if season is not None:
        cfg.setdefault("season_length", season)
    if "horizon" in fields:
        cfg.setdefault("horizon", h)
    return cfg


def _scales(train: pl.DataFrame, step: timedelta, live: list[str], m: int) -> dict[str, float]:
    """Per live series: in-sample MAE of the one-season-ahead seasonal naive (m = 1 when too short)."""
    panel = Panel.from_frame(train.filter(pl.col("unique_id").is_in(live)), step)
    out = {}
    for uid, y in zip(panel.ids, panel.values, strict=True):
        lag = m if len(y) > m else 1
        out[uid] = float(np.mean(np.abs(y[lag:] - y[:-lag]))) if len(y) > lag else float("nan")
    return out


class SeriesTooShort(GpufleetError, ValueError):
    """The series are too short for the windows asked for (a ValueError too, as it was before)."""


def backtest_series(
    df: pl.DataFrame,
    models: Sequence[str],
    h: int,
    n_origins: int = 3,
    levels: Sequence[int] = (80,),
    season: int | None = None,
    step: timedelta | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    bounds: Bounds | None = None,
) -> pl.DataFrame:
    """Score each model over the last n_origins windows of h steps (rolling origins in time); forecasts are
    clipped to `bounds` (the data's declared range)."""
    if h < 1 or n_origins < 1:
        raise ValueError(f"h and n_origins must be >= 1, got h={h}, n_origins={n_origins}")
    lv = check_levels(levels)
    prep = prepare(df, step)
    frame, step = prep.frame, prep.step
    step_us = to_us(step)
    m = season or day_steps(step_us)
    frame = frame.with_columns(pl.col("ds").dt.epoch("us").alias("t"))
    t_first, t_last = int(frame["t"].min()), int(frame["t"].max())  # type: ignore[arg-type]
    origins = [t_last - (k * h - 1) * step_us for k in range(n_origins, 0, -1)]
    if origins[0] - step_us < t_first:
        first, last = (str(frame["ds"].min()), str(frame["ds"].max()))
        raise SeriesTooShort(
            f"the series run from {first} to {last}, too few steps of {step} for {n_origins} windows of {h} steps"
            " plus training data (if ds holds numbers in another unit, give --time-unit or the map's units: {ds: ...})"
        )
    for name in models:
        FORECASTERS.get(name).warm_up()  # import time is not fit time
    scored: dict[str, list[pl.DataFrame]] = {name: [] for name in models}
    secs = {name: [0.0, 0.0] for name in models}
    fell: dict[str, set[str]] = {name: set() for name in models}
    for o in origins:
        train = frame.filter(pl.col("t") < o).drop("t")
        ends = train.group_by("unique_id").agg(pl.col("ds").dt.epoch("us").max().alias("end"))
        live = ends.filter(pl.col("end") == o - step_us)["unique_id"].sort().to_list()
        test = frame.filter(pl.col("t").is_between(o, o + (h - 1) * step_us), pl.col("unique_id").is_in(live))
        scales = pl.DataFrame(
            list(_scales(train, step, live, m).items()),
            schema={"unique_id": pl.Utf8, "scale": pl.Float64},
            orient="row",
        )
        for name in models:
            f = FORECASTERS.build(name, _model_settings(name, h, step.total_seconds(), season, settings or {}))
            t0 = time.perf_counter()
            f.fit(train, bounds=bounds)
            t1 = time.perf_counter()
            pred = f.predict(h, lv)
            secs[name][0] += t1 - t0
            secs[name][1] += time.perf_counter() - t1
            fell[name] |= set(f.fallbacks) & set(live)
            joined = test.drop("t").join(pred, on=["unique_id", "ds"], how="inner").join(scales, on="unique_id")
            scored[name].append(joined.with_columns(pl.lit(o).alias("origin")))
    rows = [_score(name, pl.concat(scored[name]), lv, secs[name], fell[name]) for name in models]
    return pl.DataFrame(rows)


def _score(name: str, s: pl.DataFrame, levels: list[int], secs: list[float], fell: set[str]) -> dict[str, Any]:
    err = s.select((pl.col("y") - pl.col("mean")).alias("e"), "unique_id", "origin", "scale")
    pairs = (
        err.group_by("unique_id", "origin")
        .agg(pl.col("e").abs().mean().alias("mae"), pl.col("scale").first())
        .filter(pl.col("scale").is_finite() & (pl.col("scale") > 0))  # NaN compares greater than 0 in polars
        # group_by returns groups in a thread-dependent order: sort so the float sum below is reproducible
        .sort("unique_id", "origin")
    )
    row: dict[str, Any] = {
        "model": name,
        "mae": float(err["e"].abs().mean()) if s.height else float("nan"),  # type: ignore[arg-type]
        "rmse": float(np.sqrt((err["e"] ** 2).mean())) if s.height else float("nan"),  # type: ignore[arg-type]
        "mase": float((pairs["mae"] / pairs["scale"]).mean()) if pairs.height else float("nan"),  # type: ignore[arg-type]
    }
    for lv in levels:
        inside = (s["y"] >= s[f"lo-{lv}"]) & (s["y"] <= s[f"hi-{lv}"])
        row[f"coverage-{lv}"] = float(inside.mean()) if s.height else float("nan")  # type: ignore[arg-type]
    series = set(s["unique_id"].to_list())
    row |= {
        "fit_s": secs[0],
        "predict_s": secs[1],
        "n_series": len(series),
        "n_fallback": len(fell & series),
        "n_points": s.height,
    }
    return row
