"""A stand-in for the NVML library with two GPUs, used where this machine has no NVIDIA driver: the real
`pynvml` module's constants and error classes, with device functions that answer from a fixed table. It lets
the mapping from NVML readings to GPU_SAMPLES and DCGM names be tested everywhere; tests marked `gpu` run
the same code on the real library when a GPU is present.

GPU 0: an A100 whose board does not report power (NOT_SUPPORTED), with one XID 79 event waiting.
GPU 1: an A100 in MIG mode with a 3g.40gb and a 1g.10gb instance in slots 0 and 2 (NVML has no per-instance
utilization, so asking for it is NOT_SUPPORTED).
"""

from __future__ import annotations

import types
from typing import Any

import pynvml

GIB = 2**30


def make() -> Any:
    m = types.SimpleNamespace(
        **{
            k: getattr(pynvml, k)
            for k in dir(pynvml)
            if k.isupper() or k.startswith("NVMLError") or k.startswith("nvmlEventType")
        }
    )
    m.NVMLError = pynvml.NVMLError
    ns = types.SimpleNamespace
    gpus = [
        {
            "uuid": "GPU-aaaa",
            "name": b"NVIDIA A100-SXM4-80GB",
            "util": 37,
            "used": 20 * GIB,
            "total": 80 * GIB,
            "power": None,
            "temp": 61,
            "sm": 1410,
            "mem": 1593,
            "procs": 2,
            "mig": False,
        },
        {
            "uuid": "GPU-bbbb",
            "name": "NVIDIA A100-SXM4-80GB",
            "util": None,
            "used": 0,
            "total": 80 * GIB,
            "power": 90_500,
            "temp": 40,
            "sm": 1410,
            "mem": 1593,
            "procs": 0,
            "mig": True,
        },
    ]
    migs = {0: ("MIG-1111", 3, 40 * 1024, 7 * GIB), 2: ("MIG-2222", 1, 10 * 1024, 1 * GIB)}
    events = [ns(device=("gpu", 0), eventData=79)]

    def err(code: int) -> Exception:
        return pynvml.NVMLError(code)

    def dev(h: Any) -> dict[str, Any]:
        return gpus[h[1]]

    m.nvmlDeviceGetCount = lambda: len(gpus)
    m.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)
    m.nvmlDeviceGetUUID = lambda h: migs[h[2]][0] if h[0] == "mig" else dev(h)["uuid"]
    m.nvmlDeviceGetName = lambda h: dev(h)["name"]

    def util(h: Any) -> Any:
        v = dev(h)["util"]
        if v is None:
            raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return ns(gpu=v, memory=0)

    def mem(h: Any) -> Any:
        if h[0] == "mig":
            _, _, size_mb, used = migs[h[2]]
            return ns(used=used, total=size_mb * 2**20, free=size_mb * 2**20 - used)
        d = dev(h)
        return ns(used=d["used"], total=d["total"], free=d["total"] - d["used"])

    def power(h: Any) -> int:
        if dev(h)["power"] is None:
            raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(dev(h)["power"])

    m.nvmlDeviceGetUtilizationRates = util
    m.nvmlDeviceGetMemoryInfo = mem
    m.nvmlDeviceGetPowerUsage = power
    m.nvmlDeviceGetTemperature = lambda h, sensor: dev(h)["temp"]
    m.nvmlDeviceGetClockInfo = lambda h, kind: dev(h)["sm"] if kind == pynvml.NVML_CLOCK_SM else dev(h)["mem"]
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: [
        ns(pid=100 + k, usedGpuMemory=GIB) for k in range(dev(h)["procs"])
    ]
    m.nvmlDeviceGetMigMode = lambda h: (1, 1) if dev(h)["mig"] else (0, 0)
    m.nvmlDeviceGetMaxMigDeviceCount = lambda h: 7

    def mig_handle(h: Any, k: int) -> Any:
        if k not in migs:
            raise err(pynvml.NVML_ERROR_NOT_FOUND)
        return ("mig", h[1], k)

    m.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle
    m.nvmlDeviceGetAttributes = lambda h: ns(gpuInstanceSliceCount=migs[h[2]][1], memorySizeMB=migs[h[2]][2])
    m.nvmlEventSetCreate = lambda: "events"
    m.nvmlDeviceRegisterEvents = lambda h, kinds, s: None

    def wait(s: Any, timeout_ms: int) -> Any:
        if not events:
            raise err(pynvml.NVML_ERROR_TIMEOUT)
        return events.pop(0)

    m.nvmlEventSetWait = wait
    return m
