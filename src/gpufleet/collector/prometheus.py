"""Prometheus source: DCGM exporter GPU metrics into GPU_SAMPLES, chunk by chunk, into the store.

Any Prometheus-compatible HTTP API works (Prometheus, Thanos, Mimir, VictoriaMetrics). Label spellings
differ between deployments; each canonical column accepts every spelling below. Long ranges are split so
that no query returns more than `MAX_POINTS` points per series (Prometheus refuses 11,000), and each chunk is
written to the store before the next is asked for, so memory stays bounded whatever the range.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from gpufleet.collector import dcgm
from gpufleet.collector.store import Store
from gpufleet.core.durations import parse_duration
from gpufleet.core.errors import GpufleetError
from gpufleet.core.redact import redact, redact_url
from gpufleet.core.schemas import GPU_SAMPLES

MAX_POINTS = 10_000  # per series per query; Prometheus' hard limit is 11,000
LABELS: dict[str, tuple[str, ...]] = {
    "node": ("Hostname", "hostname", "node", "instance"),
    "gpu_uuid": ("UUID", "uuid"),
    "gpu_index": ("gpu", "GPU"),
    "gpu_model": ("modelName", "model_name"),
    "mig_profile": ("GPU_I_PROFILE",),
    "namespace": ("namespace", "namespace_name", "exported_namespace"),
    "pod": ("pod", "pod_name", "exported_pod"),
    "container": ("container", "container_name", "exported_container"),
}
# what the source pulls (memory clock has no GPU_SAMPLES column); names and units from collector/dcgm.py
GPU_FIELDS = dcgm.fields(
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",  # 0..1; preferred: right on MIG
    "DCGM_FI_DEV_GPU_UTIL",  # percent; absent on MIG
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_XID_ERRORS",  # the last XID code, not a count
)
KEYS = ["node", "gpu_uuid", "gpu_index", "gpu_model", "mig_profile", "namespace", "pod", "container"]
SERIES_KEYS = ["node", "gpu_uuid", "gpu_index", "mig_profile", "pod"]


@dataclass
class Stats:
    """What a collection did: rows written, queries, retries, and what was skipped and why."""

    rows_written: int = 0
    queries: int = 0
    retries: int = 0
    chunks: int = 0
    empty_results: dict[str, int] = field(default_factory=dict)
    bad_values: int = 0


def _short(e: Exception) -> str:
    """An HTTP client error in one short line (urllib3's are paragraphs), without credentials."""
    text = redact(str(e))
    m = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if m:
        return f"{type(e).__name__}: {m.group(0).strip()}"
    if "Read timed out" in text:
        return f"{type(e).__name__}: read timed out"
    first = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {first[:200]}"


def _http_status(e: BaseException) -> int | None:
    """The HTTP status of an answered request that failed (prometheus-api-client puts it in the text)."""
    m = re.match(r"HTTP Status Code (\d{3})", str(e))
    return int(m.group(1)) if m else None


def _transient(e: BaseException) -> bool:
    """Worth another try: no answer at all, a server error, or 'too many requests' / 'request timeout'."""
    status = _http_status(e)
    return status is None or status >= 500 or status in (408, 429)


def label(metric: dict[str, str], column: str) -> str | None:
    """The value of a canonical label, whichever spelling the deployment uses."""
    for name in LABELS[column]:
        v = metric.get(name)
        if v not in (None, ""):
            return v
    return None


class PrometheusSource:
    """Queries a Prometheus-compatible API over HTTP (prometheus-api-client)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        verify_tls: bool = True,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from urllib.parse import urlsplit

        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port that is not a number or out of range
            ok = False
        if not ok:
            # a URL that can never work is refused at once, not retried (#21 point 3)
            raise GpufleetError(
                f"Prometheus URL {redact_url(url)!r}: not an http(s) URL with a host (e.g. http://prometheus:9090)"
            )

        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.url = redact_url(url)  # for messages; the client keeps the real one
        # retries are ours (counted, with backoff), not the HTTP library's
        self.prom = PrometheusConnect(
            url=url, headers=headers, disable_ssl=not verify_tls, retry=Retry(total=0), timeout=int(timeout_s)
        )
        self.timeout_s, self.retries, self.backoff_s, self.sleep = timeout_s, retries, backoff_s, sleep
        self.stats = Stats()

    def _retrying(self, what: str, call: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """`call` with retries (tenacity: exponential backoff with jitter) for what may pass (connection
        refused, timeouts, 5xx, 429); a refusal (4xx: a bad query, no permission) fails at once. Either ends
        in a GpufleetError naming the URL (without credentials) and `what`."""
        import tenacity

        def attempt() -> list[dict[str, Any]]:
            self.stats.queries += 1
            return call()

        def before_sleep(_: tenacity.RetryCallState) -> None:
            self.stats.retries += 1

        try:
            for tried in tenacity.Retrying(
                retry=tenacity.retry_if_exception(_transient),
                stop=tenacity.stop_after_attempt(self.retries + 1),
                wait=tenacity.wait_exponential_jitter(multiplier=self.backoff_s, max=60, jitter=self.backoff_s),
                sleep=self.sleep,
                before_sleep=before_sleep,
                reraise=True,
            ):
                with tried:
                    return attempt()
        except Exception as e:  # connection refused, timeouts, HTTP errors: the client raises several kinds
            status = _http_status(e)
            if status is not None and not _transient(e):
                raise GpufleetError(f"{self.url}: {what} refused (HTTP {status}: {_short(e)}); not retried") from None
            raise GpufleetError(f"{self.url}: {what} failed after {self.retries + 1} attempts ({_short(e)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _query_range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[dict[str, Any]]:
        """One range query evaluated every `step_s`."""
        params = {"timeout": f"{self.timeout_s:g}s"}
        return self._retrying(
            query,
            lambda: self.prom.custom_query_range(
                query, start_time=start, end_time=end, step=f"{step_s:g}s", params=params
            ),
        )

    def query_raw(self, metric: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The raw samples of `metric` in [start, end] (a range-vector selector evaluated at `end`)."""
        window = max(1, math.ceil((end - start).total_seconds()))
        params = {"time": end.timestamp(), "timeout": f"{self.timeout_s:g}s"}
        return self._retrying(metric, lambda: self.prom.custom_query(f"{metric}[{window}s]", params=params))

    def gpu_chunk(self, start: datetime, end: datetime, step_s: float, raw: bool = True) -> pl.DataFrame:
        """GPU_SAMPLES for [start, end]: the raw samples (default) or evaluated every `step_s`."""
        frames = []
        for dfield in GPU_FIELDS:
            metric = dfield.metric
            if raw:
                result = self.query_raw(metric, start, end)
            else:
                result = self._query_range(metric, start, end, step_s)
            if not result:
                self.stats.empty_results[metric] = self.stats.empty_results.get(metric, 0) + 1
                continue
            frames.append(self._frame(result, dfield.column, dfield.scale))
        if not frames:
            return GPU_SAMPLES.empty()
        wide = frames[0]
        for f in frames[1:]:
            wide = wide.join(f, on=[*KEYS, "ts"], how="full", coalesce=True, nulls_equal=True)
        return to_gpu_samples(wide)

    def _frame(self, result: list[dict[str, Any]], col: str, scale: float) -> pl.DataFrame:
        """One metric's series as a long frame (vectorized per series: millions of points stay fast)."""
        ts_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        label_rows: list[list[str | None]] = []
        lengths: list[int] = []
        for series in result:
            values = series.get("values") or []
            if not values:
                continue
            arr = np.asarray(values, dtype=object)
            ts = arr[:, 0].astype(float)
            vals = pl.Series(arr[:, 1].astype(str)).cast(pl.Float64, strict=False).to_numpy()
            ok = np.isfinite(vals)
            self.stats.bad_values += int((~ok).sum())
            ts_parts.append(ts[ok])
            val_parts.append(vals[ok] * scale)
            lengths.append(int(ok.sum()))
            metric = series.get("metric", {})
            label_rows.append([label(metric, k) for k in KEYS])
        schema = {**dict.fromkeys(KEYS, pl.String), "ts": pl.Float64, col: pl.Float64}
        if not lengths:
            return pl.DataFrame(schema=schema)
        idx = np.repeat(np.arange(len(lengths)), lengths)
        labels = pl.DataFrame(label_rows, schema=dict.fromkeys(KEYS, pl.String), orient="row")
        return (
            labels[idx]
            .with_columns(pl.Series("ts", np.concatenate(ts_parts)), pl.Series(col, np.concatenate(val_parts)))
            .select(list(schema))
        )

    def collect_gpu(
        self,
        store: Store,
        start: datetime,
        end: datetime,
        step_s: float,
        *,
        raw: bool = True,
        chunk_s: float | None = None,
        source: str = "prometheus",
    ) -> Stats:
        """Pull [start, end] chunk by chunk into the store (re-running a window adds nothing twice).

        `step_s` is the scrape interval (raw samples) or the evaluation step (raw=False); a chunk spans
        MAX_POINTS of them (or `chunk_s`, if shorter), so no series returns more than Prometheus allows;
        `chunk_s` bounds memory when there are many series (a chunk's points are in memory at once)."""
        chunk = timedelta(seconds=min(step_s * MAX_POINTS, chunk_s or math.inf))
        t = start
        while t < end:
            t1 = min(t + chunk, end)
            frame = self.gpu_chunk(t, t1, step_s, raw)
            self.stats.rows_written += store.append("GPU_SAMPLES", source, frame, SERIES_KEYS)
            self.stats.chunks += 1
            # both ends are included: the store's watermark drops the sample a boundary repeats
            t = t1
            if t1 >= end:
                break
        return self.stats


def to_gpu_samples(wide: pl.DataFrame) -> pl.DataFrame:
    """Canonical GPU_SAMPLES from one row per (labels, ts) with the metric columns that were found."""
    cols = wide.columns

    def c(name: str) -> pl.Expr:
        return pl.col(name) if name in cols else pl.lit(None, pl.Float64)

    # engine activity is the right utilization on MIG and wherever the exporter has it
    util = pl.coalesce(c("engine_active"), c("util")).clip(0.0, 1.0)
    used, free = c("mem_used_bytes"), c("mem_free_bytes")
    total = pl.when(used.is_not_null() & free.is_not_null()).then(used + free + c("mem_reserved_bytes").fill_null(0.0))
    out = wide.select(
        pl.from_epoch((pl.col("ts") * 1e6).round().cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("ts"),
        "node",
        "gpu_uuid",
        pl.col("gpu_index").cast(pl.Int64, strict=False).alias("gpu_index"),
        "gpu_model",
        "mig_profile",
        util.alias("util"),
        used.round().cast(pl.Int64).alias("mem_used_bytes"),
        total.round().cast(pl.Int64).alias("mem_total_bytes"),
        c("power_w").alias("power_w"),
        c("temp_c").alias("temp_c"),
        c("sm_clock_mhz").alias("sm_clock_mhz"),
        c("xid_errors").round().cast(pl.Int64).alias("xid_errors"),
        "namespace",
        "pod",
        "container",
        pl.lit("prometheus").alias("source"),
    )
    return out.sort("ts", "node", "gpu_uuid", nulls_last=True)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'6h', '30m', '2d' before now, or an ISO timestamp."""
    now = now or datetime.now(UTC)
    t = text.strip()
    try:
        return now - timedelta(seconds=parse_duration(t, "--since"))
    except GpufleetError:
        pass  # not a duration: an ISO time, then
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        raise GpufleetError(f"--since {text!r}: give a duration (30m, 6h, 2d) or an ISO time") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)
