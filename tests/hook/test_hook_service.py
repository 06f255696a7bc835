"""The hook as a service: HTTP API (httpx against uvicorn on loopback), gRPC errors and streams (a real gRPC
client), fallbacks when telemetry is stale or Prometheus is down, restart from the recorded decisions,
discovery and apply/dry-run against kmock's Kubernetes emulator. Telemetry is a real Prometheus holding a
serving replay of azure-llm:conv."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator
from tests.integration.prom import backfill, free_port, need_prometheus, prometheus

from gpufleet.collector.openmetrics import write_serving_openmetrics
from gpufleet.hook.config import HookConfig
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc
from gpufleet.hook.serve import Hook
from gpufleet.sim.serving import ServingConfig, simulate_serving

pytestmark = [pytest.mark.integration, pytest.mark.traces]
EPOCH = 1_700_000_040
TOKEN = "t0ken-for-tests"
NAME = "conv"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[dict[str, Any]]:
    need_prometheus()
    from gpufleet.traces import load

    root = tmp_path_factory.mktemp("hook")
    res = simulate_serving(load("azure-llm:conv", data_dir).frame, ServingConfig(policy="target-tracking"))
    assert res.per_second is not None
    write_serving_openmetrics(res.per_second, res.requests, root / "s.om", epoch_s=EPOCH, namespace="llm", model=NAME)
    backfill(root / "s.om", root / "tsdb")
    (root / "token").write_text(TOKEN + "\n")
    port = free_port()
    with prometheus(root / "tsdb", port) as prom_url, kube_emulator() as kube_url:
        apps = apps_api(kube_url)
        apps.create_namespaced_deployment("llm", deployment("llm", NAME, 6, {"gpufleet.io/managed": "true"}))
        yield {"root": root, "prom": prom_url, "prom_port": port, "kube": kube_url, "apps": apps}


def config(world: dict[str, Any], store: Path, **kube: Any) -> HookConfig:
    return HookConfig.model_validate(
        {
            "listen": {"http_port": 0, "grpc_port": 0, "max_body_bytes": 2048},
            "auth": {"token_file": str(world["root"] / "token")},
            "store": str(store),
            "telemetry": {"url": world["prom"], "stale_after": 60, "timeout": 2},
            "kubernetes": {"host": world["kube"], **kube},
            "workloads": [
                {
                    "namespace": "llm",
                    "name": NAME,
                    "policy": "target-tracking",
                    "guardrails": {"min_replicas": 2, "max_replicas": 40},
                    "arrivals": f'gateway_requests_total{{namespace="llm",service="{NAME}"}}',
                }
            ],
        }
    )


@pytest.fixture
def hook(world: dict[str, Any], tmp_path: Path) -> Iterator[Hook]:
    # the replay's clock: "now" is 50 minutes into it
    h = Hook(config(world, tmp_path / "store"), log=lambda _: None, clock=lambda: EPOCH + 3000.0)
    h.start(loop=False)
    yield h
    h.close()


def test_http_api_auth_validation_and_answers(hook: Hook) -> None:
    hook.engine.tick(EPOCH + 900)
    base = f"http://127.0.0.1:{hook.http_port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        text = c.get("/metrics").text
        assert f'gpufleet_desired_replicas{{namespace="llm",workload="{NAME}"}}' in text
        assert "gpufleet_telemetry_age_seconds" in text and "gpufleet_request_latency_seconds_bucket" in text
        assert c.get("/v1/workloads").status_code == 401
        assert c.get("/v1/workloads", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ws = c.get("/v1/workloads", headers=auth).json()["workloads"]
        assert [w["name"] for w in ws] == [NAME] and ws[0]["desired_replicas"] >= 2
        d = c.get(f"/v1/workloads/llm/{NAME}/decision", headers=auth).json()
        assert d["status"] == "ok" and d["reason"].startswith("HPA") and d["current_replicas"] == 6
        assert d["concurrency"] > 0 and d["guardrails"]["min_replicas"] == 2
        assert c.get("/v1/workloads/llm/nope/decision", headers=auth).status_code == 404
        bad = c.post("/v1/what-if", headers=auth, json={"namespace": "llm", "workload": NAME, "policy": "kpa", "x": 1})
        assert bad.status_code == 422 and "x" in bad.text
        big = c.post("/v1/what-if", headers=auth, content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413
        chunked = c.post("/v1/what-if", headers=auth, content=(b for b in [b"{}"]))  # no Content-Length
        assert chunked.status_code == 411
        wi = c.post(
            "/v1/what-if",
            headers=auth,
            json={"namespace": "llm", "workload": NAME, "policy": "kpa"},
        )
        assert wi.status_code == 200, wi.text
        body = wi.json()
        assert body["current"]["policy"] == "target-tracking" and body["proposed"]["policy"] == "kpa"
        assert body["requests"] > 1000 and body["current"]["gpu_hours"] > 0
        assert "/v1/what-if" in c.get("/openapi.json").json()["paths"]


def test_grpc_errors_streams_and_workloads_named_by_metadata(hook: Hook, world: dict[str, Any]) -> None:
    ch = grpc.insecure_channel(f"127.0.0.1:{hook.grpc_port}")
    stub = pb_grpc.ExternalScalerStub(ch)
    with pytest.raises(grpc.RpcError) as e:
        stub.GetMetricSpec(pb.ScaledObjectRef(name="unknown", namespace="llm"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        stub.IsActive(pb.ScaledObjectRef(name="Bad_Name!", namespace="llm"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        stub.IsActive(pb.ScaledObjectRef(name="x", namespace="llm", scalerMetadata={"policy": "oracle"}))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a ScaledObject naming a workload and a policy the hook does not know yet: added; before its first
    # decision the answer is the replicas the cluster runs (6), never zero
    ref = pb.ScaledObjectRef(name="so-conv-2", namespace="llm", scalerMetadata={"workload": NAME, "policy": "kpa"})
    assert stub.IsActive(ref).result is True
    world["apps"].create_namespaced_deployment("llm", deployment("llm", "other", 3, {}))
    ref2 = pb.ScaledObjectRef(name="other", namespace="llm", scalerMetadata={"policy": "kpa", "model": NAME})
    spec = stub.GetMetricSpec(ref2).metricSpecs[0]
    value = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref2, metricName=spec.metricName)).metricValues[0]
    assert int(value.metricValueFloat * 1000) == 3 * int(spec.targetSizeFloat * 1000)
    assert value.metricValue > 0 and spec.targetSize > 0, "int fields filled too"
    stream = stub.StreamIsActive(ref)
    assert next(stream).result is True
    stream.cancel()
    ch.close()


def test_stale_and_down_telemetry_fall_back_then_restart_restores(world: dict[str, Any], tmp_path: Path) -> None:
    store = tmp_path / "store"
    h = Hook(config(world, store), log=lambda _: None)
    h.start(loop=False)
    try:
        (good,) = h.engine.tick(EPOCH + 1200)
        assert good.status == "ok"
        (stale,) = h.engine.tick(EPOCH + 3514 + 600)  # ten minutes after the replay's last sample
        assert stale.status == "stale" and stale.desired_replicas == good.desired_replicas
        assert "keeping the last good decision" in stale.reason
        r = httpx.get(f"http://127.0.0.1:{h.http_port}/readyz")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
    finally:
        h.close()
    # Prometheus unreachable, a fresh hook on the same store: the recorded decision is the answer
    cfg = config(world, store)
    cfg.telemetry.url = f"http://127.0.0.1:{free_port()}"
    h2 = Hook(cfg, log=lambda _: None)
    h2.start(loop=False)
    try:
        rt = h2.engine.get("llm", NAME)
        assert rt is not None and rt.last_good is not None and rt.last_good.desired_replicas == good.desired_replicas
        (down,) = h2.engine.tick(EPOCH + 1300)
        assert down.status == "error" and "telemetry unavailable" in down.reason
        assert down.desired_replicas == good.desired_replicas
    finally:
        h2.close()


def test_a_fresh_hook_without_history_keeps_the_current_replicas(world: dict[str, Any], tmp_path: Path) -> None:
    cfg = config(world, tmp_path / "store")
    cfg.telemetry.url = f"http://127.0.0.1:{free_port()}"
    h = Hook(cfg, log=lambda _: None)
    (d,) = h.engine.tick(EPOCH + 100)
    assert d.status == "error" and d.desired_replicas == 6 and "keeping the current replicas" in d.reason


def test_discovery_filters_labels_and_reads_annotations(world: dict[str, Any], tmp_path: Path) -> None:
    apps = world["apps"]
    ann = {"gpufleet.io/policy": "kpa", "gpufleet.io/min-replicas": "2", "gpufleet.io/model": "m7"}
    apps.create_namespaced_deployment("team-a", deployment("team-a", "chat", 2, {"gpufleet.io/managed": "true"}, ann))
    apps.create_namespaced_deployment("team-a", deployment("team-a", "not-ours", 2, {"app": "x"}))
    bad = {"gpufleet.io/policy": "no-such-policy"}
    apps.create_namespaced_deployment("team-a", deployment("team-a", "broken", 1, {"gpufleet.io/managed": "true"}, bad))
    logs: list[str] = []
    h = Hook(config(world, tmp_path / "store"), log=logs.append)
    assert h.discover() >= 1
    chat = h.engine.get("team-a", "chat")
    assert chat is not None and chat.cfg.policy == "kpa" and chat.cfg.model == "m7"
    assert chat.cfg.guardrails.min_replicas == 2
    assert h.engine.get("team-a", "not-ours") is None, "the emulator ignores selectors; the hook does not"
    assert h.engine.get("team-a", "broken") is None and any("broken: skipped" in x for x in logs)


def test_apply_patches_scale_and_dry_run_does_not(world: dict[str, Any], tmp_path: Path) -> None:
    apps = world["apps"]
    apps.create_namespaced_deployment("llm", deployment("llm", "applied", 1, {}))
    for apply in (False, True):
        cfg = config(world, tmp_path / f"store-{apply}", apply=apply)
        cfg.workloads[0].name = "applied"
        cfg.workloads[0].model = NAME
        h = Hook(cfg, log=lambda _: None)
        (d,) = h.engine.tick(EPOCH + 1200)
        assert d.status == "ok" and d.desired_replicas > 1
        now = apps.read_namespaced_deployment("applied", "llm").spec.replicas
        if apply:
            assert now == d.desired_replicas
        else:
            assert now == 1 and h.kube.intended == [("llm/applied", 1, d.desired_replicas)]
    shutil.rmtree(tmp_path, ignore_errors=True)
