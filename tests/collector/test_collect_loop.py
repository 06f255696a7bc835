"""`gpufleet collect run`: the loop against a real Prometheus that is down when it starts and comes up
later (backoff, then recovery from the watermarks, every sample exactly once), with an NVML source that
cannot run here (reported once, the Prometheus source keeps going), and the loop's own /metrics."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml
from tests.collector.prom import backfill, free_port, need_prometheus, prometheus
from tests.collector.test_prometheus_collector import genai_as_dcgm

from gpufleet.collector.loop import CollectorLoop, load_config
from gpufleet.collector.nvml import open_nvml
from gpufleet.collector.openmetrics import write_openmetrics
from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError

pytestmark = [pytest.mark.integration, pytest.mark.traces]


def test_loop_backs_off_recovers_and_stores_everything_once(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gpufleet.collector")
    need_prometheus()
    src = genai_as_dcgm(data_dir, pods=3)
    # moved to end ten minutes ago: the loop pulls up to "now", as on a live cluster
    shift = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10) - src["ts"].max()
    src = src.with_columns(pl.col("ts") + shift)
    write_openmetrics(src, tmp_path / "h.om")
    backfill(tmp_path / "h.om", tmp_path / "tsdb")
    port, metrics_port = free_port(), free_port()
    start = (src["ts"].min() - timedelta(seconds=1)).isoformat()
    cfg_file = tmp_path / "collector.yaml"
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "store": "store",
                "metrics_host": "127.0.0.1",
                "metrics_port": metrics_port,
                "backoff": {"initial": "0.5s", "max": "2s"},
                "sources": [
                    {
                        "kind": "prometheus",
                        "url": f"http://127.0.0.1:{port}",
                        "interval": "1s",
                        "start": start,
                        "step": "30s",
                        "chunk": "6h",
                        "retries": 0,
                        "timeout": "5s",
                    },
                    {"kind": "nvml", "interval": "1s"},
                ],
            }
        )
    )
    cfg = load_config(cfg_file)
    assert cfg.store == tmp_path / "store"
    loop = CollectorLoop(cfg)
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    try:
        time.sleep(3)  # Prometheus is down: the loop fails and backs off
        prom = loop.states[0]
        assert prom.runs_ok == 0 and prom.runs_failed >= 2 and prom.backoff_s > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'gpufleet_collector_source_up{source="prometheus"} 0.0' in text
        assert 'gpufleet_collector_runs_total{outcome="failed",source="prometheus"}' in text
        with prometheus(tmp_path / "tsdb", port):
            deadline = time.time() + 60
            while prom.runs_ok < 2 and time.time() < deadline:  # a first pull, then a later one
                time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
                text = r.read().decode()
    finally:
        loop.stop.set()
        t.join(timeout=30)
    lines = [r.getMessage() for r in caplog.records]
    assert prom.runs_ok >= 2 and prom.failures == 0, lines
    assert 'gpufleet_collector_source_up{source="prometheus"} 1.0' in text
    assert (
        f'gpufleet_collector_rows_written_total{{source="prometheus",table="GPU_SAMPLES"}} {float(src.height)}' in text
    )
    got = Store(tmp_path / "store").read("GPU_SAMPLES")
    assert got.height == src.height and got.unique(["pod", "ts"]).height == got.height
    assert Store(tmp_path / "store").read("SERIES").height > 0
    nvml = loop.states[1]
    assert nvml.disabled and sum("NVML is not available" in x for x in lines) == 1
    assert any("recovered after" in x for x in lines)


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("store: s\nsources:\n  - kind: prometheus\n    url: http://x\n    interval: soon\n")
    with pytest.raises(GpufleetError, match=r"c.yaml: sources.0.prometheus.interval: .*'soon'"):
        load_config(p)
    p.write_text("store: s\nsources:\n  - kind: kafka\n")
    with pytest.raises(GpufleetError, match=r"c.yaml: sources.0"):
        load_config(p)


def test_only_nvml_without_a_gpu_stops_with_a_clear_error(tmp_path: Path) -> None:
    try:
        open_nvml()
        pytest.skip("this machine has NVML")
    except GpufleetError:
        pass
    p = tmp_path / "c.yaml"
    p.write_text("store: s\nmetrics_port: 0\nsources:\n  - kind: nvml\n")
    with pytest.raises(GpufleetError, match="no source can run here: nvml: NVML is not available"):
        CollectorLoop(load_config(p)).run(duration_s=5)


def test_cli_collect_run_reports_each_source(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from gpufleet.cli import app

    p = tmp_path / "c.yaml"
    p.write_text(
        f"store: s\nmetrics_port: 0\nbackoff: {{initial: 0.2s, max: 1s}}\nsources:\n"
        f"  - kind: prometheus\n    url: http://127.0.0.1:{free_port()}\n    interval: 1s\n    retries: 0\n"
    )
    res = CliRunner().invoke(app, ["collect", "run", "--config", str(p), "--duration", "2s", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)["prometheus"]
    assert r["runs_ok"] == 0 and r["runs_failed"] >= 2 and "Connection refused" in r["last_error"]


def test_an_unexpected_error_in_one_source_is_counted_and_the_others_keep_running(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One source's Prometheus answers in a shape no code expects (a bug's stand-in); it is logged, counted
    in /metrics and backed off with jitter, while the healthy source stores everything once."""
    from tests.collector.faultproxy import fault_proxy

    need_prometheus()
    src = genai_as_dcgm(data_dir, pods=2)
    shift = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10) - src["ts"].max()
    src = src.with_columns(pl.col("ts") + shift)  # ends ten minutes ago: one window reaches it
    write_openmetrics(src, tmp_path / "h.om")
    backfill(tmp_path / "h.om", tmp_path / "tsdb")
    start = (src["ts"].min() - timedelta(seconds=1)).isoformat()
    common = {"interval": "0.5s", "start": start, "step": "30s", "chunk": "6h", "retries": 0, "serving": False}
    with prometheus(tmp_path / "tsdb", free_port()) as url, fault_proxy(url, ["shape"] * 1000) as (bad, _):
        cfg_file = tmp_path / "collector.yaml"
        cfg_file.write_text(
            yaml.safe_dump(
                {
                    "store": "store",
                    "metrics_port": 0,
                    "backoff": {"initial": "0.2s", "max": "1s"},
                    "sources": [
                        {"kind": "prometheus", "name": "good", "url": url, **common},
                        {"kind": "prometheus", "name": "odd", "url": bad, **common},
                    ],
                }
            )
        )
        loop = CollectorLoop(load_config(cfg_file))
        loop.run(duration_s=6)
    lines = [r.getMessage() for r in caplog.records]
    good, odd = loop.states
    assert good.runs_ok >= 2 and good.failures == 0
    assert odd.runs_ok == 0 and odd.unexpected >= 2 and odd.unexpected == odd.runs_failed
    assert any("odd: failed (unexpected " in x for x in lines), lines
    # jitter: the waits are not the bare powers of two
    assert 0.2 <= odd.backoff_s <= 1.0
    got = Store(tmp_path / "store").read("GPU_SAMPLES")
    assert got.height == src.height and got.unique(["pod", "ts"]).height == got.height
