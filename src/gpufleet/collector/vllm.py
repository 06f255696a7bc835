"""vLLM serving metrics from Prometheus into per-workload SERIES (what the demand forecasters read).

A workload is `<namespace>/<model_name>` (vLLM labels every metric with `model_name`); without a model name,
the pod's workload as the right-sizer names it. Per workload and per `step` bucket:
- gauges `vllm:num_requests_running`, `vllm:num_requests_waiting`: each pod's mean in the bucket, summed
  over pods; `vllm:kv_cache_usage_perc` (older vLLM: `vllm:gpu_cache_usage_perc`): mean over pods;
- counters `vllm:request_success_total`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`:
  the increase over the bucket divided by its length, i.e. a rate per second. Each raw sample's increase is
  its value minus the previous sample's (the sample before the bucket included), or its value when the
  counter went down (a restarted pod, as Prometheus' `rate` treats resets); increases are summed over pods.
Only whole buckets are written: those that end at or before the end of the window, so a later run fills in
the partial one, and the store's watermark (per series) keeps each bucket once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from gpufleet.collector.prometheus import PrometheusSource, label
from gpufleet.collector.store import Store
from gpufleet.core.workloads import with_workload

# metric -> (quantity, how pods combine); aliases are older spellings of the same metric
GAUGES: dict[str, tuple[str, str]] = {
    "vllm:num_requests_running": ("running", "sum"),
    "vllm:num_requests_waiting": ("waiting", "sum"),
    "vllm:kv_cache_usage_perc": ("kv_cache_usage", "mean"),
}
ALIASES = {"vllm:kv_cache_usage_perc": "vllm:gpu_cache_usage_perc"}
COUNTERS: dict[str, str] = {
    "vllm:request_success_total": "request_rate",
    "vllm:prompt_tokens_total": "prompt_tokens_rate",
    "vllm:generation_tokens_total": "generation_tokens_rate",
}
LOOKBACK_S = 300.0  # how far before a bucket to look for the counter sample its first increase needs


def either(metric: str, labels: str = "") -> str:
    """A selector for `metric` under its own name and with ':' escaped to '_': recent prometheus-client
    releases (which vLLM uses) escape colons when the scraper negotiates OpenMetrics, so the same metric
    reaches Prometheus as `vllm_num_requests_running` in some deployments."""
    names = sorted({metric, metric.replace(":", "_")})
    return f'{{__name__=~"{"|".join(names)}"{"," + labels if labels else ""}}}'


def _long(src: PrometheusSource, result: list[dict[str, Any]]) -> pl.DataFrame:
    """Raw samples as (series, pod, namespace, model, t, v); unparsable values are counted and left out."""
    parts = []
    for k, s in enumerate(result):
        values = s.get("values") or []
        if not values:
            continue
        arr = np.asarray(values, dtype=object)
        v = pl.Series(arr[:, 1].astype(str)).cast(pl.Float64, strict=False).to_numpy()
        ok = np.isfinite(v)
        src.stats.bad_values += int((~ok).sum())
        m = s.get("metric", {})
        parts.append(
            pl.DataFrame(
                {"t": arr[:, 0].astype(float)[ok], "v": v[ok]},
            ).with_columns(
                pl.lit(k).alias("series"),
                pl.lit(label(m, "pod"), pl.String).alias("pod"),
                pl.lit(label(m, "namespace"), pl.String).alias("namespace"),
                pl.lit(m.get("model_name") or None, pl.String).alias("model"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "t": pl.Float64,
                "v": pl.Float64,
                "series": pl.Int32,
                "pod": pl.String,
                "namespace": pl.String,
                "model": pl.String,
            }
        )
    return pl.concat(parts, how="vertical_relaxed")


def _named(f: pl.DataFrame) -> pl.DataFrame:
    f = with_workload(f)
    model = pl.concat_str([pl.col("namespace").fill_null("default"), pl.lit("/"), pl.col("model")])
    return f.with_columns(pl.when(pl.col("model").is_not_null()).then(model).otherwise("workload").alias("workload"))


def vllm_chunk(src: PrometheusSource, t0: float, t1: float, step_s: float) -> pl.DataFrame:
    """SERIES rows for the whole buckets in [t0, t1) (both multiples of `step_s`, Unix seconds)."""
    start, end = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC)
    out = []
    for metric, (quantity, how) in GAUGES.items():
        # from a step early: a range selector may leave its left end out (Prometheus 3 does)
        result = src.query_raw(either(metric), start - timedelta(seconds=step_s), end)
        if not result and metric in ALIASES:
            result = src.query_raw(either(ALIASES[metric]), start - timedelta(seconds=step_s), end)
        f = _long(src, result).filter((pl.col("t") >= t0) & (pl.col("t") < t1))
        if f.height == 0:
            src.stats.empty_results[metric] = src.stats.empty_results.get(metric, 0) + 1
            continue
        f = _named(f).with_columns((pl.col("t") // step_s * step_s).alias("b"))
        per_pod = f.group_by("workload", "series", "b").agg(pl.col("v").mean())
        agg = pl.col("v").sum() if how == "sum" else pl.col("v").mean()
        out.append(per_pod.group_by("workload", "b").agg(agg.alias("y")).with_columns(pl.lit(quantity).alias("q")))
    for metric, quantity in COUNTERS.items():
        result = src.query_raw(either(metric), start - timedelta(seconds=LOOKBACK_S), end)
        f = _long(src, result)
        if f.height == 0:
            src.stats.empty_results[metric] = src.stats.empty_results.get(metric, 0) + 1
            continue
        f = f.sort("series", "t").with_columns(pl.col("v").diff().over("series").alias("d"))
        # a counter that went down was reset: everything it shows now is new; the first sample has no base
        f = f.with_columns(pl.when(pl.col("d") < 0).then(pl.col("v")).otherwise(pl.col("d")).alias("inc"))
        f = f.filter(pl.col("inc").is_not_null() & (pl.col("t") >= t0) & (pl.col("t") < t1))
        f = _named(f).with_columns((pl.col("t") // step_s * step_s).alias("b"))
        out.append(
            f.group_by("workload", "b")
            .agg((pl.col("inc").sum() / step_s).alias("y"))
            .with_columns(pl.lit(quantity).alias("q"))
        )
    if not out:
        return pl.DataFrame(schema={"unique_id": pl.String, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64})
    return (
        pl.concat(out, how="vertical_relaxed")
        .select(
            (pl.col("workload") + ":" + pl.col("q")).alias("unique_id"),
            pl.from_epoch((pl.col("b") * 1e6).round().cast(pl.Int64), time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("ds"),
            pl.col("y").cast(pl.Float64),
        )
        .sort("unique_id", "ds")
    )


def collect_vllm(
    src: PrometheusSource,
    store: Store,
    start: datetime,
    end: datetime,
    step_s: float,
    chunk_s: float = 6 * 3600,
    source: str = "vllm",
) -> int:
    """Whole `step_s` buckets of [start, end) into the store's SERIES (source `vllm`), chunk by chunk.
    Returns the rows written."""
    t = math.floor(start.timestamp() / step_s) * step_s
    stop = math.floor(end.timestamp() / step_s) * step_s
    chunk = max(step_s, math.floor(chunk_s / step_s) * step_s)
    written = 0
    while t < stop:
        t1 = min(t + chunk, stop)
        written += store.append("SERIES", source, vllm_chunk(src, t, t1, step_s), ["unique_id"])
        t = t1
    return written
