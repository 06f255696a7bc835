"""Workloads: requested vs used, and right-sizing recommendations."""

import json

import polars as pl
import streamlit as st

from gpufleet.core.errors import SettingsError
from gpufleet.dashboard import common
from gpufleet.plan.policies import registry

common.header(
    "Workloads",
    "Per workload (pods sharing one template): the GPUs its pods hold, what they use at the 95th percentile "
    "(GPU memory, CPU and memory too), and what the right-sizer proposes — a GPU count, a MIG profile or a "
    "share — with the GPU-hours it frees "
    "and the risk (share of past samples the proposal would not have covered).",
    "start with the largest savings at low risk; download the table for the owners; a 'no opinion' means too "
    "little history (by default under 3 h or 100 samples).",
)
src = common.sources()
sizer = st.sidebar.selectbox("right-sizer", registry("rightsizer").names())
with st.sidebar.expander(f"{sizer} settings"):
    settings = common.settings_widgets(registry("rightsizer").settings_model(sizer), f"rightsizer.{sizer}")
try:
    table, recs, where = common.workloads(src, src.key(), sizer, settings)
except SettingsError as e:
    st.error(str(e))
    st.stop()
st.caption(f"samples from {where}; {len(recs)} workloads; sizer {sizer}")
if table.height == 0:
    st.warning("No workload has samples with a pod: nothing to right-size.")
    st.stop()
saved = table["GPUs saved"].fill_null(0).sum()
c = st.columns(3)
c[0].metric("workloads", f"{table.height}")
c[1].metric("GPUs saved if applied", f"{saved:.1f}")
c[2].metric("GPU-hours saved per day", f"{table['GPU-h saved/day'].fill_null(0).sum():,.0f}")
top = table.sort("GPUs saved", descending=True, nulls_last=True)
chart = (
    top.head(15)
    .select(
        "workload",
        pl.col("GPUs held").alias("held"),
        pl.col("GPUs busy p95").alias("used (p95)"),
        pl.col("GPUs proposed").alias("proposed"),
    )
    .unpivot(index="workload", variable_name="what", value_name="GPUs per pod")
)
title = "Requested vs used vs proposed (the 15 largest savings)"
fig = common.express("bar", chart, "workload", "GPUs per pod", "what", title, barmode="group")
st.plotly_chart(fig, width="stretch")
st.dataframe(top.with_columns(pl.col("pods").round(1)).to_pandas(), width="stretch", hide_index=True)
d1, d2 = st.columns(2)
d1.download_button("download CSV", table.write_csv(), file_name=f"rightsizing-{sizer}.csv", mime="text/csv")
d2.download_button(
    "download JSON",
    json.dumps(recs, default=str, indent=1),
    file_name=f"rightsizing-{sizer}.json",
    mime="application/json",
)
