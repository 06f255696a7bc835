"""The Kubernetes VPA recommender's decaying histogram, vectorized over a whole sample history.

Buckets grow exponentially (bucket i starts at first * (ratio**i - 1) / (ratio - 1), VPA's 5% ratio), so
relative precision is the same for small and large values. Each sample weighs 2 ** ((t - t_ref) / half-life),
so a day-old sample counts half as much as a fresh one with VPA's 24 h half-life. A percentile is the upper
end of the bucket that holds it: VPA errs on the side of more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
DAY_S = 86_400.0


@dataclass(frozen=True)
class HistogramSpec:
    """Bucket layout: first bucket width and growth ratio (VPA: CPU 0.01 cores, memory 1e7 bytes, x1.05)."""

    first: float
    ratio: float = 1.05
    max_value: float = 1e14

    @property
    def n_buckets(self) -> int:
        """Buckets needed to reach max_value."""
        return math.ceil(math.log(1 + self.max_value * (self.ratio - 1) / self.first) / math.log(self.ratio)) + 1

    def bucket(self, values: F64) -> npt.NDArray[np.int64]:
        """Bucket index of each value."""
        v = np.clip(values, 0.0, self.max_value)
        i = np.floor(np.log1p(v * (self.ratio - 1) / self.first) / math.log(self.ratio))
        return np.minimum(i.astype(np.int64), self.n_buckets - 1)

    def upper(self, index: npt.NDArray[np.int64] | int) -> F64:
        """Upper end of bucket(s) `index`."""
        return self.first * (np.power(self.ratio, np.asarray(index) + 1.0) - 1) / (self.ratio - 1)


def decay_weights(ts_s: F64, half_life_s: float, ref_s: float | None = None) -> F64:
    """2 ** ((t - ref) / half-life): 1 at the reference time (default: the latest sample), 0.5 a half-life before."""
    if len(ts_s) == 0:
        return np.zeros(0)
    ref = float(ts_s.max()) if ref_s is None else ref_s
    return np.power(2.0, (ts_s - ref) / half_life_s)


def percentiles(values: F64, weights: F64, qs: list[float], spec: HistogramSpec) -> list[float]:
    """Weighted percentiles `qs` (0..1) of `values` read from the decaying histogram (bucket upper ends)."""
    if len(values) == 0 or float(weights.sum()) <= 0:
        return [0.0 for _ in qs]
    idx = spec.bucket(values)
    hist = np.bincount(idx, weights=weights, minlength=spec.n_buckets)
    cum = np.cumsum(hist)
    total = cum[-1]
    out = []
    for q in qs:
        b = int(np.searchsorted(cum, q * total - 1e-12 * total, side="left"))
        out.append(float(spec.upper(min(b, spec.n_buckets - 1))))
    return out


def confidence(span_s: float, samples: int) -> float:
    """VPA's confidence in a history: the smaller of its length in days and its sample count in days of
    one-per-minute samples. Bounds widen as it shrinks."""
    return max(min(span_s / DAY_S, samples / (60 * 24)), 1e-6)
