"""vLLM serving metrics (from the Azure LLM code trace, served by two replicas, one of them restarted) in a
real Prometheus, pulled into per-workload SERIES: rates from counters across a reset, gauges per bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.collector.prom import backfill, need_prometheus, prometheus

from gpufleet.collector.openmetrics import vllm_replicas, write_vllm_openmetrics
from gpufleet.collector.prometheus import PrometheusSource
from gpufleet.collector.store import Store
from gpufleet.collector.vllm import collect_vllm

pytestmark = [pytest.mark.integration, pytest.mark.traces]
EPOCH = 1_700_000_040  # a whole minute, so trace minutes are buckets
SCRAPE, STEP = 15.0, 60.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data_dir: Path):  # type: ignore[no-untyped-def]
    need_prometheus()
    from gpufleet.traces import load

    reqs = load("azure-llm:code", data_dir).frame
    rep = vllm_replicas(reqs, pods=2)
    root = tmp_path_factory.mktemp("vllm")
    write_vllm_openmetrics(rep, root / "vllm.om", epoch_s=EPOCH, scrape_s=SCRAPE, restart=(1, 1800.0))
    backfill(root / "vllm.om", root / "tsdb")
    with prometheus(root / "tsdb") as url:
        yield rep, url


def at(minute: float) -> datetime:
    return datetime.fromtimestamp(EPOCH + minute * 60, UTC)


def test_rates_and_gauges_per_bucket_equal_the_source(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rep, url = served
    store = Store(tmp_path / "s")
    src = PrometheusSource(url)
    written = collect_vllm(src, store, at(0), at(50), STEP, chunk_s=20 * 60)  # three chunks (the trace spans 57 min)
    got = store.read("SERIES")
    assert written == got.height and not src.stats.empty_results
    ids = set(got["unique_id"])
    assert ids == {
        f"llm/code:{q}"
        for q in (
            "running",
            "waiting",
            "kv_cache_usage",
            "request_rate",
            "prompt_tokens_rate",
            "generation_tokens_rate",
        )
    }
    rate = got.filter(pl.col("unique_id") == "llm/code:request_rate").sort("ds")
    assert rate.height == 50, "one point per whole minute, none twice across chunk edges"
    # a scrape at t shows requests finished in (t - 15, t]; bucket b holds the scrapes at b .. b+45 s
    fin = rep["finish"].to_numpy()
    b = (rate["ds"].dt.epoch("s").to_numpy() - EPOCH).astype(float)
    want = np.array([((fin > x - SCRAPE) & (fin <= x + STEP - SCRAPE)).sum() for x in b]) / STEP
    assert np.allclose(rate["y"].to_numpy(), want), "the counter reset at 30 min loses nothing"
    toks = got.filter(pl.col("unique_id") == "llm/code:prompt_tokens_rate").sort("ds")["y"].to_numpy()
    inp = rep["input_tokens"].to_numpy()
    want_t = np.array([inp[(fin > x - SCRAPE) & (fin <= x + STEP - SCRAPE)].sum() for x in b]) / STEP
    assert np.allclose(toks, want_t)
    # running: each pod's mean over its four scrapes in the minute, summed over the two pods
    run = got.filter(pl.col("unique_id") == "llm/code:running").sort("ds")["y"].to_numpy()
    arr = rep["arrival"].to_numpy()
    want_r = []
    for x in b:
        total = 0.0
        for p in (0, 1):
            sel = rep["pod"].to_numpy() == p
            t = x + np.arange(0, STEP, SCRAPE)
            inflight = (arr[sel][None, :] <= t[:, None]).sum(1) - (fin[sel][None, :] <= t[:, None]).sum(1)
            total += np.minimum(inflight, 8).mean()
        want_r.append(total)
    assert np.allclose(run, want_r)


def test_rerun_and_extension_write_each_bucket_once(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, url = served
    store = Store(tmp_path / "s")
    src = PrometheusSource(url)
    first = collect_vllm(src, store, at(0), at(30) + timedelta(seconds=20), STEP)  # ends inside minute 30
    assert collect_vllm(src, store, at(0), at(30) + timedelta(seconds=20), STEP) == 0
    more = collect_vllm(src, store, at(0), at(50), STEP)
    got = store.read("SERIES")
    assert first + more == got.height and got.unique(["unique_id", "ds"]).height == got.height
    assert got.group_by("unique_id").len()["len"].to_list() == [50] * 6, "the partial minute was filled in later"


def test_colons_escaped_to_underscores_are_read_too(data_dir: Path, tmp_path: Path) -> None:
    """prometheus-client >= 0.22 escapes ':' to '_' when the scraper negotiates OpenMetrics, so vLLM's
    metrics can reach Prometheus as vllm_num_requests_running; both spellings give the same series."""
    need_prometheus()
    from gpufleet.traces import load

    rep = vllm_replicas(load("azure-llm:code", data_dir).frame.head(2000), pods=2)
    om = tmp_path / "v.om"
    write_vllm_openmetrics(rep, om, epoch_s=EPOCH, scrape_s=SCRAPE)
    om.write_text(om.read_text().replace("vllm:", "vllm_"))
    backfill(om, tmp_path / "tsdb")
    with prometheus(tmp_path / "tsdb") as url:
        store = Store(tmp_path / "s")
        assert collect_vllm(PrometheusSource(url), store, at(0), at(10), STEP) > 0
    got = store.read("SERIES")
    assert (
        got["unique_id"].n_unique() == 6 and got.filter(pl.col("unique_id") == "llm/code:request_rate")["y"].sum() > 0
    )
