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
from tests.collector.prom import backfill, free_port, need_prometheus, prometheus
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator
from tests.hook.live import sample

from gpufleet.collector.openmetrics import write_serving_openmetrics
from gpufleet.hook import conditions
from gpufleet.hook.config import HookConfig
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc
from gpufleet.hook.serve import Hook
from gpufleet.sim.serving import ServingConfig, simulate_serving
from gpufleet.testing.net import stop_process, wait_http

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
    h = Hook(config(world, tmp_path / "store"), clock=lambda: EPOCH + 3000.0)
    h.start(loop=False)
    assert sorted(h.stragglers()) == ["grpc", "http"], "serving: its threads run"
    yield h
    h.close()
    assert h.stragglers() == [], "a clean stop leaves no thread running (else `hook serve` exits hard)"


def test_http_api_auth_validation_and_answers(hook: Hook) -> None:
    hook.engine.tick(EPOCH + 900)
    base = f"http://127.0.0.1:{hook.http_port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        hook.engine.last_tick_at -= 3600  # type: ignore[operator]  # as if the loop had hung for an hour
        stalled = c.get("/readyz")  # the held decisions are still served: visible, but still ready
        assert stalled.status_code == 200, stalled.text
        assert stalled.json() == {"status": "stalled", "workloads": 1, "stale": 0, "error": 0, "loop": "Stalled"}
        loop = c.get("/v1/workloads", headers=auth).json()["conditions"][0]
        assert loop["type"] == "DecisionLoopRunning" and loop["status"] == "False" and loop["reason"] == "Stalled"
        hook.engine.tick(EPOCH + 900)
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
        chunked = c.post("/v1/what-if", headers=auth, content=(b for b in [b"{}"]))  # chunked, no length
        assert chunked.status_code == 400 and "Transfer-Encoding" in chunked.text
        wi = c.post(
            "/v1/what-if",
            headers=auth,
            json={"namespace": "llm", "workload": NAME, "policy": "kpa"},
        )
        assert wi.status_code == 200, wi.text
        body = wi.json()
        assert body["current"]["policy"] == "target-tracking" and body["proposed"]["policy"] == "kpa"
        assert body["requests"] > 1000 and body["current"]["gpu_hours"] > 0
        assert c.get("/openapi.json").status_code == 401, "nothing but the probes (and metrics) without the token"
        assert "/v1/what-if" in c.get("/openapi.json", headers=auth).json()["paths"]


def test_grpc_errors_streams_and_workloads_selected_by_metadata(hook: Hook) -> None:
    md = (("authorization", f"Bearer {TOKEN}"),)
    ch = grpc.insecure_channel(f"127.0.0.1:{hook.grpc_port}")
    stub = pb_grpc.ExternalScalerStub(ch)
    ref = pb.ScaledObjectRef(name="so-conv-2", namespace="llm", scalerMetadata={"workload": NAME, "policy": "kpa"})
    with pytest.raises(grpc.RpcError) as e:
        stub.IsActive(ref, metadata=md)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, "no decision yet: no guess"
    hook.engine.tick(EPOCH + 900)
    with pytest.raises(grpc.RpcError) as e:
        stub.GetMetricSpec(pb.ScaledObjectRef(name="unknown", namespace="llm"), metadata=md)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        stub.IsActive(pb.ScaledObjectRef(name="Bad_Name!", namespace="llm"), metadata=md)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # the metadata selects the configured workload (its policy stays the configured one)
    assert stub.IsActive(ref, metadata=md).result is True
    spec = stub.GetMetricSpec(ref, metadata=md).metricSpecs[0]
    value = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName), metadata=md)
    d = hook.engine.get("llm", NAME).last  # type: ignore[union-attr]
    assert int(value.metricValues[0].metricValueFloat * 1000) == d.desired_replicas * int(spec.targetSizeFloat * 1000)
    assert value.metricValues[0].metricValue > 0 and spec.targetSize > 0, "int fields filled too"
    assert hook.engine.get("llm", NAME).cfg.policy == "target-tracking"  # type: ignore[union-attr]
    stream = stub.StreamIsActive(ref, metadata=md)
    assert next(stream).result is True
    stream.cancel()
    ch.close()


