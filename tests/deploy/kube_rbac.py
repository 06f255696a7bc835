"""kmock's Kubernetes emulator with an authorizer in front: every request is recorded (method, path and its
RBAC attributes) and, when a rule set is given, one that no rule covers is answered 403 Forbidden, as the API
server answers a ServiceAccount without the permission. Runs on its own event loop in a thread, like
tests/hook/kube_emulator.py; driven by the official `kubernetes` client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.rbac import Call, allows, parse

RESOURCES = (
    "apps/v1/deployments",
    "apps/v1/statefulsets",
    "keda.sh/v1alpha1/scaledobjects",
    "v1/nodes",
    "v1/pods",
)


@dataclass
class Authorizer:
    """What the emulator saw and refused; `rules` None records only."""

    rules: list[tuple[str | None, dict[str, Any]]] | None = None
    calls: list[Call] = field(default_factory=list)
    refused: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, call: Call) -> bool:
        with self.lock:
            self.calls.append(call)
            ok = self.rules is None or allows(self.rules, call)
            if not ok:
                self.refused.append(call)
            return ok

    def seen(self) -> list[Call]:
        """The calls so far (a copy)."""
        with self.lock:
            return list(self.calls)


@contextmanager
def rbac_emulator(auth: Authorizer) -> Iterator[tuple[str, Any]]:
    """Yields (API server URL, the emulator) with `auth` deciding every request."""
    import kmock
    from kmock import KubernetesEmulator, KubernetesError

    class Enforcing(KubernetesEmulator):  # type: ignore[misc]
        async def _handle(self, request: Any) -> Any:
            url = str(request.url.path) + (f"?{request.url.query_string}" if request.url.query_string else "")
            call = parse(str(request.method.value if hasattr(request.method, "value") else request.method), url)
            if not auth.check(call):
                raise KubernetesError(
                    status=403,
                    reason="Forbidden",
                    message=f"forbidden: the ServiceAccount cannot {call.verb} {call.resource or call.path}",
                )
            return await super()._handle(request)

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        async with Enforcing() as k, kmock.Server(k) as srv:
            for res in RESOURCES:
                k.resources[res] = {}
            box["url"], box["k"] = str(srv.url).rstrip("/"), k
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(20):
        raise RuntimeError("the Kubernetes emulator did not start")
    try:
        yield box["url"], box["k"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
        loop.close()
