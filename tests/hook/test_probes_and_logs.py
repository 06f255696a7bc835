"""Probes, conditions, the loop/fallback metrics and the log lines of `gpufleet hook serve` as a real process
(issue #24 points 5 and 6), against a real Prometheus scraping a live vLLM-like exporter, kmock's Kubernetes
emulator, and a Prometheus that is killed by PID under the hook:
- stale telemetry, then no Prometheus at all: /readyz stays 200 (the held decisions are what KEDA should get),
  /v1/workloads names the condition, /metrics shows gpufleet_fallback_engaged = 1 and the decisions counted by
  outcome, and the loop's last-round timestamp keeps moving;
- before the first round of decisions (a Prometheus that accepts connections and never answers): 503, the
  workload's FallbackEngaged condition says NoDecisionYet; once the round ends, ready;
- stderr is one JSON object per line by default when it is not a terminal (every line parses), decision lines
  carry `workload` and a `decision_id` that is the one in the decision store; `--log-format text` is plain."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.collector.prom import free_port, need_prometheus, prometheus_scraping
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator
from tests.hook.live import TOKEN, Exporter, authed, hook_process, sample, wait_for

from gpufleet.collector.store import Store

pytestmark = pytest.mark.integration
WL = {"namespace": "llm", "workload": "chat"}
DECISION = "/v1/workloads/llm/chat/decision"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[dict[str, Any]]:
    need_prometheus()
    exp = Exporter("llm", "chat")
    (tmp_path / "token").write_text(TOKEN + "\n")
    try:
        with ExitStack() as prom, kube_emulator() as kube_url:
            prom_url = prom.enter_context(prometheus_scraping(tmp_path, f"127.0.0.1:{exp.port}", 1.0))
            yield {"exporter": exp, "prom": prom_url, "prom_stack": prom, "kube": kube_url, "root": tmp_path}
    finally:
        exp.stop()


def write_config(root: Path, port: int, telemetry_url: str, kube: dict[str, Any], timeout: float = 2) -> Path:
    body = {
        "listen": {"http_port": port, "grpc_port": 0},
        "auth": {"token_file": str(root / "token")},
        "store": str(root / "store"),
        "interval": 1,
        "telemetry": {"url": telemetry_url, "stale_after": 120, "timeout": timeout},
        "kubernetes": kube,
        "workloads": [{"namespace": "llm", "name": "chat", "policy": "target-tracking"}],
    }
    path = root / "hook.yaml"
    path.write_text(json.dumps(body))  # YAML is a superset of JSON
    return path


def conditions(c: httpx.Client) -> dict[str, dict[str, Any]]:
    (w,) = c.get("/v1/workloads").json()["workloads"]
    return {x["type"]: x | {"age": w["telemetry_age_s"]} for x in w["conditions"]}


def test_stale_and_dead_prometheus_keep_the_hook_ready_and_show_everywhere(live: dict[str, Any]) -> None:
    exp, root = live["exporter"], live["root"]
    apps_api(live["kube"]).create_namespaced_deployment("llm", deployment("llm", "chat", 3, {}))
    exp.pods = {"chat-0": 39.2}  # 39.2 in flight on 3 replicas: target tracking wants 7
    port = free_port()
    cfg = write_config(root, port, live["prom"], {"host": live["kube"]})
    began = time.time()
    # no --log-format, stderr a file: JSON by default
    with hook_process(cfg, port, env={"GPUFLEET_LOG_FORMAT": ""}), authed(port) as c:
        good = wait_for(lambda: (d := c.get(DECISION).json()).get("desired_replicas") == 7 and d, 60, "a 7")
        assert good["status"] == "ok" and len(good["decision_id"]) == 16
        # the decision is served as soon as it is made; the round's counter and timestamp follow once the round
        # has recorded it in the store, so a scrape may fall between the two
        text = wait_for(
            lambda: (
                (m := c.get("/metrics").text)
                and (sample(m, "gpufleet_decisions_total", **WL, status="ok") or 0) >= 1
                and sample(m, "gpufleet_loop_last_tick_timestamp_seconds") is not None
                and m
            ),
            30,
            "the round's counter and timestamp",
        )
        assert sample(text, "gpufleet_fallback_engaged", **WL) == 0.0
        assert sample(text, "gpufleet_actual_replicas", **WL) == 3.0
        first_tick = sample(text, "gpufleet_loop_last_tick_timestamp_seconds")
        assert first_tick is not None and began < first_tick <= time.time()
        assert sample(text, "gpufleet_loop_interval_seconds") == 1.0
        cond = conditions(c)
        assert cond["TelemetryFresh"]["status"] == "True" and cond["FallbackEngaged"]["status"] == "False"
        assert c.get("/readyz").json()["status"] == "ready"

        exp.stop()  # the exporter goes away: Prometheus still answers, with older and older samples
        wait_for(lambda: sample(c.get("/metrics").text, "gpufleet_fallback_engaged", **WL) == 1.0, 60, "fallback")
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["status"] == "degraded" and r.json()["stale"] == 1, r.text
        cond = conditions(c)
        assert cond["TelemetryFresh"]["status"] == "False" and cond["TelemetryFresh"]["reason"] == "TelemetryStale"
        assert cond["FallbackEngaged"]["reason"] == "HoldingLastGood" and cond["TelemetryFresh"]["age"] > 0
        held = c.get(DECISION).json()
        assert held["status"] == "stale" and held["desired_replicas"] == 7
        assert held["decision_id"] != good["decision_id"]
        assert (sample(c.get("/metrics").text, "gpufleet_decisions_total", **WL, status="stale") or 0) >= 1

        live["prom_stack"].close()  # Prometheus itself is stopped (by PID): every query now fails
        wait_for(lambda: conditions(c)["TelemetryFresh"]["reason"] == "TelemetryUnavailable", 60, "unavailable")
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["error"] == 1 and r.json()["loop"] == "Running", r.text
        down = c.get(DECISION).json()
        assert down["status"] == "error" and down["desired_replicas"] == 7, down
        text = c.get("/metrics").text
        assert sample(text, "gpufleet_fallback_engaged", **WL) == 1.0
        assert (sample(text, "gpufleet_decisions_total", **WL, status="error") or 0) >= 1
        later = sample(text, "gpufleet_loop_last_tick_timestamp_seconds")
        assert later is not None and later > first_tick, "the loop keeps finishing rounds without telemetry"
        assert c.get("/healthz").status_code == 200

    lines = (root / f"hook-{port}.log").read_text().splitlines()
    records = [json.loads(x) for x in lines]  # every line on stderr is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["time"].endswith("+00:00") for r in records)
    about = [r for r in records if "decision_id" in r]  # decision lines, and the dry-run's "would scale"
    stored = Store(root / "store").read("DECISIONS")
    by_id = {row["decision_id"]: row for row in stored.iter_rows(named=True)}
    assert all(r["workload"] == "llm/chat" and r["decision_id"] in by_id for r in about), "the stored ids"
    decided = [r for r in about if "status" in r]
    assert {r["level"] for r in decided} >= {"INFO", "WARNING"}, decided  # fresh, then held
    for r in decided:
        row = by_id[r["decision_id"]]
        assert row["status"] == r["status"] and row["desired_replicas"] == r["desired"], (r, row)
    assert any("would scale 3 -> 7" in r["message"] for r in about), "dry-run lines carry the decision's id"
    assert not (root / f"hook-{port}.out").read_text(), "nothing on stdout"


def test_not_ready_before_the_first_round_then_ready_in_text_logs(tmp_path: Path) -> None:
    """A Prometheus that accepts connections and never answers holds the first round for telemetry.timeout;
    meanwhile the hook has nothing to serve: 503. Closing it resets the queued connections, the round ends
    with an error decision (the current replicas held), and the hook is ready."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # never accept(): the kernel completes handshakes, nobody ever answers
    try:
        port = free_port()
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        cfg = write_config(tmp_path, port, url, {"enabled": False}, timeout=300)
        with hook_process(cfg, port, args=("--log-format", "text")), authed(port) as c:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "starting", r.text
            assert c.get("/healthz").status_code == 200, "alive all the same"
            text = c.get("/metrics").text
            assert sample(text, "gpufleet_fallback_engaged", **WL) == 1.0, "KEDA gets UNAVAILABLE: its fallback"
            assert sample(text, "gpufleet_loop_last_tick_timestamp_seconds") is None
            body = c.get("/v1/workloads").json()
            assert body["conditions"][0]["reason"] == "NotStarted"
            assert conditions(c)["FallbackEngaged"]["reason"] == "NoDecisionYet"
            blackhole.close()
            ready = wait_for(lambda: (r := c.get("/readyz")).status_code == 200 and r.json(), 60, "ready")
            assert ready["status"] == "degraded" and ready["error"] == 1
            assert c.get(DECISION).json()["status"] == "error"
    finally:
        blackhole.close()
    lines = (tmp_path / f"hook-{port}.log").read_text().splitlines()
    assert lines and not any(x.lstrip().startswith("{") for x in lines), "plain lines, not JSON"
    assert any("INFO gpufleet hook: 1 workload(s)" in x for x in lines), lines
    assert any("llm/chat: error" in x and "decision_id=" in x and "workload=llm/chat" in x for x in lines), lines