def test_stale_and_down_telemetry_fall_back_then_restart_restores(world: dict[str, Any], tmp_path: Path) -> None:
    store = tmp_path / "store"
    h = Hook(config(world, store))
    h.start(loop=False)
    try:
        (good,) = h.engine.tick(EPOCH + 1200)
        assert good.status == "ok"
        (stale,) = h.engine.tick(EPOCH + 3514 + 600)  # ten minutes after the replay's last sample
        assert stale.status == "stale" and stale.desired_replicas == good.desired_replicas
        assert "keeping the last good decision" in stale.reason
        # still ready: the held decision is what KEDA should get; the stale workload is counted
        r = httpx.get(f"http://127.0.0.1:{h.http_port}/readyz")
        body = {"status": "degraded", "workloads": 1, "stale": 1, "error": 0, "loop": "Running"}
        assert r.status_code == 200 and r.json() == body
        text = httpx.get(f"http://127.0.0.1:{h.http_port}/metrics").text
        wl = {"namespace": "llm", "workload": NAME}
        assert sample(text, "gpufleet_telemetry_stale", **wl) == 1.0
        assert sample(text, "gpufleet_fallback_engaged", **wl) == 1.0
        assert sample(text, "gpufleet_actual_replicas", **wl) == 6.0  # the emulator's Deployment
        assert sample(text, "gpufleet_decisions_total", **wl, status="ok") == 1.0
        assert sample(text, "gpufleet_decisions_total", **wl, status="stale") == 1.0
        assert sample(text, "gpufleet_decisions_total", **wl, status="error") is None
    finally:
        h.close()
    # Prometheus unreachable, a fresh hook on the same store: the recorded decision is the answer
    cfg = config(world, store)
    cfg.telemetry.url = f"http://127.0.0.1:{free_port()}"
    h2 = Hook(cfg)
    h2.start(loop=False)
    try:
        rt = h2.engine.get("llm", NAME)
        assert rt is not None and rt.last_good is not None and rt.last_good.desired_replicas == good.desired_replicas
        assert rt.last is not None and rt.last.decision_id == stale.decision_id, "the id comes back from the store"
        # no round yet, but decisions to serve: ready, and the restored answer is a fallback
        r = httpx.get(f"http://127.0.0.1:{h2.http_port}/readyz")
        assert r.status_code == 200 and r.json()["loop"] == "NotStarted", r.text
        text = httpx.get(f"http://127.0.0.1:{h2.http_port}/metrics").text
        assert sample(text, "gpufleet_fallback_engaged", **wl) == 1.0
        assert "gpufleet_loop_last_tick_timestamp_seconds" not in text, "no round has finished"
        (down,) = h2.engine.tick(EPOCH + 1300)
        assert down.status == "error" and "telemetry unavailable" in down.reason
        assert down.desired_replicas == good.desired_replicas
        (cond,) = [c for c in conditions.workload(rt) if c["type"] == "TelemetryFresh"]
        assert cond["status"] == "False" and cond["reason"] == "TelemetryUnavailable"
    finally:
        h2.close()


def test_a_fresh_hook_without_history_keeps_the_current_replicas(world: dict[str, Any], tmp_path: Path) -> None:
    cfg = config(world, tmp_path / "store")
    cfg.telemetry.url = f"http://127.0.0.1:{free_port()}"
    h = Hook(cfg)
    (d,) = h.engine.tick(EPOCH + 100)
    assert d.status == "error" and d.desired_replicas == 6 and "keeping the current replicas" in d.reason


