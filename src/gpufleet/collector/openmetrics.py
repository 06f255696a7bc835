"""GPU_SAMPLES as DCGM-exporter metrics in the OpenMetrics text format, for `promtool tsdb
create-blocks-from openmetrics` (backfilling a Prometheus with recorded history) and the exporter's replay.

Timestamps are seconds; samples of one metric family stand together, each series in time order; the file
ends with `# EOF`, as promtool requires.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpufleet.collector import dcgm

# column -> (DCGM metric, multiplier from canonical units); names and units from collector/dcgm.py
DCGM_NAMES = {
    c: (dcgm.BY_COLUMN[c].metric, 1 / dcgm.BY_COLUMN[c].scale)
    for c in ("util", "mem_used_bytes", "power_w", "temp_c", "sm_clock_mhz", "xid_errors")
}


LABELS = {
    "Hostname": "node",
    "UUID": "gpu_uuid",
    "gpu": "gpu_index",
    "modelName": "gpu_model",
    "namespace": "namespace",
    "pod": "pod",
}


def write_openmetrics(samples: pl.DataFrame, path: str | Path, labels: dict[str, str] | None = None) -> int:
    """Write the GPU_SAMPLES columns that map to DCGM metrics; returns the number of samples written.
    `labels` (label name -> column) replaces the dcgm-exporter spellings, as other deployments name them.

    Lines are built column-wise with polars, so millions of samples take seconds, not minutes."""
    f = samples.with_columns(pl.col("ts").dt.epoch("s").alias("_t"))
    spelling = labels or LABELS
    keys = [c for c in spelling.values() if c in f.columns]
    f = f.sort([*keys, "_t"], nulls_last=True)
    # one label string per row: name="value" for the labels that are set, comma-separated
    pairs = [
        pl.when(pl.col(col).is_not_null() & (pl.col(col).cast(pl.String) != "")).then(
            pl.lit(f'{name}="') + pl.col(col).cast(pl.String) + pl.lit('"')
        )
        for name, col in spelling.items()
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


def vllm_replicas(requests: pl.DataFrame, pods: int = 2) -> pl.DataFrame:
    """REQUESTS given to `pods` vLLM replicas round-robin, each with a finish time from a simple service model
    (prefill at 5,000 tokens/s, decode at 40 tokens/s per sequence — the defaults of the serving profile):
    columns pod (0..pods-1), arrival, finish, input_tokens, output_tokens."""
    r = requests.sort("arrival_time").with_row_index("_i")
    return r.select(
        (pl.col("_i") % pods).cast(pl.Int64).alias("pod"),
        pl.col("arrival_time").alias("arrival"),
        (
            pl.col("arrival_time")
            + pl.col("input_tokens").fill_null(0) / 5000.0
            + pl.col("output_tokens").fill_null(0) / 40.0
        ).alias("finish"),
        pl.col("input_tokens").fill_null(0),
        pl.col("output_tokens").fill_null(0),
    )


def write_vllm_openmetrics(
    served: pl.DataFrame,
    path: str | Path,
    *,
    epoch_s: float,
    scrape_s: float = 15.0,
    namespace: str = "llm",
    model: str = "code",
    restart: tuple[int, float] | None = None,
    max_running: int = 8,
) -> int:
    """vLLM metrics as its replicas would have shown them, scraped every `scrape_s` (Unix time = `epoch_s` +
    trace time): counters `vllm:request_success_total`, `vllm:prompt_tokens_total`,
    `vllm:generation_tokens_total` (finished requests and their tokens up to the scrape), gauges
    `vllm:num_requests_running` (at most `max_running`), `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`.
    `restart=(pod, t)` restarts that pod at scrape time t: its counters start again from zero.
    `served` comes from `vllm_replicas`. Returns the samples written."""
    import numpy as np

    end = float(served["finish"].max())  # type: ignore[arg-type]
    times = np.arange(0.0, end + 2 * scrape_s, scrape_s)
    lines: dict[str, list[str]] = {}
    n = 0
    for pod, g in served.group_by("pod", maintain_order=True):
        p = int(pod[0])
        fin = np.sort(g["finish"].to_numpy())
        order = np.argsort(g["finish"].to_numpy())
        cum_in = np.concatenate([[0], np.cumsum(g["input_tokens"].to_numpy()[order])])
        cum_out = np.concatenate([[0], np.cumsum(g["output_tokens"].to_numpy()[order])])
        arr = np.sort(g["arrival"].to_numpy())
        done = np.searchsorted(fin, times, side="right")  # finished at or before each scrape
        base = np.zeros_like(done)
        if restart is not None and restart[0] == p:
            k = int(np.searchsorted(times, restart[1]))
            base[k:] = done[k - 1]  # what the restarted process no longer remembers
        inflight = np.searchsorted(arr, times, side="right") - done
        running = np.minimum(inflight, max_running)
        lab = f'namespace="{namespace}",pod="vllm-{model}-7c9d4b8f6-p{p:04d}",model_name="{model}"'
        ts = (times + epoch_s).astype(np.int64)
        for name, vals in (
            ("vllm:request_success_total", done - base),
            ("vllm:prompt_tokens_total", cum_in[done] - cum_in[base]),
            ("vllm:generation_tokens_total", cum_out[done] - cum_out[base]),
            ("vllm:num_requests_running", running),
            ("vllm:num_requests_waiting", inflight - running),
            ("vllm:kv_cache_usage_perc", np.round(running / max_running, 6)),
        ):
            lines.setdefault(name, []).extend(f"{name}{{{lab}}} {v:.12g} {t}" for v, t in zip(vals, ts, strict=True))
            n += len(ts)
    with open(path, "w") as out:
        for name, ls in lines.items():
            kind = "counter" if name.endswith("_total") else "gauge"
            family = name.removesuffix("_total") if kind == "counter" else name
            out.write(f"# TYPE {family} {kind}\n")
            out.write("\n".join(ls))
            out.write("\n")
        out.write("# EOF\n")
    return n


def write_serving_openmetrics(
    per_second: pl.DataFrame,
    requests: pl.DataFrame,
    path: str | Path,
    *,
    epoch_s: int,
    namespace: str,
    model: str,
    gateway: str = "gateway_requests_total",
) -> int:
    """A serving replay's per-second demand as one vLLM pod and its gateway would have shown it, scraped
    every second (Unix time = `epoch_s` + replay time): at second s+1, `vllm:num_requests_running` is the
    time-averaged requests in the system during second s (`vllm:num_requests_waiting` 0), the gateway's
    counter `<gateway>{namespace,service}` the arrivals before s+1, and
    `vllm:request_inference_time_seconds_sum/_count` the service time of the requests that arrived by then.
    `per_second` has (t, concurrency, arrivals); `requests` (arrival, service_s) per request. A first scrape
    at second 0 shows the counters at zero, as an engine that just started does. Returns samples written."""
    import numpy as np

    conc = per_second["concurrency"].to_numpy()
    arr = np.concatenate([[0.0], np.cumsum(per_second["arrivals"].to_numpy())])
    a = requests["arrival"].to_numpy()
    order = np.argsort(a, kind="stable")
    a, svc = a[order], requests["service_s"].to_numpy()[order]
    svc_cum = np.concatenate([[0.0], np.cumsum(svc)])
    secs = np.arange(len(conc) + 1)
    upto = np.searchsorted(a, secs, side="right")  # requests that arrived at or before each second
    pod = f'namespace="{namespace}",model_name="{model}",pod="vllm-{model}-0"'
    ts = secs + epoch_s
    series = {
        "vllm:num_requests_running": (pod, np.concatenate([[0.0], conc])),
        "vllm:num_requests_waiting": (pod, np.zeros(len(secs))),
        gateway: (f'namespace="{namespace}",service="{model}"', arr),
        "vllm:request_inference_time_seconds_sum": (pod, svc_cum[upto]),
        "vllm:request_inference_time_seconds_count": (pod, upto.astype(float)),
    }
    n = 0
    with open(path, "w") as out:
        for name, (lab, vals) in series.items():
            out.write(f"# TYPE {name} gauge\n")  # counters and histogram parts alike: promtool keeps the values
            out.write("\n".join(f"{name}{{{lab}}} {v!r} {t}" for v, t in zip(vals.tolist(), ts.tolist(), strict=True)))
            out.write("\n")
            n += len(ts)
        out.write("# EOF\n")
    return n


def write_ksm_nodes_openmetrics(nodes: pl.DataFrame, path: str | Path, times: list[int]) -> int:
    """kube-state-metrics node capacity for NODES, scraped at `times` (Unix seconds):
    `kube_node_status_allocatable` for nvidia_com_gpu, cpu and memory, and `kube_node_labels` with the GPU
    model as GPU feature discovery labels it and the pool as Karpenter does. Returns samples written."""
    alloc: list[str] = []
    labels: list[str] = []
    for r in nodes.iter_rows(named=True):
        node = r["node_id"]
        extra = ""
        if r.get("gpu_type"):
            extra += f',label_nvidia_com_gpu_product="{r["gpu_type"]}"'
        if r.get("pool"):
            extra += f',label_karpenter_sh_nodepool="{r["pool"]}"'
        for t in times:
            alloc.append(
                f'kube_node_status_allocatable{{node="{node}",resource="nvidia_com_gpu",unit="integer"}}'
                f" {r['num_gpus'] or 0} {t}"
            )
            if r.get("num_cpus") is not None:
                alloc.append(
                    f'kube_node_status_allocatable{{node="{node}",resource="cpu",unit="core"}} {r["num_cpus"]:.12g} {t}'
                )
            if r.get("mem_bytes") is not None:
                alloc.append(
                    f'kube_node_status_allocatable{{node="{node}",resource="memory",unit="byte"}} {r["mem_bytes"]} {t}'
                )
            labels.append(f'kube_node_labels{{node="{node}"{extra}}} 1 {t}')
    with open(path, "w") as out:
        out.write("# TYPE kube_node_status_allocatable gauge\n" + "\n".join(alloc) + "\n")
        out.write("# TYPE kube_node_labels gauge\n" + "\n".join(labels) + "\n# EOF\n")
    return len(alloc) + len(labels)
