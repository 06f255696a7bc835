"""Profiles of canonical frames, for `traces show` and `traces compare` (pure polars, plain dicts out)."""

from __future__ import annotations

from typing import Any

import polars as pl

from gpufleet.core.units import DAY, HOUR

GPU_CLASSES = (1, 2, 4, 8, 16, 32, 64)
QUANTILES = (0.1, 0.5, 0.9, 0.99)


def _q(s: pl.Series) -> dict[str, float | None]:
    s = s.drop_nulls()
    if s.len() == 0:
        return {f"p{int(q * 100)}": None for q in QUANTILES}
    return {f"p{int(q * 100)}": float(s.quantile(q, interpolation="linear")) for q in QUANTILES}  # type: ignore[arg-type]


def gpu_mix(jobs: pl.DataFrame) -> dict[str, float]:
    """Share of jobs by GPU request class: 0, fractional, 1, 2, 4 ... 64, and anything else."""
    g = jobs.get_column("num_gpus")
    n = max(jobs.height, 1)
    out = {"0": float((g == 0).sum()) / n, "<1": float(((g > 0) & (g < 1)).sum()) / n}
    for c in GPU_CLASSES:
        out[str(c)] = float((g == c).sum()) / n
    out["other"] = max(0.0, 1.0 - sum(out.values()))
    return out


def hourly_arrivals(times: pl.Series) -> list[float]:
    """Share of arrivals in each hour of the day (hour = seconds // 3600 mod 24 of the trace's clock)."""
    t = times.drop_nulls()
    if t.len() == 0:
        return [0.0] * 24
    hours = ((t // HOUR) % 24).cast(pl.Int64)
    counts = hours.value_counts().sort(hours.name)
    shares = [0.0] * 24
    for h, c in zip(counts[hours.name].to_list(), counts["count"].to_list(), strict=True):
        shares[int(h)] = c / t.len()
    return shares


def profile(frame: pl.DataFrame, table: str) -> dict[str, Any]:
    """Summary statistics of one canonical frame; the keys depend on the table."""
    fn = {"JOBS": _jobs, "NODES": _nodes, "REQUESTS": _requests, "GPU_SAMPLES": _samples, "SERIES": _series}
    return {"table": table, "rows": frame.height} | fn[table](frame)


def _span(t: pl.Series) -> float:
    t = t.drop_nulls()
    return float(t.max() - t.min()) if t.len() else 0.0  # type: ignore[operator]


def _jobs(f: pl.DataFrame) -> dict[str, Any]:
    span = _span(f["submit_time"])
    users = f["user"].drop_nulls()
    per_user = None
    if users.len():
        counts = users.value_counts()["count"]
        per_user = {
            "users": counts.len(),
            "median": float(counts.median()),
            "p90": float(counts.quantile(0.9)),  # type: ignore[arg-type]
            "max": int(counts.max()),
        }  # type: ignore[arg-type]
    dur = f["duration"]
    status = f["status"].drop_nulls()
    return {
        "span_days": span / DAY,
        "jobs_per_day": f.height / (span / DAY) if span > 0 else None,
        "gpu_mix": gpu_mix(f),
        "duration_s": _q(dur),
        "duration_known": int(dur.drop_nulls().len()),
        "gpu_hours": float((dur.fill_null(0) * f["num_gpus"]).sum()) / HOUR,
        "hourly_arrivals": hourly_arrivals(f["submit_time"]),
        "jobs_per_user": per_user,
        "status": {k: int(v) for k, v in status.value_counts().sort("count", descending=True).iter_rows()}
        if status.len()
        else None,
    }


def _nodes(f: pl.DataFrame) -> dict[str, Any]:
    by = (
        f.group_by(pl.col("gpu_type").fill_null("(none)"))
        .agg(pl.len().alias("nodes"), pl.col("num_gpus").sum().alias("gpus"))
        # ties by name: group_by's order is not fixed, and the demo's printed summary must not vary run to run
        .sort(["nodes", "gpu_type"], descending=[True, False])
    )
    return {
        "gpus": int(f["num_gpus"].sum()),
        "gpu_nodes": int((f["num_gpus"] > 0).sum()),
        "by_gpu_type": {r["gpu_type"]: {"nodes": r["nodes"], "gpus": r["gpus"]} for r in by.iter_rows(named=True)},
    }


def _requests(f: pl.DataFrame) -> dict[str, Any]:
    t = f["arrival_time"]
    span = _span(t)
    per_min = (t // 60).value_counts()["count"] / 60.0 if f.height else pl.Series([0.0])
    return {
        "span_hours": span / HOUR,
        "mean_rps": f.height / span if span > 0 else None,
        "peak_1min_rps": float(per_min.max()),  # type: ignore[arg-type]
        "input_tokens": {"mean": f["input_tokens"].mean(), **_q(f["input_tokens"].cast(pl.Float64))},
        "output_tokens": {"mean": f["output_tokens"].mean(), **_q(f["output_tokens"].cast(pl.Float64))},
        "service_time_s": _q(f["service_time"]),
        "hourly_arrivals": hourly_arrivals(t),
    }


def _samples(f: pl.DataFrame) -> dict[str, Any]:
    key = pl.coalesce(pl.col("gpu_uuid"), pl.col("pod"), pl.col("node"))
    util = f["util"]
    return {
        "span_hours": (f["ts"].max() - f["ts"].min()).total_seconds() / HOUR if f.height else 0.0,  # type: ignore[operator, union-attr]
        "devices": f.select(key.n_unique()).item(),
        "util_mean": util.mean(),
        "util": _q(util),
        "idle_share": float((util == 0).sum()) / max(util.drop_nulls().len(), 1),
        "mem_used_gib": {
            k: (v / 2**30 if v is not None else None) for k, v in _q(f["mem_used_bytes"].cast(pl.Float64)).items()
        },
    }


def _series(f: pl.DataFrame) -> dict[str, Any]:
    step = None
    if f.height > 1:
        d = f.sort(["unique_id", "ds"]).group_by("unique_id").agg(pl.col("ds").diff().drop_nulls().median())
        s = d["ds"].drop_nulls()
        step = s.median().total_seconds() if s.len() else None  # type: ignore[union-attr]
    return {
        "series": f["unique_id"].n_unique(),
        "span_hours": (f["ds"].max() - f["ds"].min()).total_seconds() / HOUR if f.height else 0.0,  # type: ignore[operator, union-attr]
        "step_s": step,
        "y": {"mean": f["y"].mean(), "min": f["y"].min(), "max": f["y"].max()},
        "ids": sorted(f["unique_id"].unique().to_list())[:12],
    }
