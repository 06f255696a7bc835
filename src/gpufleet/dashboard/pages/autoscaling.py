"""Autoscaling: serving replays under each policy — replicas against demand, SLO and GPU-hours."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from gpufleet.dashboard import common, data
from gpufleet.plan.policies import registry

common.header(
    "Autoscaling",
    "Serving replays (request traces on an autoscaled fleet of model replicas): per policy, the GPU-hours "
    "spent and the share of requests that met the latency objective; over time, replicas against demand.",
    "choose the policy that meets the SLO with the fewest GPU-hours; the oracle is the floor no real policy "
    "reaches; a policy far above it is scaling late or holding replicas too long.",
)
src = common.sources()
runs = data.serving_runs(src)
if not runs:
    st.info("No serving replays under --runs yet: `make run` writes three, or `gpufleet autoscale-sim --out DIR`.")
    st.stop()
st.dataframe(data.serving_table(runs).to_pandas(), width="stretch", hide_index=True)
names = [r.name for r, _ in runs]
offline = set(registry("autoscaler").having("sees_future"))  # the oracle: first show a replay a live hook could run
real = [n for n, (_, s) in zip(names, runs, strict=True) if s.policy not in offline]
pick = st.sidebar.selectbox("replay", names, index=names.index(real[0]) if real else 0)
run = next(r for r, _ in runs if r.name == pick)
t = pl.read_parquet(run / "timeline.parquet").with_columns((pl.col("t") / 3600).alias("hours"))
fig = go.Figure()
fig.add_trace(
    go.Scatter(
        x=t["hours"].to_list(),
        y=t["replicas"].to_list(),
        name="replicas serving",
        line={"color": common.COLORS[0], "shape": "hv"},
    )
)
fig.add_trace(
    go.Scatter(
        x=t["hours"].to_list(),
        y=(t["replicas"] + t["starting"]).to_list(),
        name="replicas ordered",
        line={"color": common.COLORS[5], "dash": "dot", "shape": "hv"},
    )
)
fig.add_trace(
    go.Scatter(
        x=t["hours"].to_list(),
        y=t["concurrency"].to_list(),
        name="demand (requests in flight)",
        yaxis="y2",
        line={"color": common.COLORS[1]},
    )
)
fig.update_layout(
    title=f"{pick}: replicas vs demand",
    xaxis_title="hours",
    yaxis_title="replicas",
    yaxis2={"title": "requests in flight", "overlaying": "y", "side": "right"},
    height=420,
    legend={"orientation": "h", "y": -0.2},
)
st.plotly_chart(fig, width="stretch")
