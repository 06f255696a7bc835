"""Alibaba GenAI (Stable Diffusion) serving trace v2026 (SoCC'25): requests, per-pod GPU telemetry, latencies."""

from __future__ import annotations

import polars as pl

from gpufleet.core.units import DAY
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import drop_nulls_counted, expect_seconds, read_csv

METRIC = {"timestamp_anon": "float", "value": "float", "container_ip": "str"}
MAX_UNIX_S = 4.0e9  # year 2096: shifted Unix seconds above this are milliseconds
NO_POD = "(no pod)"


def _metric(ctx: ReadContext, file: str, extra: dict | None = None) -> pl.DataFrame:  # type: ignore[type-arg]
    raw = read_csv(ctx, file, METRIC | (extra or {}))
    raw = drop_nulls_counted(ctx, raw, ["timestamp_anon", "value"], f"{file}: empty time or value")
    expect_seconds(ctx, file, raw["timestamp_anon"], max_value=MAX_UNIX_S)
    ctx.epoch = "shifted Unix time (upstream anonymization)"
    return raw.with_columns(
        pl.from_epoch(pl.col("timestamp_anon"), time_unit="s").dt.replace_time_zone("UTC").alias("ts")
    )


def _requests(ctx: ReadContext) -> pl.DataFrame:
    file = "lora_request_trace.csv.gz"
    raw = read_csv(
        ctx,
        file,
        {
            "gmt_create": "datetime",
            "predict_type": "str",
            "predict_status": "str",
            "exec_time_seconds": "float",
            "groupId": "str",
            "prompt_length": "float",
            "negative_prompt_length": "float",
            "num_images_per_prompt": "float",
            "num_inference_steps": "float",
            "checkpoint_model_version_id": "str",
            "num_lora": "int",
        },
    )
    raw = drop_nulls_counted(ctx, raw, ["gmt_create"], f"{file}: empty gmt_create")
    # Median execution is 23 s; a median above 10 min means milliseconds.
    expect_seconds(ctx, file, raw["exec_time_seconds"], max_median=600.0, max_value=DAY)
    t0 = raw["gmt_create"].min()
    ctx.epoch = str(t0)
    ctx.notes.append(
        "arrival_time = s since the first request (dates shifted upstream); no token counts:"
        " service_time = exec_time_seconds; prompt lengths are characters"
    )
    return (
        raw.with_row_index("i")
        .select(
            ("genai-" + pl.col("i").cast(pl.Utf8)).alias("request_id"),
            ((pl.col("gmt_create") - pl.lit(t0)).dt.total_microseconds() / 1e6).alias("arrival_time"),
            pl.col("checkpoint_model_version_id").alias("model"),
            pl.col("groupId").alias("client"),
            pl.col("exec_time_seconds").alias("service_time"),
            "predict_type",
            "predict_status",
            "prompt_length",
            "negative_prompt_length",
            "num_images_per_prompt",
            "num_inference_steps",
            "num_lora",
        )
        .sort("arrival_time", maintain_order=True)
    )


def _duty(ctx: ReadContext) -> pl.DataFrame:
    raw = _metric(ctx, "pod_gpu_duty_cycle_anon.csv.gz")
    ctx.notes.append("util = duty cycle / 100, per pod (container_ip hash), sampled every 57 s")
    return raw.select(
        "ts",
        (pl.col("value") / 100.0).alias("util"),
        pl.col("container_ip").alias("pod"),
        pl.lit("genai").alias("source"),
    )


def _mem(ctx: ReadContext) -> pl.DataFrame:
    raw = _metric(ctx, "pod_gpu_memory_used_bytes_anon.csv.gz")
    return raw.select(
        "ts",
        pl.col("value").round().cast(pl.Int64).alias("mem_used_bytes"),
        pl.col("container_ip").alias("pod"),
        pl.lit("genai").alias("source"),
    )


def _gpu(ctx: ReadContext) -> pl.DataFrame:
    duty, mem = _duty(ctx), _mem(ctx)
    ctx.notes.append("duty cycle and GPU memory joined on pod and sample time (full outer join: none lost)")
    return (
        duty.join(mem.drop("source"), on=["ts", "pod"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.lit("genai").alias("source"))
        .sort(["ts", "pod"])
    )


def _series(file: str, scale: float, doc: str, by_type: bool = False):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        raw = _metric(ctx, file, {"request_type": "str"} if by_type else None)
        uid = pl.col("container_ip").fill_null(NO_POD)
        if by_type:
            uid = pl.col("request_type") + "/" + uid
        ctx.notes.append(doc + f"; rows without a pod get unique_id {NO_POD!r}")
        return raw.select(uid.alias("unique_id"), pl.col("ts").alias("ds"), (pl.col("value") * scale).alias("y"))

    return read


_SERIES = [
    (
        "qps",
        "qps.csv.gz",
        1.0,
        "request rate per pod, unique_id = request_type/pod (req/s, scaled upstream)",
        True,
    ),
    ("queue-rt", "queue_rt_raw_anon.csv.gz", 1e-3, "gateway queueing time per request (s)", False),
    ("queue-size", "queue_size_raw_anon.csv.gz", 1.0, "gateway queue backlog (requests)", False),
    ("memory-util", "pod_memory_util_anon.csv.gz", 1.0, "container memory utilization (fraction)", False),
    ("model-predict", "model_predict_data_anon.csv.gz", 1e-3, "pure inference latency (s)", False),
    (
        "pipeline-inference",
        "pipeline_inference_data_anon.csv.gz",
        1e-3,
        "end-to-end latency incl. loading (s)",
        False,
    ),
    ("pipeline-update", "pipeline_update_latency_anon.csv.gz", 1e-3, "pipeline switch time (s)", False),
    (
        "basemodel-update",
        "basemodel_update_latency_anon.csv.gz",
        1e-3,
        "base-model load time, cold start (s)",
        False,
    ),
    ("lora-update", "lora_update_latency_anon.csv.gz", 1e-3, "LoRA adapter load time (s)", False),
    ("controlnet-update", "controlnet_latency_data_anon.csv.gz", 1e-3, "ControlNet load time (s)", False),
]

DATASETS.add(
    "genai",
    Dataset(
        name="genai",
        folder="alibaba-genai-serving-v2026",
        title="Alibaba GenAI (Stable Diffusion) serving v2026 (SoCC'25): requests, per-pod GPU telemetry",
        source="github.com/alibaba/clusterdata cluster-trace-v2026-GenAI @ 8c132fb",
        license="research/study use (alibaba/clusterdata README)",
        parts=(
            Part(
                "requests",
                "REQUESTS",
                "26,823 text-to-image requests with execution time",
                _requests,
                "arrival_time",
            ),
            Part("duty-cycle", "GPU_SAMPLES", "per-pod GPU duty cycle, 57 s samples, ~23 h", _duty, "ts"),
            Part("gpu-memory", "GPU_SAMPLES", "per-pod GPU memory used", _mem, "ts"),
            Part("gpu", "GPU_SAMPLES", "duty cycle and GPU memory joined per pod and sample", _gpu, "ts"),
            # rates, backlogs, latencies and a utilization fraction: none is negative
            *(Part(n, "SERIES", d, _series(f, sc, d, bt), "ds", lower=0.0) for n, f, sc, d, bt in _SERIES),
        ),
        default_part="requests",
    ),
)
