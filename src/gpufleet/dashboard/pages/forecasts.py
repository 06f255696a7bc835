"""Forecasts: GPU demand ahead, with intervals, and how accurate each model has been."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from gpufleet.core.errors import SettingsError
from gpufleet.dashboard import common
from gpufleet.plan.policies import registry

common.header(
    "Forecasts",
    "Demand series (fleet GPUs allocated and busy; per-workload series from a collector store) with a "
    "forecast and its 80% and 95% intervals; below, each model's accuracy in time-split backtests.",
    "plan capacity for the upper band, not the mean line; trust a model that beat the seasonal-naive "
    "baseline in the backtests.",
)
src = common.sources()
series, where = common.demand(src, src.key())
ids = series["unique_id"].unique().sort().to_list()
uid = st.sidebar.selectbox("series", ids)
names = registry("forecaster").names()
model = st.sidebar.selectbox("model", names, index=names.index("seasonal-naive"))
h = st.sidebar.slider("horizon (steps)", 6, 144, 36, step=6)
with st.sidebar.expander(f"{model} settings"):
    settings = common.settings_widgets(
        registry("forecaster").settings_model(model), f"forecaster.{model}", skip=("step_s",)
    )
one = series.filter(pl.col("unique_id") == uid).sort("ds")
step = float(one["ds"].diff().drop_nulls().dt.total_seconds().median() or 600)
st.caption(f"series from {where}; one point every {step / 60:.0f} min")
try:
    fc = common.forecast(one, model, h, step, settings)
except SettingsError as e:
    st.error(str(e))
    st.stop()
fig = go.Figure()
fig.add_trace(go.Scatter(x=one["ds"].to_list(), y=one["y"].to_list(), name="history", line={"color": common.COLORS[0]}))
for lvl, alpha in ((95, 0.15), (80, 0.3)):
    fig.add_trace(
        go.Scatter(
            x=fc["ds"].to_list() + fc["ds"].reverse().to_list(),
            y=fc[f"hi-{lvl}"].to_list() + fc[f"lo-{lvl}"].reverse().to_list(),
            fill="toself",
            fillcolor=f"rgba(230,159,0,{alpha})",
            line={"width": 0},
            name=f"{lvl}% interval",
        )
    )
fig.add_trace(
    go.Scatter(x=fc["ds"].to_list(), y=fc["mean"].to_list(), name=f"{model} forecast", line={"color": common.COLORS[3]})
)
fig.update_layout(title=f"{uid}: forecast", yaxis_title="GPUs", height=420, legend={"orientation": "h"})
st.plotly_chart(fig, width="stretch")
st.subheader("Backtest accuracy")
from gpufleet.dashboard import data  # noqa: E402  (after the chart: the tables are secondary)

tables = data.backtests(src)
if not tables:
    st.info("No backtests recorded: run `make run` (the demo backtests the predictors) or `gpufleet backtest`.")
for name, t in tables.items():
    st.markdown(f"**{name}**")
    st.dataframe(t.to_pandas(), width="stretch", hide_index=True)
