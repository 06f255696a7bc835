"""End to end: the offline serving simulator's per-second demand on azure-llm:conv, written as vLLM and
gateway metrics into a real Prometheus; the live hook reads it (PrometheusTelemetry), reads the fleet from a
Kubernetes API (kmock's emulator, official client) where the test sets the replicas the simulator had, and
decides at the simulator's decision times. KEDA's GetMetrics over real gRPC, put through KEDA's and the HPA's
arithmetic, must give exactly the replicas the simulator chose with the same policy."""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest
from tests.collector.prom import backfill, need_prometheus, prometheus
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator

from gpufleet.collector.openmetrics import write_serving_openmetrics
from gpufleet.hook.config import HookConfig
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc
from gpufleet.hook.serve import Hook
from gpufleet.sim.serving import DEFAULT_COLD_START_S, ServingConfig, simulate_serving

pytestmark = [pytest.mark.integration, pytest.mark.traces]
EPOCH = 1_700_000_040  # a whole minute: the forecaster's steps fall where the simulator's do
UNTIL_S = 1800  # the first half hour of decisions


def hpa_replicas(metric: pb.MetricValue, spec: pb.MetricSpec) -> int:
    """KEDA: the float when not zero, to milli-units by truncation; HPA AverageValue: ceil(value / target)."""
    value = int((metric.metricValueFloat or metric.metricValue) * 1000)
    target = int((spec.targetSizeFloat or spec.targetSize) * 1000)
    return math.ceil(value / target)


@pytest.mark.parametrize("policy", ["target-tracking", "predictive"])
def test_get_metrics_gives_the_simulators_replicas(policy: str, tmp_path: Path, data_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    need_prometheus()
    from gpufleet.traces import load

    reqs = load("azure-llm:conv", data_dir).frame
    res = simulate_serving(reqs, ServingConfig(policy=policy))
    _live_equals_replay(
        res, f"conv-{policy.split('-')[0]}", policy, {"slots_per_replica": 8}, UNTIL_S, tmp_path, monkeypatch
    )


@pytest.mark.parametrize("policy", ["target-tracking"])
def test_diffusion_profile_live_gives_the_simulators_replicas(  # type: ignore[no-untyped-def]
    policy: str, tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    """The diffusion profile live: hook.yaml names `profile: diffusion` (no slots_per_replica), the hook takes
    one request per replica from the work model, and the same policy object decides as in the replay of the
    first three hours of genai:requests (40 requests, the fitted service times)."""
    need_prometheus()
    import polars as pl

    from gpufleet.traces import load

    reqs = load("genai:requests", data_dir).frame
    reqs = reqs.filter(pl.col("arrival_time") < reqs["arrival_time"].min() + 3 * 3600)
    res = simulate_serving(reqs, ServingConfig(policy=policy, profile="diffusion", slo="e2e_p99<=150"))
    _live_equals_replay(
        res, f"sd-{policy.split('-')[0]}", policy, {"profile": "diffusion"}, 3 * 3600, tmp_path, monkeypatch
    )


def _live_equals_replay(res, name: str, policy: str, sizing: dict, until_s: int, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The live hook, fed the replay's metrics through Prometheus, decides what the replay decided until `until_s`."""
    assert res.decisions is not None and res.per_second is not None
    until_s = min(until_s, int(res.per_second["t"].max()))  # decisions after the last metric see no telemetry
    om = tmp_path / "serving.om"
    write_serving_openmetrics(res.per_second, res.requests, om, epoch_s=EPOCH, namespace="llm", model=name)
    backfill(om, tmp_path / "tsdb")
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    with prometheus(tmp_path / "tsdb") as prom_url, kube_emulator() as kube_url:
        apps = apps_api(kube_url)
        apps.create_namespaced_deployment("llm", deployment("llm", name, 4, {"gpufleet.io/managed": "true"}))
        cfg = HookConfig.model_validate(
            {
                "listen": {"http_port": 0, "grpc_port": 0},
                "auth": {"token_env": "HOOK_TOKEN"},
                "store": str(tmp_path / "hook-store"),
                "telemetry": {"url": prom_url, "stale_after": 30},
                "kubernetes": {"host": kube_url},
                "workloads": [
                    {
                        "namespace": "llm",
                        "name": name,
                        "policy": policy,
                        **sizing,
                        "cold_start_s": DEFAULT_COLD_START_S,
                        "arrivals": f'gateway_requests_total{{namespace="llm",service="{name}"}}',
                    }
                ],
            }
        )
        hook = Hook(cfg)
        hook.start(loop=False)
        try:
            channel = grpc.insecure_channel(f"127.0.0.1:{hook.grpc_port}")
            stub = pb_grpc.ExternalScalerStub(channel)
            ref = pb.ScaledObjectRef(name=name, namespace="llm", scalerMetadata={"workload": name})
            md = (("authorization", "Bearer s3cret"),)
            spec = stub.GetMetricSpec(ref, metadata=md).metricSpecs[0]
            compared = 0
            for t, ready, starting, service_s, desired in res.decisions.iter_rows():
                if t > until_s:
                    break
                # the fleet the simulator had at t, as the cluster shows it
                apps.patch_namespaced_deployment(name, "llm", {"spec": {"replicas": ready + starting}})
                apps.patch_namespaced_deployment_status(name, "llm", {"status": {"readyReplicas": ready}})
                (d,) = hook.engine.tick(EPOCH + t)
                assert d.status == "ok", d.reason
                assert abs(d.service_s - service_s) < 1e-9 * max(1.0, service_s), t
                got = stub.GetMetrics(
                    pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName), metadata=md
                )
                assert hpa_replicas(got.metricValues[0], spec) == desired == d.desired_replicas, (t, d.reason)
                compared += 1
            # every 15 s decision, but those the replay skipped on an idle fleet (quiet_until: the diffusion
            # fleet is idle for most of its first hours)
            assert compared >= (until_s // 15 - 1 if "profile" not in sizing else until_s // 60)
            if "profile" in sizing:  # the work model's capacity, not the LLM default of 8
                assert hook.engine.workloads[f"llm/{name}"].cfg.slots_per_replica == 1
            channel.close()
        finally:
            hook.close()
    # every decision was recorded with its inputs
    from gpufleet.collector.store import Store

    rec = Store(tmp_path / "hook-store").read("DECISIONS")
    assert rec.height == compared and rec["reason"].null_count() == 0
