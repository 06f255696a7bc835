"""Fleet: where the GPUs are and how they are used."""

import streamlit as st

from gpufleet.core.units import human_seconds
from gpufleet.dashboard import common, data

common.header(
    "Fleet",
    "GPUs by type and pool; over time, how many are allocated to pods, how busy they are, how many sit idle "
    "while allocated or stranded by fragmentation; and which teams (namespaces) hold the GPU-hours.",
    "look for allocated-but-idle GPUs (right-size those workloads) and stranded GPUs (try another placer on "
    "the What-if page); compare teams' GPU-hours with their quota.",
)
src = common.sources()
key = src.key()
every = st.sidebar.selectbox("time bucket", ["10m", "1h", "6h", "1d"], index=1)
timeline, teams, where, step = common.fleet(src, key, every)
nodes, nodes_from = common.nodes(src, key)
by_type = data.gpus_by_type_and_pool(nodes)
inventory = int(by_type["gpus"].sum())
# The node table and the utilization samples may come from different places and cover different GPUs (a
# collector scraping part of the fleet): each number says which of the two it is measured on.
sampled = int(timeline["gpus"].max() or 0)
st.markdown(f"**Node inventory** — the nodes table, from {nodes_from}")
c = st.columns(4)
c[0].metric("GPUs in the nodes", f"{inventory:,}", help="every GPU the nodes table lists, used or not")
c[1].metric("nodes with GPUs", f"{int(by_type['nodes'].sum()):,}")
c[2].metric("GPU types", f"{by_type['gpu_type'].n_unique()}")
c[3].metric("pools", f"{by_type['pool'].n_unique()}")
st.markdown(
    f"**Utilization samples** — from {where}, one every {human_seconds(step)} per GPU; the shares below are of"
    f" the **{sampled:,} sampled GPUs**" + (f", not of the {inventory:,} in the nodes" if sampled != inventory else "")
)
c = st.columns(4)
c[0].metric("GPUs sampled", f"{sampled:,}", help="the most GPUs reporting at one time in the samples")
c[1].metric(f"allocated (mean, of {sampled:,} sampled)", f"{timeline['allocation_pct'].mean():.1f} %")
c[2].metric(f"busy (mean, of {sampled:,} sampled)", f"{timeline['utilization_pct'].mean():.1f} %")
c[3].metric("idle while allocated (mean)", f"{timeline['idle'].mean():.1f} GPUs")

left, right = st.columns([1, 2])
fig = common.express(
    "bar",
    by_type,
    "gpu_type",
    "gpus",
    "pool",
    "Node inventory: GPUs by type and pool",
    labels={"gpus": "GPUs", "gpu_type": "GPU type"},
)
left.plotly_chart(fig, width="stretch")
right.plotly_chart(
    common.line(
        timeline, "ts", ["allocated", "busy", "idle", "free"], f"The {sampled:,} sampled GPUs over time", "GPUs"
    ),
    width="stretch",
)
stranded = data.stranded_from_runs(src)
if stranded is not None:
    fig = common.express(
        "line",
        stranded,
        "hours",
        "stranded_gpus",
        "run",
        "Stranded GPUs in the simulation runs (free, but no queued job fits them)",
        labels={"hours": "hours since the trace start", "stranded_gpus": "GPUs"},
    )
    st.plotly_chart(fig, width="stretch")
else:
    st.info(
        "No simulation runs under --runs: fragmentation over time appears once `gpufleet simulate --out` runs exist."
    )

st.subheader("GPU-hours by namespace")
st.caption(
    f"Cost {data.load_prices(src.prices).priced_by()} (`gpufleet dashboard --prices prices.yaml` to use yours,"
    " docs/cost.md); a namespace on a GPU type without a price shows its unpriced GPU-hours and no cost."
)
st.dataframe(
    teams.head(20).to_pandas(),
    width="stretch",
    hide_index=True,
    column_config={"cost": st.column_config.NumberColumn("cost", format="dollar")},
)
