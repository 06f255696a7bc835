"""The right-sizers: `vpa` (the Kubernetes VPA recommender's method) and `krr-simple` (Robusta KRR's simple
strategy), both extended to GPUs the same way: a GPU count, or below one GPU the smallest MIG profile (or a
time-sliced share where the model has no MIG) covering the compute and memory need.

vpa: decaying histograms (24 h half-life). Target p90 x 1.15, lower bound p50 x 1.15, upper bound
p95 x 1.15; the bounds widen while history is short: lower x (1 + 0.001/c)^-2, upper x (1 + 1/c), with c
the confidence (history length in days, capped by sample count in days of one-per-minute samples). An OOM
kill adds a memory sample of max(1.2 x usage, usage + 100 MiB). Floors: 25 millicores, 250 MiB.
GPU compute: p90 x 1.15 of GPUs busy; GPU memory: p99 x 1.15 (running out of GPU memory kills the pod).

krr-simple: no decay; CPU p95, memory max x 1.15; GPU compute p95 x 1.15, GPU memory max x 1.15.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from gpufleet.core.units import MiB
from gpufleet.optimizer.rightsizing.base import (
    F64,
    RIGHTSIZERS,
    History,
    Recommendation,
    RightSizerSettings,
    describe_gpu,
    exceeded,
    propose_gpu,
    too_little,
)
from gpufleet.optimizer.rightsizing.histogram import DAY_S, HistogramSpec, confidence, decay_weights, percentiles

CPU_HIST = HistogramSpec(first=0.01, max_value=1000.0)  # cores
MEM_HIST = HistogramSpec(first=1e7, max_value=1e14)  # bytes
GPU_HIST = HistogramSpec(first=0.001, max_value=1000.0)  # GPUs busy


def _finite(values: F64, ts: F64, weights: F64) -> tuple[F64, F64, F64]:
    ok = np.isfinite(values)
    return values[ok], ts[ok], weights[ok]


def _base(h: History, name: str) -> Recommendation:
    return Recommendation(
        workload=h.workload,
        sizer=name,
        opinion=False,
        reason="",
        samples=h.samples,
        span_h=h.span_s / 3600,
        pods=h.pods,
        gpu_model=h.gpu_model,
        current_gpus=h.gpus_per_pod,
        cpu_current=h.cpu_request,
        mem_current=h.mem_request,
    )


class VpaSettings(RightSizerSettings):
    """The VPA recommender's decay, percentiles, margin and floors (its defaults), extended to GPUs."""

    half_life_s: float | None = Field(
        DAY_S, gt=0, description="a sample this old counts half as much as a fresh one (seconds; null: no decay)"
    )
    margin: float = Field(1.15, ge=1, description="safety margin multiplying every percentile proposed")
    gpu_q: float = Field(0.9, gt=0, le=1, description="percentile of GPUs busy that sizes GPU compute")
    gpu_mem_q: float | None = Field(
        0.99, gt=0, le=1, description="percentile of GPU memory used that sizes GPU memory (null: the maximum)"
    )
    cpu_q: float = Field(0.9, gt=0, le=1, description="percentile of CPU cores used that sizes the CPU request")
    mem_q: float | None = Field(
        0.9, gt=0, le=1, description="percentile of memory used that sizes the memory request (null: the maximum)"
    )
    min_cpu: float = Field(0.025, ge=0, description="floor of a CPU request (cores)")
    min_mem_bytes: float = Field(250 * MiB, ge=0, description="floor of a memory request (bytes)")


class KrrSimpleSettings(VpaSettings):
    """KRR's simple strategy: no decay, CPU p95 without margin, memory and GPU memory at the maximum."""

    half_life_s: float | None = Field(
        None, gt=0, description="a sample this old counts half as much as a fresh one (seconds; null: no decay)"
    )
    gpu_q: float = Field(0.95, gt=0, le=1, description="percentile of GPUs busy that sizes GPU compute")
    gpu_mem_q: float | None = Field(
        None, gt=0, le=1, description="percentile of GPU memory used that sizes GPU memory (null: the maximum)"
    )
    cpu_q: float = Field(
        0.95, gt=0, le=1, description="percentile of CPU cores used that is the CPU request (no margin)"
    )
    mem_q: float | None = Field(
        None, gt=0, le=1, description="percentile of memory used that sizes the memory request (null: the maximum)"
    )


