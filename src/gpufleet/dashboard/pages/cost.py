"""Cost: GPU-hours and dollars per namespace, team or workload, the idle cost and the idle capacity (plan.cost,
the same table as `gpufleet cost`)."""

import polars as pl
import streamlit as st

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import TIERS, dollars
from gpufleet.dashboard import common, data
from gpufleet.plan.cost import (
    CAPACITY_LINE,
    IDLE_LINE,
    CostAnswer,
    cost_from_frames,
    cost_from_store,
    notes,
    table_rows,
)

common.header(
    "Cost",
    "Who holds the GPU-hours and what they cost: allocated (a pod holds the GPU, MIG slices and shared GPUs by "
    "their share) and used (times how busy it was); idle cost is what was allocated but not used; idle capacity "
    "is what no pod held. $ per 1M tokens for vLLM workloads from their token counters.",
    "take the biggest idle cost to its owner (right-size on the Workloads page); size the fleet down by its idle "
    "capacity (What-if); compare $ per 1M tokens across models and GPU types.",
)


@st.cache_data(show_spinner="allocating cost …", max_entries=8)
def allocation(src: data.Sources, key: str, by: str, tier: str) -> tuple[CostAnswer, str]:
    """The allocation of the store's samples, else of the samples the other pages show (demo, embedded)."""
    if src.store is not None:
        from gpufleet.collector.store import is_store

        if is_store(src.store):
            return cost_from_store(src.store, by=by, prices=src.prices, tier=tier), f"collector store {src.store}"
    lf, where = data.samples_source(src)
    nodes, _ = data.nodes_source(src)
    return cost_from_frames(lf.collect(), by=by, prices=src.prices, nodes=nodes, tier=tier, where=where), where


src = common.sources()
by = st.sidebar.selectbox("group by", ["namespace", "team", "workload"])
tier = st.sidebar.selectbox("price tier", list(TIERS))
try:
    answer, where = allocation(src, src.key(), by, tier)
except GpufleetError as e:  # a store without samples, a bad price table: one line, as the CLI says it
    st.error(str(e))
    st.stop()
a = answer.allocation
st.caption(f"samples from {where}; {answer.prices.priced_by()}")
if src.store is None:
    st.caption(
        "Start with `gpufleet dashboard --store DIR` for a collector store's JOBS (teams, fractional GPUs)"
        " and vLLM tokens."
    )

c = st.columns(4)
c[0].metric("total cost", dollars(a.total["usd"]))
c[1].metric("idle cost (allocated, unused)", dollars(a.idle["usd"]))
c[2].metric("idle capacity (no pod)", dollars(a.idle_capacity["usd"]))
tokens = a.rows.filter(pl.col("tokens_m") > 0) if a.rows.height else a.rows
c[3].metric(
    "$ per 1M tokens (vLLM)",
    dollars(float(tokens["cost_usd"].sum()) / float(tokens["tokens_m"].sum())) if tokens.height else "-",
)

rows = table_rows(answer)
st.dataframe(pl.DataFrame(rows).to_pandas(), width="stretch", hide_index=True)
chart = pl.DataFrame(
    [
        *({by: r[by], "part": "used", "usd": r["used_usd"] or 0.0} for r in a.rows.head(15).to_dicts()),
        *({by: r[by], "part": "idle", "usd": r["idle_usd"] or 0.0} for r in a.rows.head(15).to_dicts()),
        {by: CAPACITY_LINE, "part": "idle", "usd": a.idle_capacity["usd"] or 0.0},
    ]
)
fig = common.express("bar", chart, by, "usd", "part", f"$ by {by}: used and idle", labels={"usd": "$"})
st.plotly_chart(fig, width="stretch")
for line in notes(answer):
    st.caption(line)
st.caption(
    f"'{IDLE_LINE}' sums the groups' idle cost; '{CAPACITY_LINE}' is paid for but nobody's."
    " Definitions: docs/cost.md, section Cost allocation."
)
