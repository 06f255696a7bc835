"""The hook's HTTP API (FastAPI on uvicorn). `/healthz` and `/readyz` are open (kubelet probes), `/metrics`
too unless `auth.open_metrics` is false; everything else (the /v1 API, the OpenAPI schema, unknown paths)
needs `Authorization: Bearer <token>`.

The guard (a plain ASGI middleware, before FastAPI) checks the token from the headers BEFORE any byte of
the body is read, so an unauthenticated client costs a header parse, whatever it sends after. Then it
refuses what could make the server read more than `listen.max_body_bytes`: a Transfer-Encoding (chunked
bodies have no length to check; with a Content-Length as well it is a smuggling attempt), a missing,
repeated or malformed Content-Length, or one over the limit; then it reads at most Content-Length bytes
itself and hands FastAPI only those. Refusals close the connection, so the rest of a hostile body is never
read. Inputs are pydantic models that refuse unknown fields and non-finite numbers; policy settings go
through the policy's own Settings model; a bad request gets a 422 naming the field. The OpenAPI schema is
at /openapi.json.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from gpufleet.core.decision import PublicDecision
from gpufleet.core.errors import GpufleetError, SettingsError, brief, validation_line
from gpufleet.hook import conditions
from gpufleet.hook.engine import Engine
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails

WHAT_IF_MAX_S = 6 * 3600  # bounded work per request
WHAT_IF_MAX_REQUESTS = 200_000
BODY_METHODS = ("POST", "PUT", "PATCH")


def bearer_ok(header: bytes | str | None, token: bytes) -> bool:
    """`Bearer <token>`, compared in constant time."""
    raw = header.encode() if isinstance(header, str) else (header or b"")
    scheme, _, value = raw.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token)


class WhatIf(BaseModel):
    """Replay the workload's recent arrivals through the serving simulator under its current policy and a
    proposed one, and compare."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    workload: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    policy: str = Field(description="autoscaler to try", max_length=64)
    settings: dict[str, float] = Field(default_factory=dict, max_length=16)
    guardrails: Guardrails | None = None
    slo: str = Field("ttft_p99<=2", max_length=64)

    @field_validator("policy")
    @classmethod
    def _policy(cls, v: str) -> str:
        if v not in live_policies():
            raise ValueError(f"unknown or offline-only policy {v!r}; valid: {', '.join(live_policies())}")
        return v

    @field_validator("settings")
    @classmethod
    def _settings(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        policy = info.data.get("policy")
        if policy is None:  # the policy itself was refused: that is the error to report
            return v
        try:
            checked = AUTOSCALERS.settings(policy, v)
        except SettingsError as e:  # one line naming the setting; pydantic makes it the 422's message
            raise ValueError(str(e)) from None
        return checked.model_dump(include=set(v))


# /decision's answer: the latest decision, the latest good one and the guardrails (fields from core/decision.py)
DecisionAnswer: type[BaseModel] = create_model(
    "DecisionAnswer",
    __base__=PublicDecision,
    last_good=(PublicDecision | None, Field(description="the latest decision made on fresh telemetry")),
    guardrails=(dict[str, Any], Field(description="the workload's replica bounds and step limits")),
)


def live_policies() -> list[str]:
    """The autoscalers the live hook can run: every member that does not declare it sees the future."""
    offline = AUTOSCALERS.having("sees_future")
    return [n for n in AUTOSCALERS.names() if n not in offline]


class Guard:
    """Pure ASGI middleware: token first, then the body's framing and size, before anything reads the body."""

    def __init__(
        self, app: Any, max_body: int, observe: Any, token: str, open_paths: frozenset[str], refused: dict[int, int]
    ) -> None:
        self.app, self.max_body, self.observe = app, max_body, observe
        self.token, self.open_paths = token.encode(), open_paths
        self.refused = refused  # status -> requests the guard refused (for /metrics)

    async def _refuse(self, status: int, detail: str, scope: Any, receive: Any, send: Any) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1
        headers = {"connection": "close"}  # never read the rest of a refused body
        if status == 401:
            headers["www-authenticate"] = "Bearer"
        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, list[bytes]] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.lower(), []).append(v)
        if scope["path"] not in self.open_paths and not bearer_ok(
            (headers.get(b"authorization") or [b""])[0], self.token
        ):
            await self._refuse(401, "a valid bearer token is required", scope, receive, send)
            return
        lengths, coding = headers.get(b"content-length"), headers.get(b"transfer-encoding")
        problem = None
        if coding is not None:
            problem = (400, "Transfer-Encoding is not accepted; send a Content-Length")
        elif lengths is not None and (len(lengths) > 1 or not lengths[0].strip().isdigit()):
            problem = (400, "one Content-Length, a whole number of bytes")
        elif lengths is not None and int(lengths[0]) > self.max_body:
            problem = (413, f"request body over {self.max_body} bytes")
        elif scope["method"] in BODY_METHODS and lengths is None:
            problem = (411, "a Content-Length header is required")
        if problem is not None:
            await self._refuse(*problem, scope, receive, send)
            return
        size = int(lengths[0]) if lengths else 0
        body = bytearray()
        while len(body) < size:  # the declared length, never more (and never over the limit)
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if len(body) > size:
                await self._refuse(400, "body longer than its Content-Length", scope, receive, send)
                return
            if not msg.get("more_body", False):
                break
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # http.disconnect

        began = time.perf_counter()
        await self.app(scope, replay if size else receive, send)
        route = scope.get("route")
        self.observe("http " + (getattr(route, "path", None) or "unmatched"), time.perf_counter() - began)