def test_discovery_filters_labels_and_reads_annotations(
    world: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    apps = world["apps"]
    ann = {"gpufleet.io/policy": "kpa", "gpufleet.io/min-replicas": "2", "gpufleet.io/model": "m7"}
    apps.create_namespaced_deployment("team-a", deployment("team-a", "chat", 2, {"gpufleet.io/managed": "true"}, ann))
    apps.create_namespaced_deployment("team-a", deployment("team-a", "not-ours", 2, {"app": "x"}))
    bad = {"gpufleet.io/policy": "no-such-policy"}
    apps.create_namespaced_deployment("team-a", deployment("team-a", "broken", 1, {"gpufleet.io/managed": "true"}, bad))
    h = Hook(config(world, tmp_path / "store"))
    assert h.discover() >= 1
    logs = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    chat = h.engine.get("team-a", "chat")
    assert chat is not None and chat.cfg.policy == "kpa" and chat.cfg.model == "m7"
    assert chat.cfg.guardrails.min_replicas == 2
    assert h.engine.get("team-a", "not-ours") is None, "the emulator ignores selectors; the hook does not"
    assert h.engine.get("team-a", "broken") is None and any("team-a/broken: skipped" in x for x in logs)


def test_apply_patches_scale_and_dry_run_does_not(world: dict[str, Any], tmp_path: Path) -> None:
    apps = world["apps"]
    apps.create_namespaced_deployment("llm", deployment("llm", "applied", 1, {}))
    for apply in (False, True):
        cfg = config(world, tmp_path / f"store-{apply}", apply=apply)
        cfg.workloads[0].name = "applied"
        cfg.workloads[0].model = NAME
        h = Hook(cfg)
        (d,) = h.engine.tick(EPOCH + 1200)
        assert d.status == "ok" and d.desired_replicas > 1
        now = apps.read_namespaced_deployment("applied", "llm").spec.replicas
        if apply:
            assert now == d.desired_replicas
        else:
            assert now == 1 and h.kube.intended == [("llm/applied", 1, d.desired_replicas)]
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_recommendations_rightsizing_from_a_store_and_packing_from_the_cluster(
    world: dict[str, Any], tmp_path: Path
) -> None:
    from kubernetes import client

    from gpufleet.collector.store import Store
    from gpufleet.traces import load

    store = Store(tmp_path / "collector")
    samples = load("synthetic:gpu-samples", n_gpus=16, hours=6, interval_s=60).frame
    store.append("GPU_SAMPLES", "prometheus", samples, ["gpu_uuid", "pod"])
    conf = client.Configuration()
    conf.host = world["kube"]
    core = client.CoreV1Api(client.ApiClient(conf))
    for i in range(4):
        core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(name=f"gpu-{i}", labels={"nvidia.com/gpu.product": "A100-SXM4-80GB"}),
                status=client.V1NodeStatus(allocatable={"nvidia.com/gpu": "8", "cpu": "96", "memory": "1Ti"}),
            )
        )
    for i, (node, gpus) in enumerate([("gpu-0", 2), ("gpu-1", 2), ("gpu-2", 2), ("gpu-3", 2), ("gpu-0", 4)]):
        res = client.V1ResourceRequirements(
            requests={"cpu": "4", "memory": "16Gi"}, limits={"nvidia.com/gpu": str(gpus)}
        )
        core.create_namespaced_pod(
            "train",
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=f"job-{i}", namespace="train"),
                spec=client.V1PodSpec(
                    node_name=node, containers=[client.V1Container(name="main", image="x", resources=res)]
                ),
                status=client.V1PodStatus(phase="Running"),
            ),
        )
    cfg = config(world, tmp_path / "hook-store")
    cfg.recommend_from = tmp_path / "collector"
    h = Hook(cfg, clock=lambda: EPOCH + 3000.0)
    h.start(loop=False)
    try:
        r = httpx.get(
            f"http://127.0.0.1:{h.http_port}/v1/recommendations",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["recommendations"]) > 0 and body["notes"]["workloads"] > 0
        assert body["packing"]["nodes_freed"] == 2 and body["packing"]["gpus_freed"] == 16
        assert body["packing"]["now"]["stranded_gpus"] == 20
        text = httpx.get(f"http://127.0.0.1:{h.http_port}/metrics").text
        assert "gpufleet_recommendation_savings_gpus{" in text
    finally:
        h.close()


def test_scaled_objects_are_discovered(world: dict[str, Any], tmp_path: Path) -> None:
    from kubernetes import client

    conf = client.Configuration()
    conf.host = world["kube"]
    custom = client.CustomObjectsApi(client.ApiClient(conf))
    so = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "so-summarize", "namespace": "team-b"},
        "spec": {
            "scaleTargetRef": {"name": "summarize"},
            "minReplicaCount": 3,
            "maxReplicaCount": 30,
            "triggers": [
                {"type": "external", "metadata": {"scalerAddress": "gpufleet-hook:9090", "policy": "predictive"}},
                {"type": "prometheus", "metadata": {"query": "x", "threshold": "5"}},
            ],
        },
    }
    custom.create_namespaced_custom_object("keda.sh", "v1alpha1", "team-b", "scaledobjects", so)
    h = Hook(config(world, tmp_path / "store"))
    h.discover()
    rt = h.engine.get("team-b", "summarize")
    assert rt is not None and rt.cfg.policy == "predictive"
    assert (rt.cfg.guardrails.min_replicas, rt.cfg.guardrails.max_replicas) == (3, 30)


