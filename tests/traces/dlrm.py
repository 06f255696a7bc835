"""A DLRM-style serving export written for the tests: recommendation-model instances and the nodes they run on,
laid out as such exports are (after the disaggregated DLRM serving traces: CPU "CN" and GPU "HN" instances in
their own pools, requests for CPU cores, GPUs, memory in GiB, RDMA in percent of a node's NICs and disk,
creation and deletion as epoch seconds, a deletion left empty for instances still running).

Nothing here is real data: the rows are drawn from a seeded generator so a test can reason about them
(CPU pods are big enough that, packed onto GPU nodes, they starve the GPU pods of CPUs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

T0 = 1_735_689_600  # 2025-01-01T00:00:00Z, epoch seconds
INSTANCE_HEADER = (
    "instance_sn,role,app_name,pool,cpu_request,cpu_limit,gpu_request,gpu_limit,rdma_request,memory_request,"
    "disk_request,max_instance_per_node,creation_time,scheduled_time,deletion_time"
)
NODE_HEADER = "sn,pool,gpu_model,cpu_num,gpu_num,memory,rdma,disk"

# the map a user writes for these files (docs/data.md shows the same): computed duration, null fills, sections
MAP = """\
JOBS:
  columns:
    job_id: instance_sn
    submit_time: creation_time
    num_gpus: gpu_request
    num_cpus: cpu_request
    mem_bytes: memory_request
    rdma: rdma_request
    pool: pool
    name: app_name
  computed:
    duration: {diff: [deletion_time, creation_time]}
  fill: {num_gpus: 0, rdma: 0}
  units: {mem_bytes: GiB, submit_time: s, duration: s}
  constants: {kind: serve}
NODES:
  columns: {node_id: sn, pool: pool, gpu_type: gpu_model, num_cpus: cpu_num, num_gpus: gpu_num, mem_bytes: memory}
  fill: {num_gpus: 0}
  units: {mem_bytes: GiB}
"""


@dataclass(frozen=True)
class DlrmFiles:
    """Where the fixture was written and what it holds."""

    instances: Path
    nodes: Path
    map: Path
    n_cpu_nodes: int
    n_gpu_nodes: int
    n_cpu_pods: int
    n_gpu_pods: int


def write_dlrm(folder: Path, *, seed: int = 7, cpu_nodes: int = 12, gpu_nodes: int = 8, pods: int = 160) -> DlrmFiles:
    """Write instances.csv, nodes.csv and dlrm-map.yaml under `folder`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    node_rows = []
    for i in range(cpu_nodes):  # CPU pool: 96 cores, 768 GiB, no GPUs (gpu_num left empty), one NIC
        node_rows.append(f"cn-{i:03d},cpu-pool,,96,,768,100,2000")
    for i in range(gpu_nodes):  # GPU pool: 8 A100, 64 cores, 1 TiB, four NICs
        node_rows.append(f"hn-{i:03d},gpu-pool,A100,64,8,1024,400,4000")
    inst_rows = []
    n_cpu = n_gpu = 0
    for k in range(pods):
        created = T0 + k * 60 + rng.randint(0, 59)
        sched = created + rng.randint(0, 5)
        life = rng.randint(600, 6 * 3600)
        deleted = "" if rng.random() < 0.1 else str(created + life)  # still running at the export: no deletion
        if rng.random() < 0.55:  # a CPU ranking instance: many cores, no GPU (gpu_request left empty)
            n_cpu += 1
            cpu = rng.choice((16, 24, 32))
            mem = "" if rng.random() < 0.05 else str(rng.choice((64, 128)))  # a few exports lack memory
            inst_rows.append(
                f"i-{k:05d},CN,rank-{rng.randint(0, 5)},cpu-pool,{cpu},{cpu},,,,{mem},50,4,{created},{sched},{deleted}"
            )
        else:  # a GPU instance: 1 or 2 GPUs, 8 cores a GPU, RDMA share
            n_gpu += 1
            gpus = rng.choice((1, 1, 2))
            rdma = "" if rng.random() < 0.1 else str(25 * gpus)
            inst_rows.append(
                f"i-{k:05d},HN,dlrm-{rng.randint(0, 3)},gpu-pool,{8 * gpus},{8 * gpus},{gpus},{gpus},{rdma},"
                f"{64 * gpus},100,8,{created},{sched},{deleted}"
            )
    instances, nodes, mp = folder / "instances.csv", folder / "nodes.csv", folder / "dlrm-map.yaml"
    instances.write_text("\n".join([INSTANCE_HEADER, *inst_rows]) + "\n")
    nodes.write_text("\n".join([NODE_HEADER, *node_rows]) + "\n")
    mp.write_text(MAP)
    return DlrmFiles(instances, nodes, mp, cpu_nodes, gpu_nodes, n_cpu, n_gpu)
