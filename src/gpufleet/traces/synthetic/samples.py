"""Synthetic per-GPU telemetry: pods come and go, utilization follows the workload, a daily cycle and noise."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from gpufleet.core.errors import TraceError
from gpufleet.core.gpus import gpu_spec
from gpufleet.core.schemas import GPU_SAMPLES
from gpufleet.core.units import DAY, HOUR, MINUTE
from gpufleet.traces.synthetic.config import SyntheticNodesConfig, SyntheticSamplesConfig
from gpufleet.traces.synthetic.nodes import synthetic_nodes

# (idle W, board TDP W): TDPs from the vendor data sheets (SXM parts for A100/H100/H200/V100); idle draw is
# an estimate of a typical nvidia-smi reading with no process on the GPU.
POWER_W: dict[str, tuple[float, float]] = {
    "A100": (55.0, 400.0),
    "H100": (70.0, 700.0),
    "H200": (75.0, 700.0),
    "H800": (70.0, 700.0),
    "V100": (40.0, 300.0),
    "A10": (20.0, 150.0),
    "T4": (10.0, 70.0),
    "L4": (12.0, 72.0),
}
DEFAULT_POWER_W = (50.0, 300.0)
INFERENCE_MODELS = {"A10", "T4", "L4", "A2"}
KINDS = ("train", "serve", "notebook")
NAMESPACES = ("ml-train", "ml-serving", "notebooks")
# Workload mix of the pods on training-class and inference-class GPUs (train, serve, notebook).
KIND_P_TRAIN = np.array([0.75, 0.05, 0.20])
KIND_P_INFER = np.array([0.05, 0.80, 0.15])
LEVEL = np.array([[0.60, 0.97], [0.50, 0.90], [0.20, 0.60]])  # busy utilization range per kind
MEM_FRAC = np.array([[0.50, 0.95], [0.30, 0.80], [0.10, 0.60]])  # share of GPU memory a pod holds, per kind
STALL_P = np.array([0.03, 0.0, 0.5])  # chance a 15-minute block of a pod is idle (data stalls, a notebook left open)
STALL_BLOCK_S = 15 * MINUTE
PEAK_HOUR = 14.0


def gpu_layout(nodes: pl.DataFrame, n_gpus: int) -> pl.DataFrame:
    """The first `n_gpus` GPUs taken node by node, visiting the pools in turn so that every model appears."""
    with_gpus = nodes.filter(pl.col("num_gpus") > 0)
    total = int(with_gpus["num_gpus"].sum())
    if n_gpus > total:
        raise TraceError(f"synthetic:gpu-samples: n_gpus={n_gpus} exceeds the {total} GPUs of the node pools")
    pools = with_gpus["pool"].unique(maintain_order=True).to_list()
    queues = [with_gpus.filter(pl.col("pool") == p).rows(named=True) for p in pools]
    out: list[dict[str, object]] = []
    turn = 0
    while len(out) < n_gpus:
        queue = queues[turn % len(queues)]
        turn += 1
        if not queue:
            continue
        node = queue.pop(0)
        for i in range(min(int(node["num_gpus"]), n_gpus - len(out))):
            out.append(
                {
                    "node": node["node_id"],
                    "gpu_index": i,
                    "gpu_model": node["gpu_type"],
                    "mem_total_bytes": node["gpu_mem_bytes"],
                    "gpu_uuid": gpu_uuid(node["node_id"], i),
                }
            )
    return pl.DataFrame(
        out,
        schema={
            "node": pl.Utf8,
            "gpu_index": pl.Int64,
            "gpu_model": pl.Utf8,
            "mem_total_bytes": pl.Int64,
            "gpu_uuid": pl.Utf8,
        },
    )


def gpu_uuid(node: str, index: int) -> str:
    """A stable UUID-shaped id per (node, GPU index), so a GPU keeps its id across seeds and runs."""
    h = hashlib.sha1(f"{node}/{index}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _segments(
    rng: np.random.Generator, cfg: SyntheticSamplesConfig, n_gpus: int, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """End times (G, M) of alternating allocated / free stretches per GPU, and whether each is allocated."""
    job_s, gap_s = cfg.job_mean_h * HOUR, cfg.gap_mean_h * HOUR
    first_alloc = rng.random(n_gpus) < job_s / (job_s + gap_s)
    lens = np.zeros((n_gpus, 0))
    while lens.shape[1] == 0 or (lens.sum(axis=1) < horizon).any():
        m = 2 * int(horizon / (job_s + gap_s)) + 16
        col = np.arange(lens.shape[1], lens.shape[1] + m)
        alloc = (col % 2 == 0)[None, :] == first_alloc[:, None]
        # Pods live lognormally (log-sd 0.8, mean job_mean_h); free gaps are exponential.
        job = rng.lognormal(np.log(job_s) - 0.32, 0.8, (n_gpus, m))
        gap = rng.exponential(gap_s, (n_gpus, m))
        lens = np.concatenate([lens, np.where(alloc, job, gap)], axis=1)
    lens[:, 0] *= rng.random(n_gpus)  # start part way through the first stretch
    col = np.arange(lens.shape[1])
    return np.cumsum(lens, axis=1), (col % 2 == 0)[None, :] == first_alloc[:, None]


def synthetic_gpu_samples(cfg: SyntheticSamplesConfig, nodes: pl.DataFrame | None = None) -> pl.DataFrame:
    """A GPU_SAMPLES frame, one row per GPU per interval; GPUs come from `nodes` (default: synthetic nodes)."""
    rng = np.random.default_rng(cfg.seed)
    gpus = gpu_layout(synthetic_nodes(SyntheticNodesConfig()) if nodes is None else nodes, cfg.n_gpus)
    g_n = gpus.height
    n_t = max(1, int(cfg.hours * HOUR / cfg.interval_s + 1e-9))
    t = np.arange(n_t) * cfg.interval_s
    horizon = float(t[-1]) + cfg.interval_s

    ends, alloc = _segments(rng, cfg, g_n, horizon)
    m = ends.shape[1]
    offset = np.arange(g_n) * (ends[:, -1].max() + 1.0)
    seg = np.searchsorted((ends + offset[:, None]).ravel(), (t[None, :] + offset[:, None]).ravel(), side="right")
    seg_local = seg.reshape(g_n, n_t) - (np.arange(g_n) * m)[:, None]
    allocated = alloc[np.arange(g_n)[:, None], seg_local]

    infer = np.array([m_ in INFERENCE_MODELS for m_ in gpus["gpu_model"].fill_null("").to_list()])
    u = rng.random((g_n, m))
    kind = np.where(
        infer[:, None], np.searchsorted(np.cumsum(KIND_P_INFER), u), np.searchsorted(np.cumsum(KIND_P_TRAIN), u)
    ).clip(0, 2)
    level = LEVEL[kind, 0] + rng.random((g_n, m)) * (LEVEL[kind, 1] - LEVEL[kind, 0])
    mem_frac = MEM_FRAC[kind, 0] + rng.random((g_n, m)) * (MEM_FRAC[kind, 1] - MEM_FRAC[kind, 0])
    park = rng.uniform(0.0, 0.3, (g_n, m))  # a serving pod scales to zero when demand falls below this
    rows = np.arange(g_n)[:, None]
    k_s, lvl, mf, pk = (a[rows, seg_local] for a in (kind, level, mem_frac, park))

    # Demand swings once a day (1 at PEAK_HOUR, 0 twelve hours later): serving follows it fully,
    # notebooks are used in the day, training barely notices.
    demand = 0.5 + 0.5 * np.cos(2.0 * np.pi * (t - PEAK_HOUR * HOUR) / DAY)[None, :]
    busy = np.select([k_s == 0, k_s == 1], [lvl * (0.92 + 0.08 * demand), lvl * (0.2 + 0.8 * demand)], lvl * demand)
    blocks = rng.random((g_n, int(horizon // STALL_BLOCK_S) + 1))
    stalled = blocks[rows, (t // STALL_BLOCK_S).astype(np.int64)[None, :]] < STALL_P[k_s]
    parked = (k_s == 1) & (demand < pk)
    active = allocated & ~stalled & ~parked
    # Active samples never read exactly 0, so runs of 0 are idle gaps and nothing else.
    util = np.where(active, np.clip(busy + cfg.noise * rng.standard_normal((g_n, n_t)), 0.02, 1.0), 0.0)

    mem_total = gpus["mem_total_bytes"].to_numpy().astype(np.float64)  # NaN where unknown
    mem_used = np.where(allocated, mf * (0.75 + 0.25 * util), 0.0) * mem_total[:, None]
    pw = np.array(
        [POWER_W.get(gpu_spec(x).name.upper(), DEFAULT_POWER_W) for x in gpus["gpu_model"].fill_null("").to_list()]
    )
    idle_w, tdp = pw[:, 0:1], pw[:, 1:2]
    power = idle_w + (tdp - idle_w) * util + 0.01 * tdp * rng.standard_normal((g_n, n_t))
    power = np.clip(power, 0.8 * idle_w, tdp)

    # The pod's container: CPU follows the GPU's work (data loading, pre/post-processing), host memory its
    # GPU memory. Drawn last so the GPU columns stay what they were for a given seed.
    cpu = np.clip(0.5 + 6.0 * util + 0.3 * rng.standard_normal((g_n, n_t)), 0.05, None)
    host_mem = (2.0 + 14.0 * mf * (0.9 + 0.1 * util)) * 2**30 * np.ones((g_n, n_t))

    # A pod is one allocated stretch of one GPU: named <kind>-<global stretch number>.
    seg_id = pl.Series((rows * m + seg_local).ravel()).cast(pl.Utf8).str.zfill(len(str(g_n * m)))
    step_us = round(cfg.interval_s * 1e6)
    start_us = (cfg.start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    ts_us = np.tile(start_us + np.arange(n_t, dtype=np.int64) * step_us, g_n)
    idx = np.repeat(np.arange(g_n), n_t)
    out = pl.DataFrame(
        {
            "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
            "node": gpus["node"].gather(idx),
            "gpu_index": gpus["gpu_index"].gather(idx),
            "gpu_model": gpus["gpu_model"].gather(idx),
            "mig_profile": pl.Series([None] * idx.size, dtype=pl.Utf8),
            "util": np.round(util.ravel(), 4),
            "mem_used_bytes": pl.Series(np.rint(mem_used.ravel())).cast(pl.Int64, strict=False),
            "mem_total_bytes": gpus["mem_total_bytes"].gather(idx),
            "power_w": np.round(power.ravel(), 1),
            "cpu": np.round(cpu.ravel(), 3),
            "host_mem": pl.Series(np.rint(host_mem.ravel())).cast(pl.Int64, strict=False),
            "alloc": allocated.ravel(),
            "kind": pl.Series(KINDS).gather(k_s.ravel()),
            "seg": seg_id,
        }
    )
    return out.with_columns(
        pl.when("alloc").then(pl.Series(NAMESPACES).gather(k_s.ravel())).alias("namespace"),
        pl.when("alloc").then(pl.col("kind") + "-" + pl.col("seg")).alias("pod"),
        pl.when("alloc").then(pl.lit("main")).alias("container"),
        pl.lit("synthetic").alias("source"),
        gpus["gpu_uuid"].gather(idx).alias("gpu_uuid"),
        pl.when("alloc").then(pl.col("cpu")).alias("cpu_used_cores"),
        pl.when("alloc").then(pl.col("host_mem")).alias("host_mem_used_bytes"),
        pl.when("alloc").then(pl.lit(0, pl.Int64)).alias("oom_killed"),
        # no random draws here, so a seed's earlier columns stay as they were: the die warms with work and
        # the SM clock drops to idle when nothing runs
        (30.0 + 45.0 * pl.col("util")).round(1).alias("temp_c"),
        pl.when(pl.col("util") > 0.01).then(1410.0).otherwise(210.0).alias("sm_clock_mhz"),
        pl.lit(0, pl.Int64).alias("xid_errors"),
    ).select(GPU_SAMPLES.names)
