"""A small cluster for the hook's Kubernetes side, made through the API as an admin would (before the RBAC
under test is switched on): a labelled Deployment and StatefulSet, a KEDA ScaledObject naming our scaler, a
GPU node and a running pod that holds two of its GPUs."""

from __future__ import annotations

from typing import Any

LABEL = "gpufleet.io/managed"


def _client(url: str) -> Any:
    from kubernetes import client

    conf = client.Configuration()
    conf.host = url
    return client.ApiClient(conf)


def populate(url: str, tag: str = "true") -> None:
    """Create the objects above (names prefixed by nothing: one cluster per test)."""
    from kubernetes import client
    from tests.hook.kube_emulator import deployment

    api = _client(url)
    apps, core, custom = client.AppsV1Api(api), client.CoreV1Api(api), client.CustomObjectsApi(api)
    ann = {"gpufleet.io/policy": "target-tracking", "gpufleet.io/model": "m"}
    apps.create_namespaced_deployment("llm", deployment("llm", "chat", 3, {LABEL: tag}, ann))
    dep = deployment("llm", "embed", 2, {LABEL: tag}, ann)
    sts = client.V1StatefulSet(
        metadata=dep.metadata,
        spec=client.V1StatefulSetSpec(
            selector=dep.spec.selector, template=dep.spec.template, replicas=2, service_name="embed"
        ),
        status=client.V1StatefulSetStatus(replicas=2, ready_replicas=2),
    )
    apps.create_namespaced_stateful_set("llm", sts)
    custom.create_namespaced_custom_object(
        "keda.sh",
        "v1alpha1",
        "batch",
        "scaledobjects",
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "rerank", "namespace": "batch"},
            "spec": {
                "scaleTargetRef": {"name": "rerank"},
                "minReplicaCount": 1,
                "maxReplicaCount": 8,
                "triggers": [
                    {"type": "external", "metadata": {"scalerAddress": "hook:9090", "policy": "target-tracking"}}
                ],
            },
        },
    )
    core.create_node(
        client.V1Node(
            metadata=client.V1ObjectMeta(name="gpu-1", labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}),
            status=client.V1NodeStatus(allocatable={"nvidia.com/gpu": "8", "cpu": "96", "memory": "1000Gi"}),
        )
    )
    core.create_namespaced_pod(
        "llm",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="chat-0", namespace="llm"),
            spec=client.V1PodSpec(
                node_name="gpu-1",
                containers=[
                    client.V1Container(
                        name="vllm",
                        image="vllm/vllm-openai",
                        resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": "2"}, requests={"cpu": "8"}),
                    )
                ],
            ),
            status=client.V1PodStatus(phase="Running"),
        ),
    )
