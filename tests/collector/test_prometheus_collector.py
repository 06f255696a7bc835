"""The Prometheus collector against a real Prometheus backfilled with the GenAI per-pod GPU telemetry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.collector.prom import backfill, need_prometheus, prometheus
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.openmetrics import write_openmetrics
from gpufleet.collector.prometheus import PrometheusSource
from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError

pytestmark = [pytest.mark.integration, pytest.mark.traces]


def genai_as_dcgm(data_dir: Path, pods: int = 6) -> pl.DataFrame:
    """Real per-pod duty cycle and GPU memory, given the node/GPU labels a DCGM exporter would add."""
    from gpufleet.traces import load

    g = load("genai:gpu", data_dir).frame
    keep = g.group_by("pod").len().sort(["len", "pod"], descending=[True, False]).head(pods)["pod"]
    g = g.filter(pl.col("pod").is_in(keep.implode()))
    ids = {p: k for k, p in enumerate(sorted(keep.to_list()))}
    return (
        g.with_columns(
            pl.col("pod").replace_strict(ids, return_dtype=pl.Int64).alias("_k"),
            pl.col("ts").dt.truncate("1s"),
        )
        .with_columns(
            (pl.lit("sd-node-") + (pl.col("_k") // 2).cast(pl.String)).alias("node"),
            (pl.lit("GPU-") + pl.col("pod").str.slice(0, 8)).alias("gpu_uuid"),
            (pl.col("_k") % 2).alias("gpu_index"),
            pl.lit("A100").alias("gpu_model"),
            pl.lit("genai").alias("namespace"),
        )
        .drop("_k")
        .unique(["pod", "ts"], keep="first")
        .sort("pod", "ts")
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data_dir: Path):  # type: ignore[no-untyped-def]
    need_prometheus()
    src = genai_as_dcgm(data_dir)
    root = tmp_path_factory.mktemp("prom")
    om = root / "history.om"
    write_openmetrics(src, om)
    backfill(om, root / "tsdb")
    with prometheus(root / "tsdb") as url:
        yield src, url, root


def test_collected_store_equals_the_source(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src, url, _ = served
    store = Store(tmp_path / "store")
    start, end = src["ts"].min() - timedelta(seconds=1), src["ts"].max() + timedelta(seconds=1)
    # a 57 s sample interval and chunks of 10,000 steps of 5 s: several chunks per series
    stats = PrometheusSource(url).collect_gpu(store, start, end, step_s=5.0)
    got = store.read("GPU_SAMPLES").sort("pod", "ts")
    assert stats.chunks > 1 and stats.rows_written == got.height
    util_src = src.filter(pl.col("util").is_not_null())
    util_got = got.filter(pl.col("util").is_not_null())
    assert util_got.height == util_src.height, "every utilization sample, none twice"
    joined = util_src.join(util_got, on=["pod", "ts"], suffix="_got")
    assert joined.height == util_src.height
    assert np.allclose(joined["util"], joined["util_got"], atol=1e-9)
    mem = src.filter(pl.col("mem_used_bytes").is_not_null()).join(got, on=["pod", "ts"], suffix="_got")
    assert mem.height == src["mem_used_bytes"].drop_nulls().len()
    assert np.allclose(mem["mem_used_bytes"], mem["mem_used_bytes_got"], rtol=1e-9, atol=2)
    assert set(got["node"].unique()) == set(src["node"].unique()) and got["source"].unique().to_list() == ["prometheus"]
    # re-running the same window adds nothing (watermarks)
    again = PrometheusSource(url).collect_gpu(store, start, end, step_s=5.0)
    assert again.rows_written == 0 and store.read("GPU_SAMPLES").height == got.height


def test_stopped_prometheus_retries_then_resumes_exactly(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src, _, root = served
    store = Store(tmp_path / "store")
    start, end = src["ts"].min() - timedelta(seconds=1), src["ts"].max() + timedelta(seconds=1)
    mid = start + (end - start) / 2
    slept: list[float] = []
    import shutil

    from tests.collector.prom import free_port

    # a second server on a copy of the blocks (the module's server holds the first TSDB's lock)
    tsdb2 = tmp_path / "tsdb"
    shutil.copytree(root / "tsdb", tsdb2, ignore=shutil.ignore_patterns("lock", "wal", "chunks_head", "queries.active"))
    port = free_port()
    with prometheus(tsdb2, port) as url:
        PrometheusSource(url).collect_gpu(store, start, mid, step_s=5.0)
    first = store.read("GPU_SAMPLES").height
    # the server is down: retries with growing backoff, then one clear error; nothing half-written
    down = PrometheusSource(f"http://127.0.0.1:{port}", retries=3, backoff_s=0.1, sleep=slept.append)
    with pytest.raises(GpufleetError, match="failed after 4 attempts"):
        down.collect_gpu(store, start, end, step_s=5.0)
    # exponential with jitter (tenacity): 0.1, 0.2, 0.4 s plus up to 0.1 s each
    assert len(slept) == 3 and all(0.1 * 2**k <= t <= 0.1 * 2**k + 0.1 for k, t in enumerate(slept)), slept
    assert store.read("GPU_SAMPLES").height == first
    with prometheus(tsdb2, port) as url:  # back up: the whole window again, resumed from the watermarks
        PrometheusSource(url).collect_gpu(store, start, end, step_s=5.0)
    got = store.read("GPU_SAMPLES")
    assert got.height == src.height, "none missing, none twice"
    assert got.unique(["pod", "ts"]).height == got.height


def test_cli_collect_then_rightsize_from_the_store(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src, url, _ = served
    store = tmp_path / "store"
    since = (src["ts"].min() - timedelta(seconds=1)).isoformat()
    until = (src["ts"].max() + timedelta(seconds=1)).isoformat()
    args = ["collect", "prometheus", "--url", url, "--since", since, "--until", until, "--step", "30s"]
    res = CliRunner().invoke(app, [*args, "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows_written"] == src.height
    res = CliRunner().invoke(app, ["rightsize", "--samples", str(store), "--json"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)["recommendations"]
    assert {r["workload"] for r in recs} == {f"genai/{p}" for p in src["pod"].unique()}
    # the forecasters read the same store: GPUs held and busy per workload
    out = tmp_path / "fc.parquet"
    res = CliRunner().invoke(
        app, ["forecast", "--series", str(store), "--model", "seasonal-naive", "--horizon", "1h", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    fc = pl.read_parquet(out)
    pods = src["pod"].unique().to_list()
    assert set(fc["unique_id"]) == {f"genai/{p}:{q}" for p in pods for q in ("gpus", "gpus_busy")}
    series = Store(store).read("SERIES")
    held = series.filter(pl.col("unique_id").str.ends_with(":gpus"))
    assert held["y"].max() == 1.0, "each SD pod holds one GPU"


def test_5xx_timeouts_drops_and_garbage_are_retried_and_counted(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.collector.faultproxy import fault_proxy

    src, url, _ = served
    start, end = src["ts"].min() - timedelta(seconds=1), src["ts"].max() + timedelta(seconds=1)
    faults = ["500", "ok", "503", "slow", "ok", "ok", "garbage", "drop", "ok", "503"]
    n_faults = sum(f != "ok" for f in faults)
    slept: list[float] = []
    with fault_proxy(url, list(faults), slow_s=3.0) as (proxy, taken):
        api = PrometheusSource(proxy, retries=3, backoff_s=0.05, timeout_s=1.0, sleep=slept.append)
        store = Store(tmp_path / "store")
        stats = api.collect_gpu(store, start, end, step_s=5.0)
    assert taken[: len(faults)] == faults
    assert stats.retries == n_faults == len(slept), "each fault was retried once, and counted"
    got = store.read("GPU_SAMPLES")
    assert got.height == src.height and got.unique(["pod", "ts"]).height == got.height, "nothing lost or doubled"


def test_empty_windows_and_unknown_metrics_are_counted_not_fatal(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gpufleet.collector.vllm import collect_vllm

    src, url, _ = served
    api = PrometheusSource(url)
    store = Store(tmp_path / "store")
    before = src["ts"].min() - timedelta(days=30)
    stats = api.collect_gpu(store, before, before + timedelta(hours=1), step_s=30.0)
    assert stats.rows_written == 0 and set(stats.empty_results) >= {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"}
    # this Prometheus never saw vLLM: every serving metric is reported empty, nothing is written
    assert collect_vllm(api, store, src["ts"].min(), src["ts"].max(), 60.0) == 0
    assert "vllm:num_requests_running" in api.stats.empty_results
    assert api.query_raw("no_such_metric_anywhere", src["ts"].min(), src["ts"].max()) == []


def test_label_variants_of_other_deployments(data_dir: Path, tmp_path: Path) -> None:
    """hostname/uuid/pod_name/namespace_name (older dcgm-exporter, Helm charts) and exported_* (relabelled by
    a ServiceMonitor with honorLabels off) all land in the same columns."""
    need_prometheus()
    src = genai_as_dcgm(data_dir, pods=2).head(400)
    variants = [
        {"hostname": "node", "uuid": "gpu_uuid", "gpu": "gpu_index", "namespace_name": "namespace", "pod_name": "pod"},
        {
            "Hostname": "node",
            "UUID": "gpu_uuid",
            "GPU": "gpu_index",
            "exported_namespace": "namespace",
            "exported_pod": "pod",
        },
    ]
    for k, spelling in enumerate(variants):
        om = tmp_path / f"v{k}.om"
        write_openmetrics(src, om, labels=spelling)
        backfill(om, tmp_path / f"tsdb{k}")
        with prometheus(tmp_path / f"tsdb{k}") as url:
            store = Store(tmp_path / f"store{k}")
            start, end = src["ts"].min() - timedelta(seconds=1), src["ts"].max() + timedelta(seconds=1)
            PrometheusSource(url).collect_gpu(store, start, end, step_s=30.0)
        got = store.read("GPU_SAMPLES").sort("pod", "ts")
        assert got.height == src.height, spelling
        for col in ("node", "gpu_uuid", "gpu_index", "namespace", "pod"):
            assert got[col].null_count() == 0, (spelling, col)
        assert (
            got.select("pod", "gpu_uuid", "node")
            .unique()
            .sort("pod")
            .equals(src.select("pod", "gpu_uuid", "node").unique().sort("pod"))
        )
