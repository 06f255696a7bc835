"""Bounds of a forecast quantity, declared by the data (never guessed from it), and clipping to them.

A duty cycle lies in 0..1, counts and rates are >= 0, an allocation is <= its capacity. A forecaster that
extrapolates a trend (prophet) or adds a predicted change to the last value (lightgbm) can leave that range;
clipping the point forecast and both interval ends can only move them towards values that can happen, so it
never makes an absolute error larger. The bounds come from the caller: the schema's declared range of the
column (GPU_SAMPLES util), a dataset part's declaration, or a per-series capacity column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Bounds:
    """lower <= y <= upper for every series; `upper_by_id` (a capacity per series) tightens `upper`."""

    lower: float | None = None
    upper: float | None = None
    upper_by_id: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        highs = [u for u in (self.upper, *self.upper_by_id.values()) if u is not None]
        if self.lower is not None and any(u < self.lower for u in highs):
            raise ValueError(f"bounds: an upper bound is below the lower bound {self.lower}")

    @property
    def empty(self) -> bool:
        """True when nothing is bounded."""
        return self.lower is None and self.upper is None and not self.upper_by_id

    def arrays(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(lower (n,), upper (n,)) per series in `ids`; -inf/inf where unbounded."""
        lo = np.full(len(ids), -np.inf if self.lower is None else self.lower)
        up = np.full(len(ids), np.inf if self.upper is None else self.upper)
        for k, uid in enumerate(ids):
            cap = self.upper_by_id.get(uid)
            if cap is not None:
                up[k] = min(up[k], cap)
        return lo, up

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for run records and --json)."""
        return {"lower": self.lower, "upper": self.upper, "upper_by_id": dict(self.upper_by_id)}


def clip_arrays(ids: Sequence[str], bounds: Bounds | None, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each array (series along axis 0, any trailing shape) clipped to its series' bounds."""
    if bounds is None or bounds.empty:
        return arrays
    lo, up = bounds.arrays(ids)
    out = []
    for a in arrays:
        shape = (len(ids),) + (1,) * (a.ndim - 1)
        out.append(np.clip(a, lo.reshape(shape), up.reshape(shape)))
    return tuple(out)


def clip_forecast(pred: pl.DataFrame, bounds: Bounds | None) -> pl.DataFrame:
    """A forecast frame (mean, lo-L, hi-L) with every value column clipped to its series' bounds."""
    if bounds is None or bounds.empty or pred.height == 0:
        return pred
    cols = [c for c in pred.columns if c == "mean" or c.startswith(("lo-", "hi-"))]
    ids = pred["unique_id"].to_list()
    (mat,) = clip_arrays(ids, bounds, pred.select(cols).to_numpy())
    return pred.with_columns(pl.Series(c, mat[:, j]) for j, c in enumerate(cols))
