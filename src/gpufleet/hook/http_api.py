"""The hook's HTTP API (FastAPI on uvicorn). Health and metrics are open (kubelet probes, Prometheus);
everything under /v1 needs `Authorization: Bearer <token>`. Inputs are pydantic models that refuse unknown
fields; a bad request gets a 4xx that says which field is wrong; bodies over `listen.max_body_bytes` are
refused before they are read. The OpenAPI schema is at /openapi.json.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.hook.engine import Engine
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails

WHAT_IF_MAX_S = 6 * 3600  # bounded work per request
WHAT_IF_MAX_REQUESTS = 200_000


class WhatIf(BaseModel):
    """Replay the workload's recent arrivals through the serving simulator under its current policy and a
    proposed one, and compare."""

    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    workload: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    policy: str = Field(description="autoscaler to try", max_length=64)
    settings: dict[str, float] = Field(default_factory=dict, max_length=16)
    guardrails: Guardrails | None = None
    slo: str = Field("ttft_p99<=2", max_length=64)


class Guard:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request): refuses bodies over
    `max_body` bytes (413) and bodies without a length (411) before reading them, and times each request."""

    def __init__(self, app: Any, max_body: int, observe: Any) -> None:
        self.app, self.max_body, self.observe = app, max_body, observe

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = dict(scope["headers"]).get(b"content-length")
        problem = None
        if size is not None and (not size.isdigit() or int(size) > self.max_body):
            problem = (413, f"request body over {self.max_body} bytes")
        elif scope["method"] in ("POST", "PUT", "PATCH") and size is None:
            problem = (411, "a Content-Length header is required")
        if problem is not None:
            await JSONResponse({"detail": problem[1]}, status_code=problem[0])(scope, receive, send)
            return
        began = time.perf_counter()
        await self.app(scope, receive, send)
        route = scope.get("route")
        self.observe("http " + (getattr(route, "path", None) or "unmatched"), time.perf_counter() - began)


def make_app(engine: Engine, token: str, *, max_body: int, metrics: Any, what_if: Any) -> FastAPI:
    app = FastAPI(title="gpufleet hook", version="1", description=__doc__)

    app.add_middleware(Guard, max_body=max_body, observe=metrics.observe)

    async def auth(request: Request) -> None:
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        reasons = []
        if engine.ticks == 0:
            reasons.append("no decision yet")
        for rt in list(engine.workloads.values()):
            if rt.last is not None and rt.last.status != "ok":
                reasons.append(f"{rt.cfg.key}: {rt.last.status}: {rt.last.reason}")
        body = {"status": "degraded" if reasons else "ready", "reasons": reasons, "workloads": len(engine.workloads)}
        return JSONResponse(body, status_code=503 if reasons else 200)

    @app.get("/metrics")
    async def prom_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/workloads", dependencies=[Depends(auth)])
    async def workloads() -> dict[str, Any]:
        out = []
        for rt in list(engine.workloads.values()):
            d = rt.last
            out.append(
                {
                    "namespace": rt.cfg.namespace,
                    "name": rt.cfg.name,
                    "kind": rt.cfg.kind,
                    "policy": rt.cfg.policy,
                    "capacity_per_replica": rt.capacity,
                    "desired_replicas": d.desired_replicas if d else None,
                    "status": d.status if d else "no decision yet",
                }
            )
        return {"workloads": out}

    @app.get("/v1/workloads/{namespace}/{name}/decision", dependencies=[Depends(auth)])
    async def decision(namespace: str, name: str) -> dict[str, Any]:
        rt = engine.get(namespace, name)
        if rt is None:
            raise HTTPException(404, f"unknown workload {namespace}/{name}")
        if rt.last is None:
            raise HTTPException(404, f"{namespace}/{name}: no decision yet")
        out = rt.last.public()
        out["last_good"] = rt.last_good.public() if rt.last_good else None
        out["guardrails"] = rt.cfg.guardrails.model_dump()
        return out

    @app.get("/v1/recommendations", dependencies=[Depends(auth)])
    def recommendations() -> dict[str, Any]:
        return metrics.recommendations()

    @app.post("/v1/what-if", dependencies=[Depends(auth)])
    def what_if_ep(body: WhatIf) -> dict[str, Any]:
        if body.policy not in AUTOSCALERS.names() or body.policy == "oracle":
            raise HTTPException(422, f"policy: unknown or offline-only {body.policy!r}")
        rt = engine.get(body.namespace, body.workload)
        if rt is None:
            raise HTTPException(404, f"unknown workload {body.namespace}/{body.workload}")
        try:
            return what_if(rt, body)
        except ValueError as e:
            raise HTTPException(422, str(e).splitlines()[0]) from None

    return app


def finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
