"""KEDA external scaler over gRPC (grpcio), on the stubs generated from hook/proto/externalscaler.proto.

KEDA turns a ScaledObject's `external` trigger into an HPA External metric with an AverageValue target:
the HPA runs `ceil(metric / target)` replicas. So `GetMetricSpec` answers the per-replica capacity as the
target and `GetMetrics` answers `desired x capacity`: the HPA's own arithmetic then gives our desired
replicas (paired with a reactive trigger, the HPA takes the larger of the two).

Both the int and the float fields are filled (KEDA reads the float when it is not zero). KEDA turns floats
into milli-units by truncation (`int64(v * 1000)`), so a value is sent as a whole number of milli-units
plus half a milli: truncation then lands exactly on it, and `ceil(desired x c / c)` is `desired` exactly.

The trigger metadata names the workload (`workload`, default: the ScaledObject's name) and may name the
policy (`policy`); a workload the hook does not know yet is added with that policy.
"""

from __future__ import annotations

import math
import time
from concurrent import futures
from typing import Any

import grpc

from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import NAME, WorkloadConfig
from gpufleet.hook.engine import Engine, WorkloadRuntime
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc

MAX_MESSAGE = 64 * 1024  # a ScaledObjectRef is tiny: bounded work per request


def milli(x: float) -> int:
    return round(x * 1000)


def keda_float(m: int) -> float:
    """A float that KEDA's truncating conversion turns back into exactly `m` milli-units."""
    return (m + 0.5) / 1000 if m > 0 else 0.0


def metric_name(namespace: str, name: str) -> str:
    return f"gpufleet-{namespace}-{name}"


class Scaler(pb_grpc.ExternalScalerServicer):
    """Answers from the engine's latest decisions; never runs a policy inside a request."""

    def __init__(self, engine: Engine, stream_period_s: float = 5.0) -> None:
        self.engine, self.stream_period_s = engine, stream_period_s
        self.observe: Any = None  # set by serve(): records per-call latency

    def _runtime(self, ref: Any, context: Any) -> WorkloadRuntime:
        import re

        meta = dict(ref.scalerMetadata)
        name = meta.get("workload") or ref.name
        ns = meta.get("namespace") or ref.namespace
        if not (re.match(NAME, ns or "") and re.match(NAME, name or "")):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"namespace/workload {ns!r}/{name!r} is not a valid name")
        rt = self.engine.get(ns, name)
        if rt is None:
            policy = meta.get("policy")
            if not policy:
                context.abort(grpc.StatusCode.NOT_FOUND, f"{ns}/{name}: unknown workload and no policy in the metadata")
            try:
                return self.engine.add(WorkloadConfig(namespace=ns, name=name, policy=policy, model=meta.get("model")))
            except (ValueError, GpufleetError) as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{ns}/{name}: {str(e).splitlines()[0]}")
        assert rt is not None  # context.abort raised otherwise
        return rt

    def _desired(self, rt: WorkloadRuntime) -> int:
        d = rt.last
        if d is not None:
            return d.desired_replicas
        # no decision yet (just started): the current replicas, never zero
        known = self.engine.kube.replicas(rt.cfg) if self.engine.kube is not None else None
        return max(known[0] if known else 0, rt.cfg.guardrails.min_replicas, 1)

    def IsActive(self, request: Any, context: Any) -> Any:  # gRPC's method names
        rt = self._runtime(request, context)
        return pb.IsActiveResponse(result=self._desired(rt) > 0)

    def StreamIsActive(self, request: Any, context: Any) -> Any:
        rt = self._runtime(request, context)
        last: bool | None = None
        while context.is_active():
            active = self._desired(rt) > 0
            if active != last:
                yield pb.IsActiveResponse(result=active)
                last = active
            time.sleep(self.stream_period_s)

    def GetMetricSpec(self, request: Any, context: Any) -> Any:
        rt = self._runtime(request, context)
        m = max(1, milli(rt.capacity))
        spec = pb.MetricSpec(
            metricName=metric_name(rt.cfg.namespace, rt.cfg.name),
            targetSize=max(1, math.ceil(m / 1000)),
            targetSizeFloat=keda_float(m),
        )
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    def GetMetrics(self, request: Any, context: Any) -> Any:
        began = time.perf_counter()
        rt = self._runtime(request.scaledObjectRef, context)
        m = max(1, milli(rt.capacity)) * self._desired(rt)
        value = pb.MetricValue(
            metricName=request.metricName or metric_name(rt.cfg.namespace, rt.cfg.name),
            metricValue=math.ceil(m / 1000),
            metricValueFloat=keda_float(m),
        )
        if self.observe is not None:
            self.observe("grpc_get_metrics", time.perf_counter() - began)
        return pb.GetMetricsResponse(metricValues=[value])


def serve_grpc(
    scaler: Scaler, host: str, port: int, tls: tuple[bytes, bytes] | None = None, workers: int = 16
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the port it listens on."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
        maximum_concurrent_rpcs=workers * 8,
    )
    pb_grpc.add_ExternalScalerServicer_to_server(scaler, server)
    addr = f"{host}:{port}"
    if tls is not None:
        creds = grpc.ssl_server_credentials([(tls[1], tls[0])])  # (key, cert)
        bound = server.add_secure_port(addr, creds)
    else:
        bound = server.add_insecure_port(addr)
    if bound == 0:
        raise GpufleetError(f"gRPC: cannot listen on {addr}")
    server.start()
    return server, bound
