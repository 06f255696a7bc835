"""kube-state-metrics from Prometheus into JOBS: one job per pod, so a real cluster's history trains the
runtime predictor and feeds the simulator.

Per pod (namespace + pod name), from the raw samples of the collection window, the latest value of:
- `kube_pod_container_resource_requests{resource="nvidia_com_gpu"}` summed over containers -> num_gpus;
  MIG resources (`nvidia_com_mig_3g_40gb` ...) count slices/7 of a GPU each;
- `kube_pod_created` -> submit_time, `kube_pod_start_time` and `kube_pod_completion_time` -> duration;
- `kube_pod_status_phase` (the phase whose value is 1) -> status;
- `kube_pod_owner` -> name (owner name) and kind (Job/CronJob/PyTorchJob/MPIJob: train; ReplicaSet,
  Deployment, StatefulSet: serve; else other); namespace -> group;
- `kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}` -> oom_killed (an extra column).
Times are Unix seconds (JOBS.submit_time's epoch is then 1970-01-01). Pods that never asked for a GPU are
left out and counted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from gpufleet.collector.prometheus import MAX_POINTS, PrometheusSource, label
from gpufleet.collector.store import Store
from gpufleet.core.schemas import JOBS, NODES, validate

QUERIES = {
    "requests": 'kube_pod_container_resource_requests{resource=~"nvidia_com_gpu|nvidia_com_mig_.*"}',
    "created": "kube_pod_created",
    "start": "kube_pod_start_time",
    "completion": "kube_pod_completion_time",
    "phase": "kube_pod_status_phase",
    "owner": "kube_pod_owner",
    "oom": 'kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}',
}
TRAIN_OWNERS = {"Job", "CronJob", "PyTorchJob", "MPIJob", "TFJob", "RayJob", "JobSet", "Workload"}
SERVE_OWNERS = {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "InferenceService"}
_MIG = re.compile(r"nvidia_com_mig_(\d+)g")


def _gpu_share(resource: str | None) -> float:
    """GPUs one unit of a resource stands for."""
    if resource == "nvidia_com_gpu":
        return 1.0
    m = _MIG.match(resource or "")
    return int(m.group(1)) / 7 if m else 0.0


def _latest(result: list[dict[str, Any]]) -> list[tuple[dict[str, str], float, float]]:
    """(labels, time, value) of each series' last sample."""
    out = []
    for s in result:
        values = s.get("values") or []
        if values:
            t, v = values[-1]
            out.append((s.get("metric", {}), float(t), float(v)))
    return out


def collect_jobs(
    src: PrometheusSource, store: Store, start: datetime, end: datetime, step_s: float, source: str = "kube"
) -> dict[str, int]:
    """Pull kube-state-metrics for [start, end] and merge the pods into the store's JOBS."""
    pods: dict[tuple[str, str], dict[str, Any]] = {}

    def pod(metric: dict[str, str]) -> dict[str, Any] | None:
        ns, name = label(metric, "namespace"), label(metric, "pod")
        if not name:
            return None
        return pods.setdefault((ns or "", name), {"containers": {}, "phase": (None, -1.0)})

    chunk = timedelta(seconds=step_s * MAX_POINTS)
    t = start
    while t < end:
        t1 = min(t + chunk, end)
        for what, query in QUERIES.items():
            for metric, ts, v in _latest(src.query_raw(query, t, t1)):
                p = pod(metric)
                if p is None:
                    continue
                if what == "requests":
                    p["containers"][(label(metric, "container"), metric.get("resource"))] = v
                elif what == "phase":
                    if v >= 1 and ts >= p["phase"][1]:
                        p["phase"] = (metric.get("phase"), ts)
                elif what == "owner":
                    p["owner"] = (metric.get("owner_kind"), metric.get("owner_name"))
                elif what == "oom":
                    p["oom"] = max(p.get("oom", 0.0), v)
                else:
                    p[what] = v
        t = t1
    rows = []
    skipped = 0
    for (ns, name), p in pods.items():
        gpus = sum(v * _gpu_share(res) for (_, res), v in p["containers"].items())
        if gpus <= 0 or "created" not in p:
            skipped += 1
            continue
        kind_of, owner = p.get("owner", (None, None))
        kind = "train" if kind_of in TRAIN_OWNERS else "serve" if kind_of in SERVE_OWNERS else "other"
        began, done = p.get("start"), p.get("completion")
        rows.append(
            {
                "job_id": f"{ns}/{name}",
                "submit_time": p["created"],
                "duration": done - began if began is not None and done is not None else None,
                "num_gpus": gpus,
                "group": ns or None,
                "name": owner or name,
                "status": p["phase"][0],
                "kind": kind,
                "start_time": began,
                "oom_killed": int(p.get("oom", 0.0) > 0),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "job_id": pl.String,
            "submit_time": pl.Float64,
            "duration": pl.Float64,
            "num_gpus": pl.Float64,
            "group": pl.String,
            "name": pl.String,
            "status": pl.String,
            "kind": pl.String,
            "start_time": pl.Float64,
            "oom_killed": pl.Int64,
        },
    )
    written = store.merge_jobs(source, validate(frame, JOBS)) if frame.height else 0
    return {"pods": len(pods), "jobs": frame.height, "pods_without_gpus_skipped": skipped, "jobs_in_store": written}