def test_tls_for_http_and_grpc(world: dict[str, Any], tmp_path: Path) -> None:
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: cannot make a test certificate")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    cfg = config(world, tmp_path / "store")
    cfg.listen.tls_cert, cfg.listen.tls_key = cert, key
    h = Hook(cfg)
    h.start(loop=False)
    try:
        import ssl

        ctx = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"https://127.0.0.1:{h.http_port}/healthz", verify=ctx).status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{h.http_port}/healthz", timeout=3)  # plain HTTP is not served
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        ch = grpc.secure_channel(f"localhost:{h.grpc_port}", creds)
        stub = pb_grpc.ExternalScalerStub(ch)
        ref = pb.ScaledObjectRef(name=NAME, namespace="llm")
        h.engine.tick(EPOCH + 900)
        md = (("authorization", f"Bearer {TOKEN}"),)
        assert stub.IsActive(ref, timeout=10, metadata=md).result is True
        with pytest.raises(grpc.RpcError) as e:
            stub.IsActive(ref, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ch.close()
    finally:
        h.close()


def _serve(world: dict[str, Any], tmp_path: Path) -> tuple[Any, Path, int]:
    """`gpufleet hook serve` as a process, serving: (the process, its log, its HTTP port)."""
    import subprocess
    import sys

    http_port = free_port()
    cfg = tmp_path / "hook.yaml"
    cfg.write_text(
        f"listen: {{http_port: {http_port}, grpc_port: 0}}\nauth: {{token_file: {world['root'] / 'token'}}}\n"
        f"telemetry: {{url: '{world['prom']}'}}\nkubernetes: {{enabled: false}}\n"
        f"workloads: [{{namespace: llm, name: {NAME}, policy: kpa}}]\n"
    )
    # its output goes to a file, not a pipe read only at the end (a chatty hook would block on a full pipe)
    log = tmp_path / "hook.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpufleet.cli", "hook", "serve", "--config", str(cfg)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{http_port}/healthz", proc=proc, timeout_s=60, what="the hook")
    except RuntimeError as e:
        stop_process(proc)
        raise AssertionError(f"{e}: {log.read_text()[-2000:]}") from None
    return proc, log, http_port


def _stopped(proc: Any, log: Path, how: str) -> None:
    """Wait for the hook to exit after a SIGTERM; SIGKILL and fail (with its log) when it does not."""
    import subprocess

    # Hook.close joins the gRPC, HTTP and decision threads for up to 10 s each (a tick in progress ends first)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_process(proc, grace_s=0)  # SIGKILL: nothing outlives the test
        raise AssertionError(f"the hook did not stop within 60 s of {how}: {log.read_text()[-2000:]}") from None
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_cli_serves_until_sigterm(world: dict[str, Any], tmp_path: Path) -> None:
    import signal
    import time

    proc, log, http_port = _serve(world, tmp_path)
    try:
        # real time is years after the backfilled replay: the telemetry is stale, the hook says so (and
        # stays ready: it answers with what it holds)
        deadline = time.monotonic() + 60
        while (r := httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=5)).json()["status"] == "starting":
            assert time.monotonic() < deadline, "no first round of decisions"
            time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "degraded" and r.json()["stale"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _stopped(proc, log, "SIGTERM")
    assert "gpufleet hook: 1 workload(s)" in log.read_text()


TGKILL = {"x86_64": 234, "aarch64": 131}  # the tgkill syscall's number (Linux): a signal to one thread


def test_cli_stops_on_a_sigterm_that_lands_on_another_thread(world: dict[str, Any], tmp_path: Path) -> None:
    """The kernel may hand a process's SIGTERM to any of its threads. Sent here to one thread that is not the main
    one (a native gRPC, tokio or polars thread, or a Python one), as tgkill does: the hook still stops. A main
    thread waiting without a timeout never ran the handler: a hook once ignored SIGTERM for 25 minutes."""
    import ctypes
    import os
    import signal

    if TGKILL.get(os.uname().machine) is None or not Path("/proc/self/task").exists():
        pytest.skip(f"tgkill's number is not known here ({os.uname().machine}) or no /proc")
    proc, log, _ = _serve(world, tmp_path)
    try:
        others = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        assert others, "the hook runs threads beside its main one"
        target = others[-1]
        name = Path(f"/proc/{proc.pid}/task/{target}/comm").read_text().strip()
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(TGKILL[os.uname().machine], proc.pid, target, signal.SIGTERM) == 0, ctypes.get_errno()
    except BaseException:
        stop_process(proc)
        raise
    _stopped(proc, log, f"a SIGTERM to its thread {target} ({name})")


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gpufleet.cli import app

    cfg = tmp_path / "hook.yaml"
    cfg.write_text("telemetry: {url: http://x}\n")  # no token configured
    res = CliRunner().invoke(app, ["hook", "serve", "--config", str(cfg)])
    assert res.exit_code == 2 and "auth: give token_file or token_env" in res.output