class PercentileSizer:
    """Percentiles of each resource's history, a safety margin, and the GPU proposal built on them.

    Not learned: nothing is fitted; each recommendation reads the percentiles of the history it is given."""

    name = "percentile"
    Settings: ClassVar[type[RightSizerSettings]] = VpaSettings
    learned: ClassVar[bool] = False
    vpa_bounds = True  # VPA's confidence-widened lower and upper bounds (KRR gives the target alone)

    def __init__(self, settings: RightSizerSettings | None = None) -> None:
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings) or not isinstance(settings, VpaSettings):
            raise TypeError(f"{type(self).__name__} takes {self.Settings.__name__}, got {type(settings).__name__}")
        self.settings: VpaSettings = settings

    def _weights(self, h: History) -> F64:
        if self.settings.half_life_s is None:
            return np.ones(h.samples)
        return decay_weights(h.ts_s, self.settings.half_life_s)

    def _pct(self, values: F64, h: History, qs: list[float | None], spec: HistogramSpec) -> list[float] | None:
        v, _, w = _finite(values, h.ts_s, self._weights(h))
        if len(v) == 0:
            return None
        got = percentiles(v, w, [q for q in qs if q is not None], spec)
        it = iter(got)
        return [float(v.max()) if q is None else next(it) for q in qs]

    def recommend(self, h: History) -> Recommendation:
        """GPU, CPU and memory proposals for one workload's pods, or no opinion."""
        rec = _base(h, self.name)
        short = too_little(h, self.settings)
        if short:
            rec.reason = short
            return rec
        s, m = self.settings, self.settings.margin
        rec.opinion = True
        conf = confidence(h.span_s, h.samples)
        lo_mult = (1 + 0.001 / conf) ** -2 if self.vpa_bounds else 1.0
        hi_mult = 1 + 1 / conf if self.vpa_bounds else 1.0
        parts = []
        busy = self._pct(h.gpu_busy, h, [0.5, s.gpu_q, 0.95], GPU_HIST)
        gmem = self._pct(h.gpu_mem, h, [0.5, s.gpu_mem_q], MEM_HIST)
        if busy is not None or gmem is not None:
            need_c = (busy[1] if busy else 0.0) * m
            # a pod cannot keep more GPUs busy than it holds: a saturated pod needs more replicas (the
            # autoscaler's job), not GPUs it could not use
            saturated = need_c > h.gpus_per_pod
            need_c = min(need_c, h.gpus_per_pod)
            need_m = (gmem[1] if gmem else 0.0) * m
            if h.gpu_mem_total:
                # the margin must not push memory past what the pod holds: it ran within it (allocators
                # such as PyTorch's cache fill a GPU's memory whatever the model needs)
                need_m = min(need_m, h.gpus_per_pod * h.gpu_mem_total)
            p = propose_gpu(h, need_c, need_m, s.share_step)
            risk = exceeded(h, p)
            rec.proposed_gpus, rec.proposed_mig, rec.proposed_gpu_mem_bytes = p.gpus, p.mig, p.memory
            rec.proposed_compute = p.compute
            rec.gpus_saved = (h.gpus_per_pod - p.gpus) * h.pods
            rec.gpu_hours_saved_per_day = rec.gpus_saved * 24
            rec.risk = risk
            if busy:
                rec.evidence |= {"gpu_busy_p50": busy[0], f"gpu_busy_p{round(s.gpu_q * 100)}": busy[1]}
                rec.evidence["gpu_busy_p95"] = busy[2]
            if gmem:
                key = "gpu_mem_max" if s.gpu_mem_q is None else f"gpu_mem_p{round(s.gpu_mem_q * 100)}"
                rec.evidence |= {"gpu_mem_p50": gmem[0], key: gmem[1]}
            basis = f"p{round(s.gpu_q * 100)} busy x {m:g} = {need_c:.2f} GPU"
            if gmem:
                basis += f", GPU memory {'max' if s.gpu_mem_q is None else f'p{round(s.gpu_mem_q * 100)}'}"
                basis += f" x {m:g} = {need_m / 2**30:.1f} GiB"
            if saturated:
                basis += " (capped at the GPUs it holds: it is saturated; scale out instead)"
            if not gmem:
                basis += "; GPU memory is not in the samples, so this covers compute only"
            parts.append(describe_gpu(h, p, risk, basis))
        cpu = self._pct(h.cpu, h, [0.5, s.cpu_q, 0.95], CPU_HIST)
        if cpu is not None:
            rec.cpu_target = max(cpu[1] * m, s.min_cpu)
            rec.cpu_lower = max(cpu[0] * m * lo_mult, s.min_cpu) if self.vpa_bounds else rec.cpu_target
            rec.cpu_upper = max(cpu[2] * m * hi_mult, rec.cpu_target) if self.vpa_bounds else rec.cpu_target
            rec.evidence |= {"cpu_p50": cpu[0], f"cpu_p{round(s.cpu_q * 100)}": cpu[1], "cpu_p95": cpu[2]}
            parts.append(f"CPU request {rec.cpu_target:.3g} cores")
        mem_vals = self._oom_bumped(h)
        mem = self._pct(mem_vals, h, [0.5, s.mem_q, 0.95], MEM_HIST)
        if mem is not None:
            rec.mem_target = max(mem[1] * m, s.min_mem_bytes)
            rec.mem_lower = max(mem[0] * m * lo_mult, s.min_mem_bytes) if self.vpa_bounds else rec.mem_target
            rec.mem_upper = max(mem[2] * m * hi_mult, rec.mem_target) if self.vpa_bounds else rec.mem_target
            key = "mem_max" if s.mem_q is None else f"mem_p{round(s.mem_q * 100)}"
            rec.evidence |= {"mem_p50": mem[0], key: mem[1], "mem_p95": mem[2]}
            ooms = int((h.oom > 0).sum())
            parts.append(f"memory {rec.mem_target / 2**30:.2f} GiB" + (f" after {ooms} OOM kills" if ooms else ""))
        rec.evidence |= {"confidence_days": conf}
        rec.reason = "; ".join(parts) if parts else "no GPU, CPU or memory usage in the samples"
        return rec

    def _oom_bumped(self, h: History) -> F64:
        """Memory samples, raised where the container was OOM-killed (it needed more than it got)."""
        mem = h.mem.copy()
        hit = (h.oom > 0) & np.isfinite(mem)
        mem[hit] = np.maximum(mem[hit] * 1.2, mem[hit] + 100 * MiB)
        return mem


@RIGHTSIZERS.register("vpa")
class VpaSizer(PercentileSizer):
    """Kubernetes VPA recommender's method (decaying histograms, p90 x 1.15, confidence-widened bounds)."""

    name = "vpa"  # its settings, bounds and `learned` are PercentileSizer's


@RIGHTSIZERS.register("krr-simple")
class KrrSimpleSizer(PercentileSizer):
    """Robusta KRR's simple strategy: CPU p95, memory max x 1.15 (GPU: p95 busy and max memory, x 1.15)."""

    name = "krr-simple"
    Settings: ClassVar[type[RightSizerSettings]] = KrrSimpleSettings
    vpa_bounds = False

    def recommend(self, h: History) -> Recommendation:
        """As PercentileSizer, but KRR applies no margin to CPU."""
        rec = super().recommend(h)
        if rec.opinion and rec.cpu_target is not None:
            cpu = rec.evidence[f"cpu_p{round(self.settings.cpu_q * 100)}"]
            rec.cpu_target = rec.cpu_lower = rec.cpu_upper = max(cpu, self.settings.min_cpu)
        return rec
