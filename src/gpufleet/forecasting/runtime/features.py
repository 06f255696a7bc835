"""Submission-time features for runtime prediction, with history computed only from jobs already finished.

Everything here is known when a job is submitted: its GPU count and type, user, job name (and its first
token), hour of day, day of week, and running statistics of log duration over the jobs that had
*finished* (submit + duration <= this submit) by then, per user, per (user, name), per name, per GPU
count, and overall. Trace times are relative seconds, so hour/day are of the trace's own clock.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import polars as pl

CATEGORICAL = ("user", "name", "name_token", "gpu_type", "group")
NUMERIC_BASE = ("log2_gpus", "hour", "dow", "gap_same_gpus_s")
HIST_KEYS = ("user", "user_name", "name", "gpus", "all")
HIST_STATS = ("n", "mean", "recent", "last")
RECENT = 5  # jobs in the "recent" mean


def _log(d: float) -> float:
    return math.log1p(max(d, 0.0))


@dataclass
class _Stat:
    n: int = 0
    total: float = 0.0
    last: float = math.nan
    window: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))

    def add(self, v: float) -> None:
        self.n += 1
        self.total += v
        self.last = v
        self.window.append(v)

    def row(self) -> tuple[float, float, float, float]:
        if not self.n:
            return (0.0, math.nan, math.nan, math.nan)
        return (float(self.n), self.total / self.n, sum(self.window) / len(self.window), self.last)


def _token(name: str | None) -> str | None:
    if not name:
        return None
    parts = re.split(r"[^A-Za-z]+", name)
    return next((p.lower() for p in parts if p), None)


def history_features(jobs: pl.DataFrame) -> pl.DataFrame:
    """Causal running statistics of log duration, one row per job in input order."""
    n = jobs.height
    sub = jobs["submit_time"].to_list()
    dur = jobs["duration"].to_list()
    user = jobs["user"].cast(pl.Utf8).to_list() if "user" in jobs.columns else [None] * n
    name = jobs["name"].cast(pl.Utf8).to_list() if "name" in jobs.columns else [None] * n
    gpus = jobs["num_gpus"].to_list()
    keys = [
        (("u", u) if u else None, ("un", u, nm) if u and nm else None, ("n", nm) if nm else None, ("g", g), ("all",))
        for u, nm, g in zip(user, name, gpus, strict=True)
    ]
    stats: dict[tuple[object, ...], _Stat] = {}
    out = np.full((n, len(HIST_KEYS) * len(HIST_STATS)), np.nan)
    gap = np.full(n, np.nan)
    last_submit_by_gpus: dict[float, float] = {}
    pending: list[tuple[float, int]] = []
    for i in sorted(range(n), key=lambda k: (sub[k], k)):
        while pending and pending[0][0] <= sub[i]:
            _, j = heapq.heappop(pending)
            v = _log(dur[j])
            for key in keys[j]:
                if key is not None:
                    stats.setdefault(key, _Stat()).add(v)
        row: list[float] = []
        for key in keys[i]:
            s = stats.get(key) if key is not None else None
            row.extend(s.row() if s else (0.0, math.nan, math.nan, math.nan))
        out[i] = row
        prev = last_submit_by_gpus.get(gpus[i])
        gap[i] = sub[i] - prev if prev is not None else np.nan
        last_submit_by_gpus[gpus[i]] = sub[i]
        if dur[i] is not None and math.isfinite(dur[i]):
            heapq.heappush(pending, (sub[i] + dur[i], i))
    # Counts of all finished jobs and of a GPU class only grow with trace time: trees cannot extrapolate
    # them and learn the calendar instead of the job (it showed on ITP validation), so they are left out.
    cols = {
        f"h_{k}_{s}": out[:, a * len(HIST_STATS) + b]
        for a, k in enumerate(HIST_KEYS)
        for b, s in enumerate(HIST_STATS)
        if not (s == "n" and k in ("all", "gpus"))
    }
    cols["gap_same_gpus_s"] = gap
    return pl.DataFrame(cols)


def runtime_features(jobs: pl.DataFrame) -> pl.DataFrame:
    """All features, one row per job in input order (categoricals as text, numbers as floats)."""
    t = jobs["submit_time"]
    cat = {
        c: (jobs[c].cast(pl.Utf8) if c in jobs.columns else pl.Series(c, [None] * jobs.height, pl.Utf8))
        for c in ("user", "name", "gpu_type", "group")
    }
    base = pl.DataFrame(
        {
            "user": cat["user"],
            "name": cat["name"],
            "name_token": pl.Series([_token(x) for x in cat["name"].to_list()], dtype=pl.Utf8),
            "gpu_type": cat["gpu_type"],
            "group": cat["group"],
            "log2_gpus": np.log2(np.maximum(jobs["num_gpus"].to_numpy().astype(float), 0.0) + 1.0),
            "hour": ((t // 3600) % 24).cast(pl.Float64),
            "dow": ((t // 86400) % 7).cast(pl.Float64),
        }
    )
    return pl.concat([base, history_features(jobs)], how="horizontal")


def usable_features(feats: pl.DataFrame) -> tuple[list[str], list[str]]:
    """(features with information, features that are empty or constant in this data)."""
    used: list[str] = []
    missing: list[str] = []
    for c in feats.columns:
        s = feats[c]
        (used if s.null_count() < s.len() and s.drop_nulls().n_unique() > 1 else missing).append(c)
    return used, missing
