"""Live telemetry for the decision loop: a serving workload's recent per-second demand, from Prometheus.

The autoscalers read per-second bins (see optimizer.autoscaling.FleetState). From the raw samples of the
last `history_s` seconds (through the collector's PrometheusSource: same retries, labels and counting):
- concurrency: `vllm:num_requests_running` + `vllm:num_requests_waiting`, summed over the workload's pods;
  a gauge sample at t stands for the seconds since the series' previous sample (for the first sample of a
  series: the second before it), so a 1 s scrape gives exact bins and a 15 s scrape holds each value;
- arrivals: the increase of a counter (default `vllm:request_success_total`; a gateway's request counter is
  better where there is one), each increase spread evenly over the seconds since the previous sample, a
  counter that went down counted from zero (a restarted pod);
- service time: `vllm:request_inference_time_seconds` sum / count over the pods (the mean time a request
  holds a slot since the pods started), else the configured estimate.
Seconds no series covers are NaN: the policies treat them as missing, never as zero demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from gpufleet.collector.prometheus import PrometheusSource, label
from gpufleet.collector.vllm import either
from gpufleet.core.promql import matchers
from gpufleet.hook.config import Telemetry, WorkloadConfig

F64 = npt.NDArray[np.float64]
GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting")
ARRIVALS = "vllm:request_success_total"
SERVICE = "vllm:request_inference_time_seconds"
SELECTED = ("namespace", "model_name")  # the labels a workload's series are selected by
POD = "pod"  # read from the answer: the pods that report


@dataclass(frozen=True)
class Series:
    """One selector the decision loop sends for a workload (`window` queries exactly these; `gpufleet doctor`
    checks that each finds series, with the labels it selects on and reads)."""

    role: str  # concurrency | arrivals | service
    metric: str  # the metric name, or the configured expression for a custom arrivals counter
    query: str  # the selector, sent as `query[history_s]`
    labels: tuple[str, ...]  # labels it selects on (no series without them)
    reads: tuple[str, ...]  # labels read from the answer (missing: the decision works, less well)
    required: bool  # without it the hook has nothing to decide on (else it falls back to an estimate)
    why: str


def series(w: WorkloadConfig, forecast: bool = False) -> list[Series]:
    """What a decision for `w` reads; `forecast`: the policy forecasts arrivals, so the counter is required."""
    # quoted, never spliced: a model name from an annotation must not end the selector (#21)
    lab = matchers({"namespace": w.namespace, "model_name": w.model or w.name})
    out = [Series("concurrency", m, either(m, lab), SELECTED, (POD,), True, "requests in the system") for m in GAUGES]
    if w.arrivals:  # a gateway's counter, as configured: its own labels
        out.append(Series("arrivals", w.arrivals, w.arrivals, (), (), forecast, "arrivals (workloads[].arrivals)"))
    else:
        out.append(Series("arrivals", ARRIVALS, either(ARRIVALS, lab), SELECTED, (), forecast, "arrivals"))
    for suffix in ("_sum", "_count"):
        m = SERVICE + suffix
        out.append(Series("service", m, either(m, lab), SELECTED, (), False, "service time, else service_s"))
    return out


@dataclass
class Window:
    """Per-second bins [t0, t0 + len) of one workload, and what the newest sample says."""

    t0: int
    concurrency: F64
    arrivals: F64
    service_s: float | None
    last_sample: float | None  # Unix time of the newest gauge sample
    pods: int  # pods that reported in the newest sample's scrape
    arrivals_from: int = 0  # first bin the arrivals counter covers (before it: unknown, not zero)
    scrape_s: float | None = None  # median spacing of the gauge samples (the scrape interval as seen)

    def age(self, now: float) -> float:
        return math.inf if self.last_sample is None else max(0.0, now - self.last_sample)


def _series(result: list[dict[str, Any]]) -> list[tuple[np.ndarray, np.ndarray, dict[str, str]]]:
    out = []
    for s in result:
        values = s.get("values") or []
        if not values:
            continue
        arr = np.asarray(values, dtype=float)
        order = np.argsort(arr[:, 0], kind="stable")
        out.append((arr[order, 0], arr[order, 1], s.get("metric", {})))
    return out


def spans(t: np.ndarray, t0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For samples at times t (sorted), the bins [lo, hi) each stands for, clipped to [0, n)."""
    hi = np.floor(t).astype(np.int64) - t0
    lo = np.empty_like(hi)
    lo[1:] = hi[:-1]
    lo[0] = hi[0] - 1
    lo = np.minimum(lo, hi - 1)  # two samples in one second: the later one still covers its second
    return np.clip(lo, 0, n), np.clip(hi, 0, n)


def expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every bin of the spans [lo, hi), and the span each came from (vectorized: no loop per sample)."""
    lengths = np.maximum(hi - lo, 0)
    k = np.repeat(np.arange(len(lo)), lengths)
    starts = np.cumsum(lengths) - lengths
    return lo[k] + (np.arange(int(lengths.sum())) - starts[k]), k


class PrometheusTelemetry:
    """Reads one workload's window from a Prometheus-compatible API."""

    def __init__(self, cfg: Telemetry, token: str | None = None) -> None:
        self.cfg = cfg
        self.src = PrometheusSource(cfg.url, token=token, verify_tls=not cfg.insecure, timeout_s=cfg.timeout, retries=0)

    def window(self, w: WorkloadConfig, now: float) -> Window:
        """Bins for the `w.history_s` seconds before `now` (GpufleetError when Prometheus cannot answer)."""
        end = math.floor(now)
        t0 = end - int(w.history_s)
        n = end - t0
        start_dt, end_dt = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(now, UTC)
        wanted = series(w)
        conc = np.zeros(n)
        covered = np.zeros(n, dtype=bool)
        last: float | None = None
        newest_pods: dict[str, float] = {}
        gaps: list[np.ndarray] = []
        for s in (s for s in wanted if s.role == "concurrency"):
            for t, v, m in _series(self.src.query_raw(s.query, start_dt, end_dt)):
                gaps.append(np.diff(t))
                ok = np.isfinite(v)
                bins, k = expand(*spans(t[ok], t0, n))
                np.add.at(conc, bins, v[ok][k])
                covered[bins] = True
                last = max(last or -math.inf, float(t[-1]))
                pod = label(m, POD) or str(m)
                newest_pods[pod] = max(newest_pods.get(pod, -math.inf), float(t[-1]))
        concurrency = np.where(covered, conc, np.nan)
        arrivals = np.zeros(n)
        (counter,) = (s.query for s in wanted if s.role == "arrivals")
        known = n
        for t, v, _ in _series(self.src.query_raw(counter, start_dt, end_dt)):
            known = min(known, max(0, math.floor(t[0]) - t0))
            inc = np.diff(v, prepend=np.nan)
            inc = np.where(inc < 0, v, inc)  # a reset: all it shows is new
            lo, hi = spans(t, t0, n)
            ok = np.isfinite(inc) & (hi > lo)
            bins, k = expand(lo[ok], hi[ok])
            np.add.at(arrivals, bins, (inc[ok] / (hi[ok] - lo[ok]))[k])
        service = self._service([s for s in wanted if s.role == "service"], start_dt, end_dt)
        pods = sum(1 for tp in newest_pods.values() if last is not None and last - tp <= 1.0)
        spacing = np.concatenate(gaps) if gaps else np.empty(0)
        scrape = float(np.median(spacing)) if len(spacing) else None
        return Window(t0, concurrency, arrivals, service, last, pods, known, scrape)

    def _service(self, wanted: list[Series], start: datetime, end: datetime) -> float | None:
        total = count = 0.0
        for s in wanted:
            for _t, v, _ in _series(self.src.query_raw(s.query, start, end)):
                if s.metric.endswith("_sum"):
                    total += float(v[-1])
                else:
                    count += float(v[-1])
        return total / count if count > 0 else None
