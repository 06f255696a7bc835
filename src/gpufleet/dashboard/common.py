"""What every page shares: the data sources (from the environment `gpufleet dashboard` sets), cached loaders,
the page header, and one colour scheme (Okabe-Ito: distinguishable with colour-blindness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from gpufleet.dashboard import data

COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def sources() -> data.Sources:
    return data.Sources.from_env()


def traces_dir() -> tuple[Path | None, str | None]:
    """The real traces' folder, found as the CLI finds it (--data-dir given to `gpufleet dashboard`,
    $GPUFLEET_DATA, the checkout's ../shared/traces), or None and a message that says how to set it."""
    from gpufleet.core.datadir import DATA_ENV, find_data_dir

    found, source = find_data_dir()
    how = (
        f"start the dashboard with `{DATA_ENV}=/path/to/traces gpufleet dashboard` or"
        " `gpufleet --data-dir /path/to/traces dashboard`"
    )
    if found is None:
        return None, f"No trace folder found, so the real traces (itp, philly, …) are not offered: {how}."
    if not found.is_dir():
        return None, f"The trace folder {found} (from {source}) does not exist: {how}."
    return found, None


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
def workloads(
    src: data.Sources, key: str, sizer: str, settings: dict[str, Any] | None = None
) -> tuple[pl.DataFrame, list[dict[str, Any]], str]:
    lf, where = data.samples_source(src)
    table, recs = data.workloads_table(lf.collect(), sizer, settings)
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
def forecast(
    series: pl.DataFrame, model: str, h: int, step_s: float, settings: dict[str, Any] | None = None
) -> pl.DataFrame:
    return data.forecast(series, model, h, step_s, settings)


def express(kind: str, frame: pl.DataFrame, x: str, y: str, color: str, title: str, **kw: Any) -> Any:
    """A plotly-express chart (`kind`: "bar", "line") of a polars frame, one colour per `color` in the house
    scheme; `kw` goes to plotly (barmode, labels)."""
    import plotly.express as px

    chart = getattr(px, kind)
    return chart(frame.to_pandas(), x=x, y=y, color=color, title=title, color_discrete_sequence=COLORS, **kw)


def line(frame: pl.DataFrame, x: str, ys: list[str], title: str, y_title: str, x_title: str = "") -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, y in enumerate(ys):
        fig.add_trace(go.Scatter(x=frame[x].to_list(), y=frame[y].to_list(), name=y, line={"color": COLORS[i % 8]}))
    fig.update_layout(
        title=title, yaxis_title=y_title, xaxis_title=x_title, legend={"orientation": "h", "y": -0.15}, height=400
    )
    return fig


def settings_widgets(model: type[Any], key: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Widgets for a policy's settings, made from its settings model (type, default, bounds; the description is
    the help): numbers, switches and choices; a field of another shape keeps its default. Returns only what
    differs from the defaults, so that the defaults stay one cache entry."""
    import types
    from typing import Literal, get_args, get_origin

    changed: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        default = f.get_default(call_default_factory=True)
        ann, wkey = f.annotation, f"{key}.{name}"
        args = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) is types.UnionType else [ann]
        if name in skip or len(args) != 1 or default is None:
            continue  # the page sets it, or it has no one widget (lists, maps, "none" as a value)
        kind = args[0]
        if kind is bool:
            value: Any = st.checkbox(name, value=default, help=f.description, key=wkey)
        elif get_origin(kind) is Literal:
            choices = list(get_args(kind))
            value = st.selectbox(name, choices, index=choices.index(default), help=f.description, key=wkey)
        elif kind in (int, float):
            lo = next((float(getattr(m, a)) for m in f.metadata for a in ("ge", "gt") if hasattr(m, a)), None)
            hi = next((float(getattr(m, a)) for m in f.metadata for a in ("le", "lt") if hasattr(m, a)), None)
            if kind is int:
                gt = any(hasattr(m, "gt") for m in f.metadata)
                lo_i = None if lo is None else int(lo) + (1 if gt else 0)
                hi_i = None if hi is None else int(hi)
                value = st.number_input(
                    name, min_value=lo_i, max_value=hi_i, value=int(default), step=1, help=f.description, key=wkey
                )
            else:  # a strict bound (gt, lt) is checked by the model when the policy is built
                value = st.number_input(
                    name, min_value=lo, max_value=hi, value=float(default), format="%g", help=f.description, key=wkey
                )
        else:
            continue
        if value != default:
            changed[name] = value
    return changed
