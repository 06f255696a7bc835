"""A Kubernetes API for tests: kmock's KubernetesEmulator, a real HTTP server (aiohttp) run on its own event
loop in a background thread, driven by the official `kubernetes` client. It keeps objects in memory and
ignores label selectors (the hook filters again on its side)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def kube_emulator() -> Iterator[str]:
    """Yields the API server URL."""
    import kmock

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        async with kmock.KubernetesEmulator() as k, kmock.Server(k) as srv:
            for res in (
                "apps/v1/deployments",
                "apps/v1/statefulsets",
                "keda.sh/v1alpha1/scaledobjects",
                "v1/nodes",
                "v1/pods",
            ):
                k.resources[res] = {}
            box["url"] = str(srv.url).rstrip("/")
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(20):
        raise RuntimeError("the Kubernetes emulator did not start")
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)


def apps_api(url: str) -> Any:
    from kubernetes import client

    conf = client.Configuration()
    conf.host = url
    return client.AppsV1Api(client.ApiClient(conf))


def deployment(
    namespace: str, name: str, replicas: int, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> Any:
    from kubernetes import client

    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations or {}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="vllm", image="vllm/vllm-openai")]),
            ),
        ),
        status=client.V1DeploymentStatus(ready_replicas=replicas, replicas=replicas),
    )