# node capacity: allocatable resources and the labels that name the GPU model and the node pool
NODE_QUERIES = {
    "allocatable": 'kube_node_status_allocatable{resource=~"nvidia_com_gpu|cpu|memory"}',
    "labels": "kube_node_labels",
}
GPU_PRODUCT_LABELS = ("label_nvidia_com_gpu_product", "label_accelerator", "label_cloud_google_com_gke_accelerator")
POOL_LABELS = (
    "label_karpenter_sh_nodepool",
    "label_cloud_google_com_gke_nodepool",
    "label_eks_amazonaws_com_nodegroup",
    "label_kubernetes_azure_com_agentpool",
    "label_node_pool",
)


def collect_nodes(
    src: PrometheusSource, store: Store, start: datetime, end: datetime, source: str = "kube"
) -> dict[str, int]:
    """kube-state-metrics node capacity for [start, end] into the store's NODES: per node the latest
    allocatable GPUs, CPUs and memory, the GPU model (`nvidia.com/gpu.product`, as GPU feature discovery
    labels it) and the node pool (Karpenter, GKE, EKS, AKS labels). Upserted by node name."""
    nodes: dict[str, dict[str, Any]] = {}
    for what, query in NODE_QUERIES.items():
        for metric, _ts, v in _latest(src.query_raw(query, start, end)):
            name = metric.get("node")
            if not name:
                continue
            n = nodes.setdefault(name, {})
            if what == "allocatable":
                n[metric.get("resource", "")] = v
            else:
                n["gpu_type"] = next((metric[k] for k in GPU_PRODUCT_LABELS if metric.get(k)), None)
                n["pool"] = next((metric[k] for k in POOL_LABELS if metric.get(k)), None)
    rows = [
        {
            "node_id": name,
            "pool": n.get("pool"),
            "gpu_type": n.get("gpu_type"),
            "num_gpus": int(n.get("nvidia_com_gpu", 0)),
            "num_cpus": n.get("cpu"),
            "mem_bytes": int(n["memory"]) if "memory" in n else None,
        }
        for name, n in sorted(nodes.items())
    ]
    schema = {
        "node_id": pl.String,
        "pool": pl.String,
        "gpu_type": pl.String,
        "num_gpus": pl.Int64,
        "num_cpus": pl.Float64,
        "mem_bytes": pl.Int64,
    }
    frame = validate(pl.DataFrame(rows, schema=schema), NODES)
    held = store.merge_nodes(source, frame) if frame.height else 0
    return {"nodes": frame.height, "gpu_nodes": int((frame["num_gpus"] > 0).sum()), "nodes_in_store": held}
