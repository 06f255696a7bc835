"""JOBS rebuilt from kube-state-metrics in a real Prometheus, backfilled from real ITP jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.integration.prom import backfill, need_prometheus, prometheus
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.openmetrics import write_ksm_openmetrics

pytestmark = [pytest.mark.integration, pytest.mark.traces]
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


def test_jobs_from_kube_state_metrics(tmp_path: Path, data_dir: Path) -> None:
    need_prometheus()
    from gpufleet.traces import load

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
    from gpufleet.experiments import load_jobs

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
