"""KEDA external scaler over gRPC (grpcio's asyncio server), on the stubs generated from
hook/proto/externalscaler.proto.

KEDA turns a ScaledObject's `external` trigger into an HPA External metric with an AverageValue target:
the HPA runs `ceil(metric / target)` replicas. So `GetMetricSpec` answers the per-replica capacity as the
target and `GetMetrics` answers `desired x capacity`: the HPA's own arithmetic then gives our desired
replicas (paired with a reactive trigger, the HPA takes the larger of the two).

Both the int and the float fields are filled (KEDA reads the float when it is not zero). KEDA turns floats
into milli-units by truncation (`int64(v * 1000)`), so a value is sent as a whole number of milli-units
plus half a milli: truncation then lands exactly on it, and `ceil(desired x c / c)` is `desired` exactly.

Every call is authenticated first (hook/grpc_auth.py). The request then only SELECTS a workload that
hook.yaml or the cluster declared (`workload` in the trigger metadata, default the ScaledObject's name, in
the ScaledObject's namespace); it never adds one. Answers come from the decision loop's latest decisions:
no request runs a policy or calls the Kubernetes API, and with no decision yet the answer is UNAVAILABLE
(KEDA's failure handling and `fallback`, never a guess). On the asyncio server an open StreamIsActive holds
no thread, the number of open streams is capped (RESOURCE_EXHAUSTED past it) and unary calls have a
deadline, so GetMetrics answers whatever streams are open.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import NAME
from gpufleet.hook.engine import Engine, WorkloadRuntime
from gpufleet.hook.proto import externalscaler_pb2 as pb
from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc

MAX_MESSAGE = 64 * 1024  # a ScaledObjectRef is tiny: bounded work per request
_NAME = re.compile(NAME)


def milli(x: float) -> int:
    return round(x * 1000)


def keda_float(m: int) -> float:
    """A float that KEDA's truncating conversion turns back into exactly `m` milli-units."""
    return (m + 0.5) / 1000 if m > 0 else 0.0


def metric_name(namespace: str, name: str) -> str:
    return f"gpufleet-{namespace}-{name}"


