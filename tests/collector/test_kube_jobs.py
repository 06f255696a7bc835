"""JOBS rebuilt from kube-state-metrics in a real Prometheus, backfilled from real ITP jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.collector.prom import backfill, need_prometheus, prometheus
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.openmetrics import write_ksm_openmetrics
from gpufleet.traces import load

pytestmark = [pytest.mark.integration, pytest.mark.traces]
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


def test_jobs_from_kube_state_metrics(tmp_path: Path, data_dir: Path) -> None:
    need_prometheus()

    jobs = load("itp:cluster04", data_dir).frame.sort("submit_time")
    # 150 jobs of under 6 hours from the trace's second day: a few thousand scrapes each metric
    jobs = jobs.filter((pl.col("submit_time") > 86_400) & (pl.col("duration") < 6 * 3600)).head(150)
    jobs = jobs.with_columns(pl.lit("itp").alias("group"))
    write_ksm_openmetrics(jobs, tmp_path / "ksm.om", epoch_s=EPOCH.timestamp(), scrape_s=300)
    backfill(tmp_path / "ksm.om", tmp_path / "tsdb")
    first = EPOCH + timedelta(seconds=float(jobs["submit_time"].min()))
    last = EPOCH + timedelta(seconds=float((jobs["submit_time"] + jobs["duration"]).max()) + 1200)
    store = tmp_path / "store"
    with prometheus(tmp_path / "tsdb") as url:
        args = ["collect", "prometheus", "--url", url, "--store", str(store), "--since", first.isoformat()]
        res = CliRunner().invoke(app, [*args, "--until", last.isoformat(), "--step", "300s", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["jobs"]["jobs"] == 150
    from gpufleet.plan.references import load_jobs

    got = load_jobs(str(store), None).sort("submit_time")
    want = jobs.with_columns(
        ("itp/job-" + pl.col("job_id").str.replace_all("/", "-")).alias("job_id"),
        (pl.col("submit_time") + EPOCH.timestamp()).round(0).alias("submit_time"),
    ).sort("submit_time")
    joined = want.join(got, on="job_id", suffix="_got")
    assert joined.height == 150, "every job, once"
    assert np.allclose(joined["submit_time"], joined["submit_time_got"])
    assert np.allclose(joined["num_gpus"], joined["num_gpus_got"])
    # start and completion are whole seconds in kube-state-metrics
    assert np.allclose(joined["duration"], joined["duration_got"], atol=1.0)
    assert set(got["status"]) == {"Succeeded"} and set(got["kind"]) == {"train"} and set(got["group"]) == {"itp"}


def test_node_capacity_from_kube_state_metrics(tmp_path: Path, data_dir: Path) -> None:
    """The 1,523 real openb nodes (GPU models, GPUs, CPUs, memory) as kube-state-metrics shows them, read
    back as NODES that `--cluster STORE` accepts."""
    from gpufleet.collector.kube import collect_nodes
    from gpufleet.collector.openmetrics import write_ksm_nodes_openmetrics
    from gpufleet.collector.prometheus import PrometheusSource
    from gpufleet.collector.store import Store
    from gpufleet.plan.references import load_cluster

    need_prometheus()
    nodes = load("openb:nodes", data_dir).frame
    nodes = nodes.with_columns(
        pl.when(pl.col("num_gpus") > 0).then(pl.lit("gpu-pool")).otherwise(pl.lit("cpu-pool")).alias("pool")
    )
    t0 = int(EPOCH.timestamp())
    write_ksm_nodes_openmetrics(nodes, tmp_path / "nodes.om", [t0, t0 + 300, t0 + 600])
    backfill(tmp_path / "nodes.om", tmp_path / "tsdb")
    with prometheus(tmp_path / "tsdb") as url:
        store = Store(tmp_path / "store")
        res = collect_nodes(PrometheusSource(url), store, EPOCH, EPOCH + timedelta(minutes=15))
    assert res["nodes"] == nodes.height and res["gpu_nodes"] == int((nodes["num_gpus"] > 0).sum())
    got = load_cluster(str(tmp_path / "store"), None).sort("node_id")
    want = nodes.sort("node_id")
    assert got["node_id"].to_list() == want["node_id"].to_list()
    assert got["num_gpus"].to_list() == want["num_gpus"].to_list()
    assert got["gpu_type"].to_list() == want["gpu_type"].to_list()
    assert got["pool"].to_list() == want["pool"].to_list()
    assert np.allclose(got["num_cpus"].to_numpy(), want["num_cpus"].to_numpy())
    assert (got["mem_bytes"] == want["mem_bytes"]).all()
