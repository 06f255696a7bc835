"""`gpufleet exporter --replay` scraped live by a real Prometheus, read back by the collector."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.collector.prom import free_port, need_prometheus, prometheus_scraping

from gpufleet.collector.prometheus import PrometheusSource
from gpufleet.collector.store import Store
from gpufleet.testing.net import wait_http

pytestmark = pytest.mark.integration


def recording(path: Path) -> pl.DataFrame:
    """8 GPUs of the synthetic fleet, one sample a minute, as a GPU_SAMPLES parquet file."""
    from gpufleet.traces import load

    s = load("synthetic:gpu-samples", n_gpus=8, hours=1, interval_s=60).frame
    s = s.filter(pl.col("pod").is_not_null())
    s.write_parquet(path)
    return s


def test_replay_is_scraped_and_collected(tmp_path: Path) -> None:
    need_prometheus()
    src = recording(tmp_path / "rec.parquet")
    port = free_port()
    exe = [sys.executable, "-m", "gpufleet.cli", "exporter", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*exe, "--replay", str(tmp_path / "rec.parquet"), "--speed", "60", "--duration", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics", proc=proc, contains=b"DCGM_FI_DEV_GPU_UTIL", what="the exporter")
        start = datetime.now(UTC) - timedelta(seconds=2)
        with prometheus_scraping(tmp_path, f"127.0.0.1:{port}", interval_s=1.0) as url:
            src_api = PrometheusSource(url)
            until = time.time() + 60
            while time.time() < until:  # until the GPU seen longest has five scrapes
                res = src_api.prom.custom_query("max(count_over_time(DCGM_FI_DEV_GPU_UTIL[5m]))")
                if res and float(res[0]["value"][1]) >= 5:
                    break
                time.sleep(1)
            store = Store(tmp_path / "store")
            stats = PrometheusSource(url).collect_gpu(store, start, datetime.now(UTC), step_s=1.0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    got = store.read("GPU_SAMPLES")
    per_gpu = got.group_by("gpu_uuid").len()["len"]
    assert stats.rows_written == got.height and per_gpu.max() >= 5, "scraped again and again"
    # every value collected is one the recording holds for that GPU and pod
    allowed = src.select("gpu_uuid", "pod", (pl.col("util") * 100).round(6).alias("u")).unique()
    seen = got.select("gpu_uuid", "pod", (pl.col("util") * 100).round(6).alias("u")).unique()
    assert seen.join(allowed, on=["gpu_uuid", "pod", "u"], how="anti").height == 0
    assert set(got["node"].unique()) <= set(src["node"].unique())
    assert got["mem_used_bytes"].null_count() == 0 and got["mem_total_bytes"].null_count() == 0
