"""A transcription of the Helios/Lucid trace simulator's loops and its consolidating placer, used as the
reference our event-driven simulator must match in `--compat helios`.

FIFO, SJF and QSSF (`replay`): HeliosArtifact `framework/QSSF Service/policies/{fifo,sjf,qssf}.py` (`simulate`)
and `policies/placer/consolidate.py` (`consolidateSelect`); Lucid's `simulation/policy/` has the same loops.
One liberty, marked below: ticks in which nothing finishes and nothing arrives are skipped. In such a tick
the queue, its order and the free GPUs are what the previous tick's pass left, so the pass fails at the
same job (or finds the queue empty) and starts nothing: skipping them changes no start time, and it keeps
a 57-day Philly replay from taking 5 million Python iterations. (QSSF: only once every waiting job has its
priority; until then the next tick sorts differently.)

SRTF and Tiresias (`replay_preemptive`): Lucid `simulation/policy/{srtf,tiresias}.py` and `policy.py`
(`ckpt_overhead`), HeliosArtifact's srtf.py for its own restore costs. Written from their rules, one second at a
time; the one liberty (`skip_idle`, off for the benchmark's one-second-tick baseline) jumps over seconds in which
the queue is empty and nothing arrives or ends: a pass over running jobs alone chooses them all and does
nothing, so those seconds only count every running job down (and up, Tiresias' attained service), which the
jump does at once.
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


def replay(
    jobs: list[dict[str, Any]],
    n_nodes: int,
    policy: str,
    priorities: dict[str, float] | None = None,
    *,
    skip_idle: bool = True,
) -> dict[str, int]:
    """Start time per job id; `jobs` in trace order with job_id, submit_time, gpu_num, duration (ints);
    `priorities`: QSSF's per-job estimate (their estimator's file), multiplied by the GPUs as theirs does;
    `skip_idle=False`: every second, as their loop (the benchmark's one-second-tick baseline)."""
    nodes = [Node(i) for i in range(n_nodes)]
    trace = sorted(jobs, key=lambda j: j["submit_time"])  # stable, like the trace list after loading
    for j in trace:
        j["status"] = "add"
        j["priority"] = -1
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
        new_job_num = 0
        for idx in range(prev_index, total):
            job = trace[idx]
            if job["submit_time"] == time:
                job["status"] = "pend"
                que_list.append(job)
                prev_index = idx
                new_job_num += 1
            elif job["submit_time"] > time:
                break
        # 3. order the queue (stable sorts)
        if policy == "fifo":
            que_list.sort(key=lambda x: x["submit_time"])
        elif policy == "sjf":
            que_list.sort(key=lambda x: x["duration"])
        else:  # qssf: by GPUs; by priority (asked for then) as soon as one job waits from an earlier second
            assert priorities is not None
            que_list.sort(key=lambda x: x["gpu_num"])
            if len(que_list) > new_job_num:
                for job in que_list:
                    if job["priority"] == -1:
                        job["priority"] = priorities[job["job_id"]] * job["gpu_num"]
                que_list.sort(key=lambda x: x["priority"])
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
        if not skip_idle or (policy == "qssf" and any(j["priority"] == -1 for j in que_list)):
            time += 1
            continue
        ends = [j["end_time"] for j in run_list]
        nxt = next((trace[i]["submit_time"] for i in range(prev_index, total) if trace[i]["submit_time"] > time), None)
        time = min([*ends, *([nxt] if nxt is not None else [])], default=time + 1)
    return {j["job_id"]: j["start_time"] for j in trace}


def ckpt_overhead(gpus: int, overheads: str) -> int:
    """Seconds added to a preempted job's countdown: Lucid's, or the HeliosArtifact srtf's."""
    if overheads == "helios":
        return 7 if gpus == 1 else 30 if gpus <= 8 else 60
    return 40 if gpus <= 8 else 60


def replay_preemptive(
    jobs: list[dict[str, Any]],
    n_nodes: int,
    policy: str,
    *,
    overheads: str = "lucid",
    threshold: int = 18000,
    skip_idle: bool = True,
) -> dict[str, tuple[int, int]]:
    """(first start, end) per job id under Lucid's `srtf` or `tiresias` loop (jobs as for `replay`)."""
    nodes = [Node(i) for i in range(n_nodes)]
    capacity = 8 * n_nodes
    trace = sorted(jobs, key=lambda j: j["submit_time"])
    for j in trace:
        j.update(remain=j["duration"], status=None, start_time=None, priority=0, nodes=[])
    que: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    nxt, ended, time = 0, 0, trace[0]["submit_time"]

    def place(job: dict[str, Any]) -> bool:
        if sum(n.free_gpus for n in nodes) < job["gpu_num"]:
            return False
        ok, alloc = consolidate_select(nodes, job["gpu_num"])
        if ok:
            for node, g in alloc:
                node.free_gpus -= g
            job["nodes"] = alloc
        return ok

    def release(job: dict[str, Any]) -> None:
        for node, g in job["nodes"]:
            node.free_gpus += g
        job["nodes"] = []

    while ended < len(trace):
        # 1. a running job with nothing left ends now; the others count down (and Tiresias' up)
        for job in list(run):
            if job["remain"] == 0:
                job["status"], job["end_time"] = "end", time
                ended += 1
                release(job)
                run.remove(job)
            else:
                job["remain"] -= 1
                job["priority"] += job["gpu_num"]
        # 2. arrivals, in trace order
        while nxt < len(trace) and trace[nxt]["submit_time"] == time:
            trace[nxt]["status"] = "pend"
            que.append(trace[nxt])
            nxt += 1
        # 3. choose: walk in the policy's order with the GPUs as a budget (Tiresias: only every 60 s)
        prerun: list[dict[str, Any]] = []
        preempt: list[dict[str, Any]] = []
        if policy == "srtf" or time % 60 == 0:
            if policy == "srtf":
                walk = sorted(que + run, key=lambda x: x["remain"])
            else:
                both = run + que
                high = sorted((j for j in both if j["priority"] <= threshold), key=lambda x: x["submit_time"])
                low = sorted((j for j in both if j["priority"] > threshold), key=lambda x: x["submit_time"])
                walk = high + low
            quota = capacity
            for job in walk:
                if job["gpu_num"] <= quota:
                    quota -= job["gpu_num"]
                    if job["status"] == "pend":
                        prerun.append(job)
                elif job["status"] == "run":
                    preempt.append(job)
        # 4. every running job not chosen is preempted; its restore cost is added to what it has left
        for job in preempt:
            job["status"] = "pend"
            job["remain"] += ckpt_overhead(job["gpu_num"], overheads)
            release(job)
            run.remove(job)
            que.append(job)
        # 5. the chosen waiting jobs start where they can be placed; the others wait
        for job in prerun:
            if place(job):
                job["status"] = "run"
                if job["start_time"] is None:
                    job["start_time"] = time
                que.remove(job)
                run.append(job)
        # (liberty: skip_idle) nothing waits: jump to the next arrival or end, counting down on the way
        nxt_t = time + 1
        if skip_idle and not que:
            ends = [time + j["remain"] + 1 for j in run]
            arrivals = [trace[nxt]["submit_time"]] if nxt < len(trace) else []
            nxt_t = min([*ends, *arrivals], default=time + 1)
            for job in run:
                job["remain"] -= nxt_t - time - 1
                job["priority"] += job["gpu_num"] * (nxt_t - time - 1)
        time = nxt_t
    return {j["job_id"]: (j["start_time"], j["end_time"]) for j in trace}