def make_app(
    engine: Engine,
    token: str,
    *,
    max_body: int,
    metrics: Any,
    what_if: Any,
    open_metrics: bool = True,
    refused: dict[int, int] | None = None,
) -> FastAPI:
    app = FastAPI(title="gpufleet hook", version="1", description=__doc__)
    open_paths = frozenset({"/healthz", "/readyz"} | ({"/metrics"} if open_metrics else set()))
    app.add_middleware(
        Guard,
        max_body=max_body,
        observe=metrics.observe,
        token=token,
        open_paths=open_paths,
        refused=refused if refused is not None else {},
    )
    secret = token.encode()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the input back, and an input holding Infinity or NaN cannot be written as
        # JSON (a 500); name the field and say what is wrong, nothing else
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    async def auth(request: Request) -> None:
        # the guard already refused a wrong token; this declares the scheme in the OpenAPI schema too
        if not bearer_ok(request.headers.get("authorization"), secret):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready while the scaler can serve decisions, held ones included: 503 only before there is anything to
        serve (no round finished and nothing restored from the store). Stale telemetry (one workload's or all)
        and a stalled loop keep the pod ready: the held decisions are what KEDA should get; they show as
        `degraded` / `stalled` here, as conditions in /v1/workloads, in /metrics and in alerts."""
        runtimes = list(engine.workloads.values())
        counts = {"stale": 0, "error": 0}
        for rt in runtimes:
            if rt.last is not None and rt.last.status in counts:
                counts[rt.last.status] += 1
        loop = conditions.loop(engine)
        if loop["status"] == "Unknown" and not any(rt.last is not None for rt in runtimes):
            status, code = "starting", 503
        elif loop["status"] == "False":
            status, code = "stalled", 200
        else:
            status, code = ("degraded" if any(counts.values()) else "ready"), 200
        body = {"status": status, "workloads": len(runtimes), **counts, "loop": loop["reason"]}
        return JSONResponse(body, status_code=code)

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
                    "actual_replicas": rt.actual,
                    "status": d.status if d else "no decision yet",
                    "decision_id": d.decision_id if d else None,
                    "telemetry_age_s": conditions.telemetry_age(rt),
                    "conditions": conditions.workload(rt),
                }
            )
        return {"workloads": out, "conditions": [conditions.loop(engine)]}

    @app.get("/v1/workloads/{namespace}/{name}/decision", dependencies=[Depends(auth)], response_model=DecisionAnswer)
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
        rt = engine.get(body.namespace, body.workload)
        if rt is None:
            raise HTTPException(404, f"unknown workload {body.namespace}/{body.workload}")
        try:
            return what_if(rt, body)
        except ValueError as e:
            raise HTTPException(422, validation_line(e)) from None
        except GpufleetError as e:  # Prometheus down or refusing: not the client's fault, and no traceback
            raise HTTPException(503, f"telemetry unavailable: {brief(e)}") from None

    return app


def finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
