"""Synthetic training jobs calibrated to the Microsoft ITP cluster04 trace (GPU mix, run times, arrivals)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl

from gpufleet.core.schemas import JOBS
from gpufleet.core.units import DAY, HOUR, GiB
from gpufleet.traces.synthetic.config import GPU_SIZES, SyntheticJobsConfig

# Hour-of-day arrival profile (mean 1) of ITP cluster04, submission_time // 3600 % 24 with the trace's own
# (unknown) time zone, smoothed over 3 hours: raw hourly counts are dominated by batch submissions.
# fmt: off
HOUR_PROFILE = np.array([
    0.973, 0.959, 0.999, 1.012, 1.153, 1.081, 1.133, 1.076, 1.114, 1.034, 1.007, 0.936,
    0.963, 0.888, 0.838, 0.865, 0.889, 1.002, 0.934, 0.997, 1.036, 1.086, 1.030, 0.995,
])

# Run time quantile function per GPU count (rows in GPU_SIZES order): seconds at the probabilities in
# QUANTILE_P, measured on ITP cluster04 (np.percentile of `duration` per `num_gpu`). A job's run time is
# read off this table (log-linear between knots), so every size keeps the trace's own shape.
QUANTILE_P = np.array([0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99,
                       0.995, 1])
QUANTILE_S = np.array([
    [600, 826, 998, 1248, 4844, 6535, 7429, 7596, 9079, 10659, 14285, 16039, 18517, 20094, 23912, 27373, 56024,
     69814, 132286],  # 1 GPU, 11,924 jobs
    [601, 604, 629, 655, 717, 727, 741, 800, 808, 813, 821, 1203, 10650, 12643, 24466, 54659, 58219, 111012,
     195641],  # 2 GPUs, 125 jobs
    [640, 852, 1895, 2575, 3045, 4456, 5679, 6442, 7510, 8814, 8976, 9130, 14777, 20062, 60649, 66469, 69319,
     405882, 1079960],  # 4 GPUs, 532 jobs
    [600, 800, 1474, 2991, 7670, 11299, 14708, 18447, 23312, 35484, 54671, 77320, 107273, 136655, 191275, 360902,
     658303, 940543, 1237189],  # 8 GPUs, 2,779 jobs
    [607, 613, 661, 725, 1554, 3312, 35325, 60468, 67700, 101167, 155829, 222596, 293796, 313603, 335302, 410053,
     597834, 598633, 602150],  # 16 GPUs, 182 jobs
    [602, 706, 1643, 2335, 11935, 44421, 81419, 85561, 107699, 122107, 147407, 154663, 213999, 255227, 290286,
     374402, 530430, 630279, 671371],  # 32 GPUs, 254 jobs
    [60710, 60786, 61091, 61472, 62234, 163045, 263856, 263994, 264133, 404372, 544612, 545659, 546706, 547230,
     547754, 548277, 548592, 548696, 548801],  # 64 GPUs, 6 jobs
], dtype=np.float64)
# fmt: on
LOG_Q = np.log(QUANTILE_S)

# Job-name vocabulary: '<family>-<task>-<number>' (the number makes each name one user's own template).
# fmt: off
FAMILIES = ("resnet50", "bert-base", "bert-large", "gpt2", "t5-base", "vit-b16", "llama-7b", "whisper",
            "yolov8", "wav2vec2", "mixtral", "clip-vit", "sd-unet", "deberta")
# fmt: on
TRAIN_TASKS = ("pretrain", "finetune", "sweep", "distill", "ablation", "lora")
OTHER_TASKS = ("eval", "preprocess", "notebook")
CPUS_PER_GPU = np.array([4.0, 6.0, 8.0, 10.0])  # fit the leanest default node (V100: 80 threads / 8 GPUs)
MEM_GIB_PER_GPU = np.array([16, 24, 32, 48])  # fit the smallest default node (A10/T4: 192 GiB / 4 GPUs)
STATUS = ("Pass", "Failed", "Killed")


def _zipf_weights(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Zipf-like weights in a random order (exponent 1.1: Philly's 10 busiest of 136 users submit 65%)."""
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(w / w.sum())