class Scaler(pb_grpc.ExternalScalerServicer):
    """Answers from the engine's latest decisions; never runs a policy inside a request."""

    def __init__(
        self,
        engine: Engine,
        *,
        stream_period_s: float = 5.0,
        max_streams: int = 64,
        call_timeout_s: float = 5.0,
        missing: Callable[[], None] | None = None,
    ) -> None:
        self.engine, self.stream_period_s = engine, stream_period_s
        self.max_streams, self.call_timeout_s = max_streams, call_timeout_s
        self.missing = missing  # told when a request names an unknown workload (discovery may look early)
        self.streams = 0  # open StreamIsActive calls (all on the server's one event loop: no lock needed)
        self.observe: Any = None  # set by serve(): records per-call latency

    async def _runtime(self, ref: Any, context: Any) -> WorkloadRuntime:
        meta = dict(ref.scalerMetadata)
        name = meta.get("workload") or ref.name
        ns = ref.namespace or meta.get("namespace") or ""
        if ref.namespace and meta.get("namespace") not in (None, "", ref.namespace):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "scalerMetadata.namespace must be the ScaledObject's namespace"
            )
        if not (_NAME.match(ns) and _NAME.match(name or "")) or len(ns) > 253 or len(name) > 253:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{ns[:64]!r}/{name[:64]!r} is not a valid name")
        rt = self.engine.get(ns, name)
        if rt is None:
            if self.missing is not None:
                self.missing()
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"{ns}/{name}: not a workload of this hook (declare it in hook.yaml, with the gpufleet.io/managed "
                "label, or with a ScaledObject whose trigger names a policy)",
            )
        assert rt is not None  # context.abort raised otherwise
        return rt

    async def _decided(self, rt: WorkloadRuntime, context: Any) -> int:
        if rt.last is None:  # just started and nothing recorded: no guess
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{rt.cfg.key}: no decision yet")
        assert rt.last is not None
        return rt.last.desired_replicas

    async def _bounded(self, work: Any, context: Any) -> Any:
        try:
            return await asyncio.wait_for(work, self.call_timeout_s)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer within {self.call_timeout_s:g} s")

    async def IsActive(self, request: Any, context: Any) -> Any:  # gRPC's method names
        async def work() -> Any:
            rt = await self._runtime(request, context)
            await self._decided(rt, context)
            return pb.IsActiveResponse(result=rt.active())

        return await self._bounded(work(), context)

    async def StreamIsActive(self, request: Any, context: Any) -> AsyncIterator[Any]:
        if self.streams >= self.max_streams:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{self.max_streams} streams already open")
        rt = await self._runtime(request, context)
        self.streams += 1
        try:
            last: bool | None = None
            while self.engine.workloads.get(rt.cfg.key) is rt:  # ends when the workload is no longer declared
                if rt.last is not None:
                    active = rt.active()
                    if active != last:
                        yield pb.IsActiveResponse(result=active)
                        last = active
                await asyncio.sleep(self.stream_period_s)
        finally:
            self.streams -= 1

    async def GetMetricSpec(self, request: Any, context: Any) -> Any:
        async def work() -> Any:
            rt = await self._runtime(request, context)
            m = max(1, milli(rt.capacity))
            spec = pb.MetricSpec(
                metricName=metric_name(rt.cfg.namespace, rt.cfg.name),
                targetSize=max(1, math.ceil(m / 1000)),
                targetSizeFloat=keda_float(m),
            )
            return pb.GetMetricSpecResponse(metricSpecs=[spec])

        return await self._bounded(work(), context)

    async def GetMetrics(self, request: Any, context: Any) -> Any:
        began = time.perf_counter()

        async def work() -> Any:
            rt = await self._runtime(request.scaledObjectRef, context)
            m = max(1, milli(rt.capacity)) * await self._decided(rt, context)
            value = pb.MetricValue(
                metricName=metric_name(rt.cfg.namespace, rt.cfg.name),
                metricValue=math.ceil(m / 1000),
                metricValueFloat=keda_float(m),
            )
            return pb.GetMetricsResponse(metricValues=[value])

        out = await self._bounded(work(), context)
        if self.observe is not None:
            self.observe("grpc_get_metrics", time.perf_counter() - began)
        return out


class GrpcServer:
    """The asyncio gRPC server on its own event loop in a background thread (the rest of the hook is threads)."""

    def __init__(
        self,
        scaler: Scaler,
        host: str,
        port: int,
        *,
        credentials: grpc.ServerCredentials | None,
        interceptors: list[Any],
    ) -> None:
        self.scaler, self.addr, self.credentials, self.interceptors = (
            scaler,
            f"{host}:{port}",
            credentials,
            interceptors,
        )
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="grpc")

    def start(self) -> int:
        """Listen; returns the bound port (GpufleetError when it cannot)."""
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self.port:
            raise GpufleetError(f"gRPC: cannot listen on {self.addr} ({self._error or 'no port'})")
        return self.port

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = grpc.aio.server(
            interceptors=self.interceptors,
            options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
            # streams are capped by the scaler; the rest of the room is for unary calls
            maximum_concurrent_rpcs=self.scaler.max_streams + 512,
        )
        pb_grpc.add_ExternalScalerServicer_to_server(self.scaler, server)
        if self.credentials is not None:
            self.port = server.add_secure_port(self.addr, self.credentials)
        else:
            self.port = server.add_insecure_port(self.addr)
        await server.start()
        self._ready.set()
        await self._stop.wait()
        await server.stop(grace=1.0)

    @property
    def running(self) -> bool:
        """Whether its thread is still alive (after `stop`: it did not stop within the join)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving (open streams are cancelled) and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
