"""The KEDA scaler under hostile clients (issue #21 point 4), with a real grpcio client against the hook's
asyncio gRPC server, telemetry from a real Prometheus and the cluster from kmock's Kubernetes emulator:
- every method refuses a call without the bearer token (UNAUTHENTICATED), and with mutual TLS (trustme
  certificates, as KEDA's TriggerAuthentication gives them) a client without a certificate of the CA never
  gets past the handshake, and one with a name outside `client_names` gets PERMISSION_DENIED;
- `scalerMetadata` only selects declared workloads: naming an unlabelled Deployment with a policy is
  NOT_FOUND, adds nothing, and apply mode never touches it; a workload that loses its label is not patched;
- IsActive is false without demand (scale to zero) and does not change on missing telemetry;
- StreamIsActive is capped and GetMetrics answers with more idle streams open than the old thread pool had."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from tests.collector.prom import need_prometheus, prometheus
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator
from tests.hook.live import EPOCH, MD, TOKEN, backfill_models, certificates, wait_for

from gpufleet.hook.config import HookConfig
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc
from gpufleet.hook.serve import Hook

pytestmark = pytest.mark.integration
NOW = EPOCH + 300.0  # inside the backfilled replay


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_prometheus()
    root = tmp_path_factory.mktemp("scaler")
    tsdb = backfill_models(root, {"busy": 39.2, "idle": 0.0}, 600)
    (root / "token").write_text(TOKEN + "\n")
    with prometheus(tsdb) as prom_url, kube_emulator() as kube_url:
        apps = apps_api(kube_url)
        yield {"root": root, "prom": prom_url, "kube": kube_url, "apps": apps}


def make_hook(world: dict[str, Any], store: Path, tag: str, **listen: Any) -> Hook:
    """A hook whose workloads are the Deployments `<tag>-busy` and `<tag>-idle` in llm, labelled
    gpufleet.io/managed=<tag> and selected by that label (nothing in hook.yaml)."""
    cfg = HookConfig.model_validate(
        {
            "listen": {"http_port": 0, "grpc_port": 0, **listen},
            "auth": {"token_file": str(world["root"] / "token")},
            "store": str(store),
            "telemetry": {"url": world["prom"], "stale_after": 60, "timeout": 5},
            "kubernetes": {"host": world["kube"], "label_selector": f"gpufleet.io/managed={tag}", "apply": True},
        }
    )
    h = Hook(cfg, clock=lambda: NOW)
    for name in ("busy", "idle"):
        ann = {"gpufleet.io/policy": "target-tracking", "gpufleet.io/model": name}
        world["apps"].create_namespaced_deployment(
            "llm", deployment("llm", f"{tag}-{name}", 3, {"gpufleet.io/managed": tag}, ann)
        )
    h.discover()
    return h


def ref(name: str, ns: str, **meta: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name=name, namespace=ns, scalerMetadata=meta)


def code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code()


def test_every_method_needs_the_token(world: dict[str, Any], tmp_path: Path) -> None:
    h = make_hook(world, tmp_path / "store", "auth")
    h.start(loop=False)
    try:
        h.engine.tick(NOW)
        stub = pb_grpc.ExternalScalerStub(grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}"))
        r = ref("auth-busy", "llm")
        calls = {
            "IsActive": lambda md: stub.IsActive(r, metadata=md, timeout=10),
            "GetMetricSpec": lambda md: stub.GetMetricSpec(r, metadata=md, timeout=10),
            "GetMetrics": lambda md: stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=r), metadata=md, timeout=10),
            "StreamIsActive": lambda md: next(stub.StreamIsActive(r, metadata=md, timeout=10)),
        }
        for name, call in calls.items():
            for md in ((), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)):
                assert code(lambda c=call, m=md: c(m)) == grpc.StatusCode.UNAUTHENTICATED, (name, md)
            assert call(MD), name  # the same call with the token answers
        # an unauthenticated client naming an undeclared Deployment with a policy: refused, nothing added
        world["apps"].create_namespaced_deployment("team-b", deployment("team-b", "paused", 0, {}))
        before = set(h.engine.workloads)
        sneaky = ref("paused", "team-b", policy="kpa")
        assert code(lambda: stub.IsActive(sneaky, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
        assert set(h.engine.workloads) == before
        text = httpx.get(f"http://127.0.0.1:{h.http_port}/metrics").text
        assert 'gpufleet_refused_total{reason="auth",where="grpc"} 13.0' in text
    finally:
        h.close()


def test_metadata_selects_but_never_creates_and_apply_stays_in_the_selection(
    world: dict[str, Any], tmp_path: Path
) -> None:
    apps = world["apps"]
    apps.create_namespaced_deployment("team-c", deployment("team-c", "paused", 0, {}))
    h = make_hook(world, tmp_path / "store", "sel")
    h.start(loop=False)
    try:
        stub = pb_grpc.ExternalScalerStub(grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}"))
        # authenticated, yet a ScaledObject (or anyone with the token) cannot add a workload
        for r in (ref("paused", "team-c", policy="kpa"), ref("x", "llm", workload="paused", policy="kpa")):
            assert code(lambda r=r: stub.IsActive(r, metadata=MD, timeout=10)) == grpc.StatusCode.NOT_FOUND
        assert code(lambda: stub.IsActive(ref("sel-busy", "llm", namespace="other"), metadata=MD, timeout=10)) == (
            grpc.StatusCode.PERMISSION_DENIED
        ), "a ScaledObject selects in its own namespace only"
        assert sorted(h.engine.workloads) == ["llm/sel-busy", "llm/sel-idle"]
        for _ in range(3):
            h.engine.tick(NOW)
        assert apps.read_namespaced_deployment("paused", "team-c").spec.replicas == 0, "never touched"
        busy = apps.read_namespaced_deployment("sel-busy", "llm").spec.replicas
        assert busy > 3, "the selected, busy workload was scaled up (apply mode works)"
        # it loses its label and someone scales it back: the hook refuses to patch it and stops deciding for it
        apps.patch_namespaced_deployment("sel-busy", "llm", {"metadata": {"labels": {"gpufleet.io/managed": None}}})
        apps.patch_namespaced_deployment("sel-busy", "llm", {"spec": {"replicas": 3}})
        h.engine.tick(NOW)
        assert apps.read_namespaced_deployment("sel-busy", "llm").spec.replicas == 3
        assert h.engine.get("llm", "sel-busy") is None and h.engine.refused_scales == 1
        text = httpx.get(f"http://127.0.0.1:{h.http_port}/metrics").text
        assert 'gpufleet_refused_total{reason="outside-selection",where="kubernetes"} 1.0' in text
    finally:
        h.close()


def test_is_active_follows_demand_and_holds_on_missing_data(world: dict[str, Any], tmp_path: Path) -> None:
    apps = world["apps"]
    ann = {"gpufleet.io/policy": "target-tracking", "gpufleet.io/model": "no-such-model"}
    apps.create_namespaced_deployment("llm", deployment("llm", "act-asleep", 0, {"gpufleet.io/managed": "act"}, ann))
    h = make_hook(world, tmp_path / "store", "act")
    h.start(loop=False)
    try:
        stub = pb_grpc.ExternalScalerStub(grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}"))

        def active(name: str) -> bool:
            return bool(stub.IsActive(ref(f"act-{name}", "llm"), metadata=MD, timeout=10).result)

        h.engine.tick(NOW)
        assert active("busy") is True
        assert active("idle") is False, "no demand: inactive, so KEDA can scale it to zero"
        asleep = h.engine.get("llm", "act-asleep")
        assert asleep is not None and asleep.last is not None and asleep.last.status == "stale"
        assert active("asleep") is False, "no telemetry and no replicas: not woken up on missing data"
        # an hour after the replay ended: telemetry is stale for all; nothing changes on missing data
        h.engine.tick(EPOCH + 600 + 3600)
        assert h.engine.get("llm", "act-idle").last.status == "stale"  # type: ignore[union-attr]
        assert active("busy") is True
        assert active("idle") is True, "its replicas still run: never scaled to zero because data is missing"
        assert active("asleep") is False
    finally:
        h.close()


def test_streams_are_capped_and_get_metrics_always_answers(world: dict[str, Any], tmp_path: Path) -> None:
    h = make_hook(world, tmp_path / "store", "streams", max_streams=16)
    h.start(loop=False)
    try:
        h.engine.tick(NOW)
        ch = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
        stub = pb_grpc.ExternalScalerStub(ch)
        r = ref("streams-busy", "llm")
        opened, refused, lock = [], [], threading.Lock()

        def open_one() -> None:
            s = stub.StreamIsActive(r, metadata=MD)
            try:
                next(s)  # the first answer; then the stream stays open and idle
                with lock:
                    opened.append(s)
            except grpc.RpcError as e:
                with lock:
                    refused.append(e.code())

        threads = [threading.Thread(target=open_one) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(opened) == 16 and refused == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 8
        # 16 idle streams open (the old 16-thread server answered DEADLINE_EXCEEDED from here on)
        req = pb.GetMetricsRequest(scaledObjectRef=r)
        answers = [stub.GetMetrics(req, metadata=MD, timeout=5).metricValues[0].metricValue for _ in range(20)]
        assert all(a > 0 for a in answers)
        for s in opened:
            s.cancel()
        wait_for(lambda: h._grpc.scaler.streams == 0, 30, "the cancelled streams to close")
        ch.close()
    finally:
        h.close()


def test_mutual_tls_as_keda_sends_it(world: dict[str, Any], tmp_path: Path) -> None:
    pem = certificates(tmp_path)
    h = make_hook(
        world,
        tmp_path / "store",
        "mtls",
        tls_cert=str(pem["server_cert"]),
        tls_key=str(pem["server_key"]),
        client_ca=str(pem["ca"]),
        client_names=["keda-operator"],
    )
    h.start(loop=False)
    try:
        h.engine.tick(NOW)
        ca = pem["ca"].read_bytes()

        def call(client: str | None, md: tuple[tuple[str, str], ...] = ()) -> Any:
            creds = grpc.ssl_channel_credentials(
                root_certificates=ca,
                private_key=pem[f"{client}_key"].read_bytes() if client else None,
                certificate_chain=pem[f"{client}_cert"].read_bytes() if client else None,
            )
            with grpc.secure_channel(f"localhost:{h.grpc_port}", creds) as ch:
                return pb_grpc.ExternalScalerStub(ch).IsActive(ref("mtls-busy", "llm"), metadata=md, timeout=10)

        assert call("keda").result is True, "KEDA's certificate: no token needed"
        assert code(lambda: call(None)) == grpc.StatusCode.UNAVAILABLE, "no certificate: the handshake refuses"
        assert code(lambda: call(None, MD)) == grpc.StatusCode.UNAVAILABLE, "a token does not replace it"
        assert code(lambda: call("rogue")) == grpc.StatusCode.UNAVAILABLE, "another CA's certificate"
        assert code(lambda: call("other")) == grpc.StatusCode.PERMISSION_DENIED, "the CA's, but not an allowed name"
        assert (
            code(
                lambda: pb_grpc.ExternalScalerStub(grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")).IsActive(
                    ref("mtls-busy", "llm"), metadata=MD, timeout=10
                )
            )
            == grpc.StatusCode.UNAVAILABLE
        ), "plaintext is not served"
    finally:
        h.close()
