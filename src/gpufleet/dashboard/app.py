"""Streamlit entry: pick a run directory and look at what it holds (the full dashboard is issue #9)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import plotly.express as px
import polars as pl
import streamlit as st

from gpufleet.report.rundir import read_summary


def _runs_root() -> Path:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default="out")
    args, _ = p.parse_known_args(sys.argv[1:])
    return Path(args.runs)


st.set_page_config(page_title="gpufleet", layout="wide")
st.title("gpufleet")
root = _runs_root()
runs = sorted(d for d in root.glob("*") if (d / "summary.json").is_file()) if root.is_dir() else []
if not runs:
    st.info(f"No run directories under {root}/ yet: run `make run` (or `gpufleet demo`) first.")
    st.stop()
run = st.sidebar.selectbox("run", runs, format_func=lambda d: d.name)
summary = read_summary(run)
st.caption(f"{run} · gpufleet {summary.get('gpufleet_version')} · seed {summary.get('seed')}")
st.subheader("rows")
st.table({k: [v] for k, v in summary.get("rows", {}).items()})

if (run / "nodes.parquet").exists():
    nodes = pl.read_parquet(run / "nodes.parquet")
    by = nodes.group_by("gpu_type").agg(pl.col("num_gpus").sum().alias("gpus")).sort("gpus", descending=True)
    st.plotly_chart(px.bar(by.to_pandas(), x="gpu_type", y="gpus", title="GPUs by type"), use_container_width=True)
if (run / "jobs.parquet").exists():
    jobs = pl.read_parquet(run / "jobs.parquet")
    hours = jobs.select(((pl.col("submit_time") // 3600) % 24).alias("hour")).group_by("hour").len().sort("hour")
    st.plotly_chart(
        px.bar(hours.to_pandas(), x="hour", y="len", title="job arrivals by hour of day"),
        use_container_width=True,
    )
if (run / "gpu_samples.parquet").exists():
    s = pl.read_parquet(run / "gpu_samples.parquet")
    fleet = s.group_by("ts").agg(pl.col("util").mean()).sort("ts")
    st.plotly_chart(
        px.line(fleet.to_pandas(), x="ts", y="util", title="mean GPU utilization"), use_container_width=True
    )
