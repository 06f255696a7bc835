"""GPU_SAMPLES as DCGM-exporter metrics in the OpenMetrics text format, for `promtool tsdb
create-blocks-from openmetrics` (backfilling a Prometheus with recorded history) and the exporter's replay.

Timestamps are seconds; samples of one metric family stand together, each series in time order; the file
ends with `# EOF`, as promtool requires.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

MIB = 2**20
# column -> (DCGM metric, multiplier from canonical units)
DCGM_NAMES = {
    "util": ("DCGM_FI_DEV_GPU_UTIL", 100.0),
    "mem_used_bytes": ("DCGM_FI_DEV_FB_USED", 1 / MIB),
    "power_w": ("DCGM_FI_DEV_POWER_USAGE", 1.0),
    "temp_c": ("DCGM_FI_DEV_GPU_TEMP", 1.0),
    "sm_clock_mhz": ("DCGM_FI_DEV_SM_CLOCK", 1.0),
    "xid_errors": ("DCGM_FI_DEV_XID_ERRORS", 1.0),
}


LABELS = {
    "Hostname": "node",
    "UUID": "gpu_uuid",
    "gpu": "gpu_index",
    "modelName": "gpu_model",
    "namespace": "namespace",
    "pod": "pod",
}


def write_openmetrics(samples: pl.DataFrame, path: str | Path) -> int:
    """Write the GPU_SAMPLES columns that map to DCGM metrics; returns the number of samples written.

    Lines are built column-wise with polars, so millions of samples take seconds, not minutes."""
    f = samples.with_columns(pl.col("ts").dt.epoch("s").alias("_t"))
    keys = [c for c in LABELS.values() if c in f.columns]
    f = f.sort([*keys, "_t"], nulls_last=True)
    # one label string per row: name="value" for the labels that are set, comma-separated
    pairs = [
        pl.when(pl.col(col).is_not_null() & (pl.col(col).cast(pl.String) != "")).then(
            pl.lit(f'{name}="') + pl.col(col).cast(pl.String) + pl.lit('"')
        )
        for name, col in LABELS.items()
        if col in f.columns
    ]
    f = f.with_columns(pl.concat_str(pairs, separator=",", ignore_nulls=True).alias("_labels"))
    n = 0
    with open(path, "w") as out:
        for col, (metric, mult) in DCGM_NAMES.items():
            if col not in f.columns:
                continue
            part = f.filter(pl.col(col).is_not_null())
            if part.height == 0:
                continue
            lines = part.select(
                pl.format(
                    "{}{{{}}} {} {}",
                    pl.lit(metric),
                    pl.col("_labels"),
                    (pl.col(col).cast(pl.Float64) * mult).round(10),
                    pl.col("_t"),
                )
            ).to_series()
            out.write(f"# TYPE {metric} gauge\n")
            out.write("\n".join(lines.to_list()))
            out.write("\n")
            n += part.height
        out.write("# EOF\n")
    return n


def write_ksm_openmetrics(jobs: pl.DataFrame, path: str | Path, *, epoch_s: float, scrape_s: float = 300.0) -> int:
    """kube-state-metrics series for finished JOBS (one pod each, namespace = group or 'default'), scraped
    every `scrape_s` from creation until two scrapes after completion: what a cluster that ran these jobs
    would have shown Prometheus. `epoch_s` places the trace's time zero in Unix time. Returns samples."""
    import numpy as np

    j = jobs.filter(pl.col("duration").is_not_null() & (pl.col("num_gpus") > 0))
    ns = j["group"].fill_null("default").to_list() if "group" in j.columns else ["default"] * j.height
    sub = j["submit_time"].to_numpy() + epoch_s
    wait = j["trace_wait"].fill_null(0.0).to_numpy() if "trace_wait" in j.columns else np.zeros(j.height)
    begin = sub + wait
    end = begin + j["duration"].to_numpy()
    series: dict[str, list[str]] = {k: [] for k in ("created", "start", "completion", "requests", "phase", "owner")}
    n = 0
    for k, (job, g) in enumerate(zip(j["job_id"].to_list(), j["num_gpus"].to_list(), strict=True)):
        pod = f"job-{job}".replace("/", "-")
        lab = f'namespace="{ns[k]}",pod="{pod}"'
        first = np.ceil(sub[k] / scrape_s) * scrape_s
        times = np.arange(first, end[k] + 2 * scrape_s, scrape_s).astype(np.int64)
        for t in times:
            series["created"].append(f"kube_pod_created{{{lab}}} {sub[k]:.0f} {t}")
            series["owner"].append(f'kube_pod_owner{{{lab},owner_kind="Job",owner_name="{pod}"}} 1 {t}')
            series["requests"].append(
                f'kube_pod_container_resource_requests{{{lab},container="main",resource="nvidia_com_gpu",unit="integer"}}'
                f" {g:g} {t}"
            )
            if t >= begin[k]:
                series["start"].append(f"kube_pod_start_time{{{lab}}} {begin[k]:.0f} {t}")
            if t >= end[k]:
                series["completion"].append(f"kube_pod_completion_time{{{lab}}} {end[k]:.0f} {t}")
            phase = "Succeeded" if t >= end[k] else "Running" if t >= begin[k] else "Pending"
            series["phase"].append(f'kube_pod_status_phase{{{lab},phase="{phase}"}} 1 {t}')
            n += 1
    names = {
        "created": "kube_pod_created",
        "start": "kube_pod_start_time",
        "completion": "kube_pod_completion_time",
        "requests": "kube_pod_container_resource_requests",
        "phase": "kube_pod_status_phase",
        "owner": "kube_pod_owner",
    }
    with open(path, "w") as out:
        for key, metric in names.items():
            if series[key]:
                out.write(f"# TYPE {metric} gauge\n")
                out.write("\n".join(series[key]) + "\n")
        out.write("# EOF\n")
    return n
