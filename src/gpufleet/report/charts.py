"""The report's plotly figures and their one layout: titles are HTML headings above each chart (a plotly title
and a wrapped legend fight for the same top margin), the legend sits in a row above the plot, axes grow their
margins to fit their tick labels, and every linear value axis runs from 0 to the data's maximum (autorange pads
below zero: a serving axis once went down to -3.6 requests)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from gpufleet.report.rundir import read_table

COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def clamp_axes(fig: go.Figure) -> None:
    """Every linear, numeric axis of the figure to [0, max of its data x 1.04] (0 to 1 with no data)."""
    top: dict[str, float] = {}
    for tr in fig.data:
        xa, ya = tr.xaxis or "x", tr.yaxis or "y"
        for axis, values in (("xaxis" + xa[1:], tr.x), ("yaxis" + ya[1:], tr.y)):
            if values is None:
                continue
            nums = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
            if len(nums) != len(values):  # categories or dates: not a value axis
                top[axis] = math.nan
                continue
            top[axis] = max(top.get(axis, 0.0), max(nums, default=0.0))
    for axis, hi in top.items():
        ax = fig.layout[axis]
        if math.isnan(hi) or ax.type == "log" or ax.type == "date":
            continue
        fig.layout[axis].range = [0, hi * 1.04 if hi > 0 else 1]


def figure_html(fig: go.Figure, n: int, title: str) -> str:
    """One chart as HTML: its heading, then the plot (plotly.js inlined with the first one only)."""
    clamp_axes(fig)
    fig.update_layout(
        height=fig.layout.height or 420,
        margin={"t": 30, "b": 50, "l": 60, "r": 30},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"},
        template="plotly_white",
        title=None,
    )
    # labels stand off their axis: the x and y "0" at the origin no longer touch
    fig.update_xaxes(automargin=True, ticklabelstandoff=6)
    fig.update_yaxes(automargin=True, ticklabelstandoff=6)
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=n == 0,
        div_id=f"plot-{n}",  # a fixed id (plotly draws a random one): the same runs give the same bytes
        config={"displaylogo": False, "responsive": True},
    )
    return f"<div class='figure' id='fig-{n}'><h4>{html.escape(title)}</h4>{body}</div>"


def cdf(values: np.ndarray) -> tuple[list[float], list[float]]:
    """x (hours) and y (share of jobs) of the empirical CDF, at most 2,000 points."""
    v = np.sort(values[np.isfinite(values)])
    if len(v) > 2000:  # a CDF drawn with 2,000 points is indistinguishable and keeps the file small
        idx = np.linspace(0, len(v) - 1, 2000).astype(int)
        return (v[idx] / 3600).tolist(), ((idx + 1) / len(v)).tolist()
    return (v / 3600).tolist(), (np.arange(1, len(v) + 1) / max(len(v), 1)).tolist()


def cdf_chart(runs: Sequence[tuple[Path, str]], metric: str, title: str) -> go.Figure:
    """The CDF of a per-job metric (jct or wait) of each run."""
    fig = go.Figure()
    for i, (r, label) in enumerate(runs):
        j = read_table(r, "jobs", [metric])
        x, y = cdf(j[metric].cast(pl.Float64).to_numpy())
        fig.add_trace(go.Scatter(x=x, y=y, name=label, line={"color": COLORS[i % 8]}))
    fig.update_layout(xaxis_title=f"{title} (hours)", yaxis_title="share of jobs")
    if metric == "jct":
        fig.update_xaxes(type="log")
    return fig


def timeline_chart(runs: Sequence[tuple[Path, str]], col: str, y_title: str) -> go.Figure:
    """One timeline column of each run (a partitioned run's per-VC timelines summed)."""
    fig = go.Figure()
    for i, (r, label) in enumerate(runs):
        t = read_table(r, "timeline")
        if "group" in t.columns:
            # rounded: a float sum's last bit may differ between runs; identical runs write identical reports
            t = t.group_by("t").agg(pl.col(col).sum().round(9)).sort("t")
        t = t.select("t", col)
        if t.height > 3000:
            t = t.gather_every(t.height // 3000 + 1)
        fig.add_trace(
            go.Scatter(x=(t["t"] / 3600).to_list(), y=t[col].to_list(), name=label, line={"color": COLORS[i % 8]})
        )
    fig.update_layout(xaxis_title="hours since the first submission", yaxis_title=y_title)
    return fig


def bars(categories: list[str], series: list[tuple[str, list[float]]], value_title: str) -> go.Figure:
    """Grouped bars: one bar per (category, series); horizontal when a category name is long (run names are),
    so every name is written out on its own line instead of colliding with its neighbours."""
    flat = max((len(c) for c in categories), default=0) > 12
    fig = go.Figure()
    for i, (name, vs) in enumerate(series):
        xy = {"y": categories, "x": vs, "orientation": "h"} if flat else {"x": categories, "y": vs}
        fig.add_trace(go.Bar(**xy, name=name, marker_color=COLORS[i % 8]))
    fig.update_layout(barmode="group")
    if flat:
        fig.update_layout(xaxis_title=value_title, height=max(300, 60 + 26 * len(categories) * len(series)))
        fig.update_yaxes(autorange="reversed")  # the first run on top, as in the tables
    else:
        fig.update_layout(yaxis_title=value_title)
    return fig


def serving_chart(run: Path) -> go.Figure:
    """Replicas serving (left axis) and requests in flight (right axis) over a serving replay."""
    t = read_table(run, "timeline")
    x = (t["t"] / 3600).to_list()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=x, y=t["replicas"].to_list(), name="replicas serving", line={"color": COLORS[0], "shape": "hv"})
    )
    fig.add_trace(
        go.Scatter(x=x, y=t["concurrency"].to_list(), name="requests in flight", yaxis="y2", line={"color": COLORS[1]})
    )
    fig.update_layout(
        xaxis_title="hours",
        yaxis_title="replicas",
        yaxis2={"title": "requests in flight", "overlaying": "y", "side": "right", "showgrid": False},
    )
    return fig


