"""The observability pack against the real processes (issue #24 point 7): `gpufleet hook serve`, `gpufleet
collect run` and `gpufleet exporter` run for real (the hook with its Kubernetes side on kmock's emulator,
which enforces the RBAC rendered from deploy/overlays/hook; the exporter replaying a recorded fleet; the
collector and the hook reading a real Prometheus holding vLLM telemetry). Every metric name in the alert rules
and the Grafana dashboard must be one these three expose on /metrics, Prometheus' own `up`, or one of the vLLM
series the hook reads by default (gpufleet.hook.telemetry: the forecast-vs-demand panel plots the arrivals
counter the forecast is made from; the test's telemetry uses a gateway counter instead). The hook also answers
/v1/recommendations (packing advice lists nodes and pods) with no request refused by the enforced RBAC."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from tests.collector.prom import need_prometheus, prometheus
from tests.deploy.cluster_fixture import LABEL, populate
from tests.deploy.kube_rbac import Authorizer, rbac_emulator
from tests.deploy.promql import dashboard_exprs, metric_names, rule_exprs
from tests.deploy.rbac import rules_of
from tests.deploy.render import render
from tests.hook.live import TOKEN, authed, backfill_models, hook_process, wait_for

from gpufleet.testing.net import free_port, stop_process, wait_http

pytestmark = pytest.mark.integration

# Names the pack uses that a helper was still adding when it was written; empty once they landed (they have:
# gpufleet_actual_replicas, gpufleet_decisions_total, gpufleet_fallback_engaged,
# gpufleet_loop_last_tick_timestamp_seconds, gpufleet_loop_interval_seconds come from the hook's /metrics).
PENDING: frozenset[str] = frozenset()


def names_in(text: str) -> set[str]:
    """Metric names a /metrics page offers to PromQL: sample names, and the series names of families that
    have no sample yet (a counter's _total, a histogram's _bucket/_sum/_count)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: set[str] = set()
    for fam in text_string_to_metric_families(text):
        out |= {s.name for s in fam.samples} | {fam.name}
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
        out |= {fam.name + s for s in suffixes.get(fam.type, ())}
    return out


@contextmanager
def process(args: list[str], log: Path, ready_url: str, contains: bytes) -> Iterator[subprocess.Popen[bytes]]:
    """A `gpufleet` command as a real process until the block ends (SIGTERM, then SIGKILL, by PID)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gpufleet.cli", *args], stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(ready_url, proc=proc, contains=contains, timeout_s=120, what=args[0])
            except RuntimeError as e:
                raise AssertionError(f"{e}: {log.read_text()[-2000:]}") from None
            yield proc
        finally:
            stop_process(proc)


def recording(path: Path) -> None:
    """8 GPUs of the synthetic fleet, one sample a minute, for the exporter to replay."""
    import polars as pl

    from gpufleet.traces import load

    s = load("synthetic:gpu-samples", n_gpus=8, hours=1, interval_s=60).frame
    s.filter(pl.col("pod").is_not_null()).write_parquet(path)


def test_every_metric_in_the_rules_and_dashboard_is_exposed(tmp_path: Path) -> None:
    need_prometheus()
    tsdb = backfill_models(tmp_path, {"m": 3.0}, 600)  # the vLLM telemetry the hook and the collector read
    (tmp_path / "token").write_text(TOKEN + "\n")
    recording(tmp_path / "rec.parquet")
    auth = Authorizer()
    with prometheus(tsdb) as prom, rbac_emulator(auth) as (kube_url, _):
        populate(kube_url)  # labelled llm/chat and llm/embed (model "m"), a ScaledObject, a GPU node and pod
        auth.calls.clear()
        auth.rules = rules_of(render("hook"), "gpufleet-hook", "gpufleet")  # enforced from here on
        hport, cport, eport = free_port(), free_port(), free_port()
        hook_cfg = tmp_path / "hook.yaml"
        hook_cfg.write_text(
            yaml.safe_dump(
                {
                    "listen": {"host": "127.0.0.1", "http_port": hport, "grpc_port": 0},
                    "auth": {"token_file": str(tmp_path / "token")},
                    "store": str(tmp_path / "hook-store"),
                    "interval": 1,
                    "telemetry": {"url": prom, "stale_after": 60, "timeout": 5},
                    "kubernetes": {"host": kube_url, "label_selector": f"{LABEL}=true", "apply": False},
                }
            )
        )
        col_cfg = tmp_path / "collector.yaml"
        col_cfg.write_text(
            yaml.safe_dump(
                {
                    "store": str(tmp_path / "store"),
                    "metrics_host": "127.0.0.1",
                    "metrics_port": cport,
                    "sources": [{"kind": "prometheus", "url": prom, "interval": "2s", "start": "10m", "delay": "1s"}],
                }
            )
        )
        exporter = ["exporter", "--host", "127.0.0.1", "--port", str(eport), "--replay", str(tmp_path / "rec.parquet")]
        env_log = {"GPUFLEET_LOG_FORMAT": "json"}
        os.environ.update(env_log)
        try:
            with (
                hook_process(hook_cfg, hport, env=env_log),
                process(
                    ["collect", "run", "--config", str(col_cfg)],
                    tmp_path / "collector.log",
                    f"http://127.0.0.1:{cport}/metrics",
                    b"gpufleet_collector_last_success_timestamp_seconds{",
                ),
                process(
                    [*exporter, "--speed", "60"],
                    tmp_path / "exporter.log",
                    f"http://127.0.0.1:{eport}/metrics",
                    b"DCGM_FI_DEV_GPU_UTIL{",
                ),
            ):

                def hook_metrics() -> str | None:
                    text = httpx.get(f"http://127.0.0.1:{hport}/metrics", timeout=10).text
                    # wait for a finished round with both workloads decided and their replicas read
                    done = "gpufleet_loop_last_tick_timestamp_seconds " in text and "gpufleet_actual_replicas{" in text
                    return text if done and "gpufleet_decisions_total{" in text else None

                hook_text = wait_for(hook_metrics, 120, "the hook's first decisions")
                with authed(hport) as c:
                    recs = c.get("/v1/recommendations")
                assert recs.status_code == 200, recs.text
                assert recs.json()["packing"] is not None, "packing advice read nodes and pods"
                col_text = httpx.get(f"http://127.0.0.1:{cport}/metrics", timeout=10).text
                exp_text = httpx.get(f"http://127.0.0.1:{eport}/metrics", timeout=10).text
        finally:
            for k in env_log:
                os.environ.pop(k, None)
    assert auth.refused == [], [str(c) for c in auth.refused]
    assert any(c.resource == "pods" for c in auth.calls), "the hook listed pods under the enforced role"

    from gpufleet.hook import telemetry

    hook_inputs = {*telemetry.GAUGES, telemetry.ARRIVALS, telemetry.SERVICE + "_sum", telemetry.SERVICE + "_count"}
    exposed = names_in(hook_text) | names_in(col_text) | names_in(exp_text)
    allowed = exposed | {"up"} | hook_inputs | PENDING
    used = {n: e for e in rule_exprs() + dashboard_exprs() for n in metric_names(e)}
    unknown = {n: e for n, e in used.items() if n not in allowed}
    assert unknown == {}, "names no process exposes"
    assert not PENDING & exposed, f"drop these from PENDING, they are exposed now: {PENDING & exposed}"
    # the scrape really covered all three processes
    assert {"gpufleet_desired_replicas", "gpufleet_collector_source_up", "DCGM_FI_DEV_GPU_UTIL"} <= exposed
