"""A line-by-line transcription of the Helios/Lucid trace simulator's FIFO and SJF loops and its
consolidating placer, used as the reference our event-driven simulator must match in `--compat helios`.

Transcribed from HeliosArtifact `framework/QSSF Service/policies/{fifo,sjf}.py` (`simulate`) and
`policies/placer/consolidate.py` (`consolidateSelect`); Lucid's `simulation/policy/` has the same loops.
One liberty, marked below: ticks in which nothing finishes and nothing arrives are skipped. In such a tick
the queue, its order and the free GPUs are what the previous tick's pass left, so the pass fails at the
same job (or finds the queue empty) and starts nothing: skipping them changes no start time, and it keeps
a 57-day Philly replay from taking 5 million Python iterations.
"""

from __future__ import annotations

from typing import Any


class Node:
    def __init__(self, i: int) -> None:
        self.node_name, self.free_gpus = i, 8


def consolidate_select(nodes: list[Node], job_gpu_num: int) -> tuple[bool, list[tuple[Node, int]]]:
    avail = [n for n in nodes if n.free_gpus > 0]
    alloc: list[tuple[Node, int]] = []
    if job_gpu_num <= 8:
        for node in sorted(avail, key=lambda x: x.free_gpus, reverse=False):
            if node.free_gpus >= job_gpu_num:
                alloc.append((node, job_gpu_num))
                return True, alloc
        return False, alloc
    ordered = sorted(avail, key=lambda x: x.free_gpus, reverse=True)
    if job_gpu_num % 8 == 0:
        node_num = job_gpu_num // 8
        for node in ordered:
            if node.free_gpus < 8:
                return False, alloc
            if node.free_gpus == 8 and node_num > 0:
                alloc.append((node, 8))
                node_num -= 1
            if node_num == 0:
                return True, alloc
    else:
        node_num = (job_gpu_num // 8) + 1
        for node in ordered:
            if node.free_gpus == 8 and node_num > 1:
                alloc.append((node, 8))
                node_num -= 1
                continue
            if node.free_gpus >= (job_gpu_num % 8) and node_num == 1:
                alloc.append((node, job_gpu_num % 8))
                return True, alloc
            return False, alloc
    return False, alloc


def replay(jobs: list[dict[str, Any]], n_nodes: int, policy: str) -> dict[str, int]:
    """Start time per job id; `jobs` in trace order with job_id, submit_time, gpu_num, duration (ints)."""
    nodes = [Node(i) for i in range(n_nodes)]
    trace = sorted(jobs, key=lambda j: j["submit_time"])  # stable, like the trace list after loading
    for j in trace:
        j["status"] = "add"
    total, end_job_num, prev_index = len(trace), 0, 0
    run_list: list[dict[str, Any]] = []
    que_list: list[dict[str, Any]] = []
    time = trace[0]["submit_time"]

    def job_placer(job: dict[str, Any]) -> bool:
        if sum(n.free_gpus for n in nodes) < job["gpu_num"]:
            return False
        ok, alloc = consolidate_select(nodes, job["gpu_num"])
        if ok:
            for node, g in alloc:
                node.free_gpus -= g
            job["nodes"] = alloc
        return ok

    while end_job_num != total:
        # 1. release the jobs ending now
        for job in list(run_list):
            if time == job["end_time"]:
                job["status"] = "end"
                end_job_num += 1
                for node, g in job["nodes"]:
                    node.free_gpus += g
                run_list.remove(job)
        # 2. arrivals, in trace order
        for idx in range(prev_index, total):
            job = trace[idx]
            if job["submit_time"] == time:
                job["status"] = "pend"
                que_list.append(job)
                prev_index = idx
            elif job["submit_time"] > time:
                break
        # 3. order the queue (stable sorts)
        if policy == "fifo":
            que_list.sort(key=lambda x: x["submit_time"])
        else:
            que_list.sort(key=lambda x: x["duration"])
        # 4. one pass, stopping at the first job that does not fit
        for job in list(que_list):
            if job_placer(job):
                job["start_time"] = time
                job["end_time"] = time + job["duration"]
                job["status"] = "run"
                que_list.remove(job)
                run_list.append(job)
            else:
                break
        # (liberty, see the module docstring) jump to the next tick where something finishes or arrives
        ends = [j["end_time"] for j in run_list]
        nxt = next((trace[i]["submit_time"] for i in range(prev_index, total) if trace[i]["submit_time"] > time), None)
        time = min([*ends, *([nxt] if nxt is not None else [])], default=time + 1)
    return {j["job_id"]: j["start_time"] for j in trace}