def forecast_chart(history: pl.DataFrame, forecast: pl.DataFrame) -> go.Figure:
    """The observed series (last two days) and the forecast's mean with its 80% and 95% intervals, in %."""
    fig = go.Figure()
    if history.height:
        last = history["ds"].max()
        h = history.filter(pl.col("ds") > last - pl.duration(days=2))
        fig.add_trace(
            go.Scatter(x=h["ds"].to_list(), y=(100 * h["y"]).to_list(), name="observed", line={"color": "#444"})
        )
    x = forecast["ds"].to_list()
    for level, color in ((95, "rgba(0,114,178,0.15)"), (80, "rgba(0,114,178,0.3)")):
        lo, hi = f"lo-{level}", f"hi-{level}"
        if lo not in forecast.columns or hi not in forecast.columns:
            continue
        fig.add_trace(
            go.Scatter(x=x, y=(100 * forecast[lo]).to_list(), line={"width": 0}, showlegend=False, hoverinfo="skip")
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=(100 * forecast[hi]).to_list(),
                fill="tonexty",
                fillcolor=color,
                line={"width": 0},
                name=f"{level}% interval",
            )
        )
    fig.add_trace(go.Scatter(x=x, y=(100 * forecast["mean"]).to_list(), name="forecast", line={"color": COLORS[0]}))
    fig.update_layout(yaxis_title="mean GPU utilization (%)", xaxis_title="time (UTC)")
    return fig


def history_of(run: Path) -> pl.DataFrame:
    """The fleet's mean GPU utilization every 10 minutes from a run's gpu_samples (the series the demo forecasts)."""
    f = run / "gpu_samples.parquet"
    if not f.is_file():
        return pl.DataFrame({"ds": [], "y": []})
    return (
        pl.scan_parquet(f)
        .select("ts", "util")
        .filter(pl.col("util").is_not_null())
        .sort("ts")
        .group_by_dynamic("ts", every="10m")
        # rounded: polars' parallel mean may differ in the last bit between runs, and identical demos must
        # write identical reports (a chart needs no 1e-15)
        .agg(pl.col("util").mean().round(9).alias("y"))
        .rename({"ts": "ds"})
        .collect()
    )
