"""What every page shares: the data sources (from the environment `gpufleet dashboard` sets), cached loaders,
the page header, and one colour scheme (Okabe-Ito: distinguishable with colour-blindness)."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from gpufleet.dashboard import data

COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def sources() -> data.Sources:
    return data.Sources.from_env()


def header(title: str, what: str, todo: str) -> None:
    """Every page starts by saying what the reader is looking at and what to do with it."""
    st.title(title)
    st.markdown(f"{what}  \n**What to do with it:** {todo}")


@st.cache_data(show_spinner="reading GPU samples …", max_entries=4)
def fleet(src: data.Sources, key: str, every: str) -> tuple[pl.DataFrame, pl.DataFrame, str, float]:
    """(timeline, GPU-hours by namespace, where from, sample interval) — cached per source state."""
    lf, where = data.samples_source(src)
    step = data.interval_s(lf)
    prices = data.load_prices(src.prices)
    return data.fleet_timeline(lf, every), data.gpu_hours_by_namespace(lf, step, prices), where, step


@st.cache_data(show_spinner="reading nodes …", max_entries=4)
def nodes(src: data.Sources, key: str) -> tuple[pl.DataFrame, str]:
    return data.nodes_source(src)


@st.cache_data(show_spinner="right-sizing the workloads …", max_entries=4)
def workloads(src: data.Sources, key: str, sizer: str) -> tuple[pl.DataFrame, list[dict[str, Any]], str]:
    lf, where = data.samples_source(src)
    table, recs = data.workloads_table(lf.collect(), sizer)
    return table, recs, where


@st.cache_data(show_spinner="building demand series …", max_entries=4)
def demand(src: data.Sources, key: str) -> tuple[pl.DataFrame, str]:
    lf, where = data.samples_source(src)
    series = data.demand_series(lf)
    if src.store is not None:
        from gpufleet.collector.store import Store, is_store

        if is_store(src.store):
            extra = Store(src.store).read("SERIES")
            if extra.height:
                series = pl.concat([series, extra.select(series.columns)], how="vertical_relaxed")
    return series, where


@st.cache_data(show_spinner="forecasting …", max_entries=16)
def forecast(series: pl.DataFrame, model: str, h: int, step_s: float) -> pl.DataFrame:
    return data.forecast(series, model, h, step_s)


def line(frame: pl.DataFrame, x: str, ys: list[str], title: str, y_title: str, x_title: str = "") -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, y in enumerate(ys):
        fig.add_trace(go.Scatter(x=frame[x].to_list(), y=frame[y].to_list(), name=y, line={"color": COLORS[i % 8]}))
    fig.update_layout(
        title=title, yaxis_title=y_title, xaxis_title=x_title, legend={"orientation": "h", "y": -0.15}, height=400
    )
    return fig