def _batches(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    """Batch index of each of `n` jobs; batch sizes are geometric with the given mean."""
    sizes = rng.geometric(1.0 / mean, size=int(n / mean) + 16)
    while sizes.sum() < n:  # rare: the first draw fell short
        sizes = np.concatenate([sizes, rng.geometric(1.0 / mean, size=int(n / mean) + 16)])
    return np.repeat(np.arange(sizes.size), sizes)[:n]


def arrival_weights(cfg: SyntheticJobsConfig, day_factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative arrival weight and width (s) of each hour slot of the window."""
    n_slots = int(np.ceil(cfg.days * 24 - 1e-9))
    slot = np.arange(n_slots)
    width = np.minimum(HOUR, cfg.days * DAY - slot * HOUR)
    hour_w = np.clip(1.0 + cfg.diurnal_strength * (HOUR_PROFILE[slot % 24] - 1.0), 0.0, None)
    day = slot // 24
    week_w = np.where(day % 7 >= 5, cfg.weekend_factor, 1.0)  # day 0 is a Monday
    w = hour_w * week_w * day_factor[day] * width / HOUR
    if w.sum() <= 0:  # e.g. weekend_factor 0 over a weekend-only window: fall back to uniform
        w = width / HOUR
    return w / w.sum(), width


def _stratified_z(rng: np.random.Generator, weight: np.ndarray, size_idx: np.ndarray) -> np.ndarray:
    """Standard-normal scores per name, spread so that the job-weighted scores of each GPU size are N(0, 1).

    Independent draws would let a few popular names decide the quantiles of a whole run; instead names
    get, in random order, the normal quantile at the midpoint of their share of the size's expected jobs.
    """
    order = np.lexsort((rng.random(weight.size), size_idx))
    w = weight[order]
    cum = np.cumsum(w)
    starts = np.searchsorted(size_idx[order], size_idx[order])  # first row of each size in `order`
    before = cum[starts] - w[starts]
    total = np.zeros(len(GPU_SIZES))
    np.add.at(total, size_idx, weight)
    mid = (cum - before - w / 2.0) / total[size_idx[order]]
    inv = NormalDist().inv_cdf
    z = np.empty(weight.size)
    z[order] = [inv(min(max(m, 1e-9), 1 - 1e-9)) for m in mid]
    return z


def _templates(rng: np.random.Generator, cfg: SyntheticJobsConfig, weight: np.ndarray) -> dict[str, np.ndarray]:
    """Per-name attributes; name i belongs to user i // (K*T) and GPU size (i // T) % K."""
    k, t = len(GPU_SIZES), cfg.names_per_user
    n_t = cfg.n_users * k * t
    size_idx = (np.arange(n_t) // t) % k
    gpus = np.asarray(GPU_SIZES, dtype=np.float64)[size_idx]
    other = rng.random(n_t) < cfg.other_rate
    # Pins index into gpu_types + small_gpu_types (the latter only for <= 4 GPUs); the last index is null.
    n_all = len(cfg.gpu_types) + len(cfg.small_gpu_types)
    pick = rng.random(n_t)
    n_choices = np.where(gpus <= 4, n_all, len(cfg.gpu_types))
    pinned = rng.random(n_t) < cfg.constrained_rate
    return {
        "size_idx": size_idx,
        "gpus": gpus,
        "z": _stratified_z(rng, weight, size_idx),
        "other": other,
        "gpu_type": np.where(pinned, (pick * n_choices).astype(np.int64), n_all),
        "cpus_per_gpu": CPUS_PER_GPU[rng.integers(0, CPUS_PER_GPU.size, n_t)],
        "mem_per_gpu": MEM_GIB_PER_GPU[rng.integers(0, MEM_GIB_PER_GPU.size, n_t)],
        "family": rng.integers(0, len(FAMILIES), n_t),
        "task": np.where(
            other, len(TRAIN_TASKS) + rng.integers(0, len(OTHER_TASKS), n_t), rng.integers(0, len(TRAIN_TASKS), n_t)
        ),
    }


def _names(tm: dict[str, np.ndarray]) -> pl.Series:
    """'<family>-<task>-<number>' for every template, built column-wise."""
    n_t = tm["family"].size
    width = max(4, len(str(n_t - 1)))
    frame = pl.DataFrame(
        {
            "f": pl.Series(FAMILIES).gather(tm["family"]),
            "t": pl.Series(TRAIN_TASKS + OTHER_TASKS).gather(tm["task"]),
            "i": pl.int_range(0, n_t, eager=True).cast(pl.Utf8).str.zfill(width),
        }
    )
    return frame.select(pl.concat_str(["f", "t", "i"], separator="-"))["f"]


# erfc(z) = t * exp(-z^2 + P(t)) with t = 1 / (1 + z/2): Numerical Recipes' Chebyshev fit, lowest power first.
# fmt: off
_ERFC_COEF = np.array([-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
                       1.48851587, -0.82215223, 0.17087277])
# fmt: on


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorized (numpy has no erf; the fit's error is below 1.2e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    erfc = t * np.exp(-z * z + np.polyval(_ERFC_COEF[::-1], t))
    out: np.ndarray = np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)
    return out


def _durations(
    rng: np.random.Generator, cfg: SyntheticJobsConfig, z_name: np.ndarray, size_idx: np.ndarray, gpus: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Observed run time and status index (0 Pass, 1 Failed, 2 Killed) of each job."""
    n = z_name.size
    r = cfg.resubmit_spread
    eps = rng.standard_normal(n)
    # Name score plus the job's own noise is again N(0, 1), so each size keeps ITP's run-time quantiles.
    u = _norm_cdf(np.sqrt(1.0 - r * r) * z_name + r * eps)
    log_d = np.empty(n)
    for k in range(len(GPU_SIZES)):
        m = size_idx == k
        log_d[m] = np.interp(u[m], QUANTILE_P, LOG_Q[k])
    # Status follows the job's own noise: runs that crashed early are the short ones of their name, runs
    # someone killed the long ones (Philly: Failed median 76 s, Killed 18,407 s, Pass 218 s). Failure odds
    # grow with size (Philly: 25% of 1-GPU jobs, 52% of 8-GPU jobs failed).
    score = _norm_cdf(0.8 * eps + 0.6 * rng.standard_normal(n))
    p_fail = np.minimum(0.9, cfg.fail_rate * (1.0 + np.log2(gpus) / 3.0))
    failed = score < p_fail
    killed = ~failed & (score > 1.0 - cfg.kill_rate)
    status = np.where(failed, 1, np.where(killed, 2, 0))
    return np.round(np.exp(log_d) * cfg.duration_scale, 3), status


def synthetic_jobs(cfg: SyntheticJobsConfig) -> pl.DataFrame:
    """A JOBS frame of `cfg.n_jobs` training jobs, sorted by submit time; deterministic for a seed."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_jobs
    if n == 0:
        return JOBS.empty()
    k, t = len(GPU_SIZES), cfg.names_per_user
    user_w = _zipf_weights(rng, cfg.n_users, 1.1)
    user_group = rng.integers(0, cfg.n_groups, cfg.n_users)
    name_w = 0.6 ** np.arange(t)  # a user's first names are resubmitted most
    name_w /= name_w.sum()
    tm = _templates(rng, cfg, np.repeat(user_w, k * t) * np.tile(name_w, cfg.n_users * k))

    # A batch is one burst of submissions of the same job name (a sweep or a resubmit).
    batch = _batches(rng, n, cfg.batch_mean)
    n_b = int(batch[-1]) + 1
    mix = np.array([cfg.gpu_mix.get(g, 0.0) for g in GPU_SIZES], dtype=np.float64)
    b_size = rng.choice(k, n_b, p=mix / mix.sum())
    b_user = rng.choice(cfg.n_users, n_b, p=user_w)
    b_name = rng.choice(t, n_b, p=name_w)
    b_template = (b_user * k + b_size) * t + b_name

    n_days = int(np.ceil(cfg.days - 1e-9))
    day_factor = np.exp(cfg.day_volatility * rng.standard_normal(n_days))
    slot_p, width = arrival_weights(cfg, day_factor)
    b_slot = rng.choice(slot_p.size, n_b, p=slot_p)
    b_time = b_slot * HOUR + rng.random(n_b) * width[b_slot]

    # Jobs of one batch follow each other by a few seconds (ITP: 40% of gaps are <= 5 s).
    gap = np.cumsum(rng.exponential(2.0, n))
    first = np.searchsorted(batch, batch)
    submit = b_time[batch] + gap - gap[first]
    tmpl = b_template[batch]
    gpus = tm["gpus"][tmpl]
    duration, status = _durations(rng, cfg, tm["z"][tmpl], tm["size_idx"][tmpl], gpus)

    order = np.argsort(submit, kind="stable")
    tmpl, gpus, submit, duration, status = tmpl[order], gpus[order], submit[order], duration[order], status[order]
    user = tmpl // (k * t)
    id_width = max(7, len(str(n - 1)))
    frame = pl.DataFrame(
        {
            "job_id": pl.int_range(0, n, eager=True).cast(pl.Utf8).str.zfill(id_width),
            "submit_time": np.round(submit, 3),
            "duration": duration,
            "num_gpus": gpus,
            "gpu_type": pl.Series([*cfg.gpu_types, *cfg.small_gpu_types, None], dtype=pl.Utf8).gather(
                tm["gpu_type"][tmpl]
            ),
            "num_cpus": gpus * tm["cpus_per_gpu"][tmpl],
            "mem_bytes": (gpus * tm["mem_per_gpu"][tmpl]).astype(np.int64) * GiB,
            "rdma": pl.Series([None] * n, dtype=pl.Float64),  # the synthetic jobs ask for no RDMA
            "user": pl.int_range(0, cfg.n_users, eager=True).cast(pl.Utf8).str.zfill(3).gather(user),
            "group": pl.int_range(0, cfg.n_groups, eager=True).cast(pl.Utf8).str.zfill(2).gather(user_group[user]),
            "pool": pl.Series([None] * n, dtype=pl.Utf8),  # the synthetic fleet has one queue per GPU type
            "name": _names(tm).gather(tmpl),
            "status": pl.Series(STATUS).gather(status),
            "qos": pl.Series([None] * n, dtype=pl.Utf8),
            "kind": pl.Series(["train", "other"]).gather(tm["other"][tmpl].astype(np.int64)),
        }
    )
    return frame.with_columns(
        ("job-" + pl.col("job_id")).alias("job_id"),
        ("u" + pl.col("user")).alias("user"),
        ("team-" + pl.col("group")).alias("group"),
    ).select(JOBS.names)
