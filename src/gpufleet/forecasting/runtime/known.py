"""What a trace tells a learner at a training cutoff: finished jobs exactly, running jobs as a lower bound.

At a cutoff (trace seconds) a job submitted earlier has either finished (its duration is known) or is
still running: its duration is right-censored at its elapsed time. Jobs not yet submitted are absent.
Learning only from the finished ones keeps the short jobs and loses the long ones (survivorship), which
made a runtime model predict 2.6x too short on an unseen ITP cluster; `TrainingSet` keeps both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.features import runtime_features


@dataclass(frozen=True)
class TrainingSet:
    """Feature rows with interval labels: lower = upper = duration when finished, upper = inf when censored."""

    feats: pl.DataFrame
    lower: np.ndarray
    upper: np.ndarray

    @property
    def height(self) -> int:
        """Rows (finished and censored)."""
        return self.feats.height

    @property
    def finished(self) -> np.ndarray:
        """Mask of rows whose duration is known exactly."""
        return np.isfinite(self.upper)

    def head(self, n: int) -> TrainingSet:
        """The first n rows (the earliest submitted, for a set built by `known_at`)."""
        return TrainingSet(self.feats.head(n), self.lower[:n], self.upper[:n])

    def tail(self, n: int) -> TrainingSet:
        """The last n rows."""
        k = max(self.height - n, 0)
        return TrainingSet(self.feats.tail(n), self.lower[k:], self.upper[k:])

    def concat(self, other: TrainingSet | None) -> TrainingSet:
        """This set followed by another (e.g. other clusters' whole traces), features aligned by name."""
        if other is None or other.height == 0:
            return self
        if self.height == 0:
            return other
        feats = pl.concat([self.feats, other.feats.select(self.feats.columns)], how="vertical_relaxed")
        return TrainingSet(feats, np.concatenate([self.lower, other.lower]), np.concatenate([self.upper, other.upper]))


def known_at(jobs: pl.DataFrame, origin: float, feats: pl.DataFrame | None = None) -> TrainingSet:
    """Every job submitted before `origin`: finished ones with their duration, running ones censored.

    `feats` may be passed when the caller already has `runtime_features(jobs)`: those features are causal
    row by row (each uses only jobs finished by that row's submit), so they are the same at any cutoff."""
    feats = runtime_features(jobs) if feats is None else feats
    sub = jobs["submit_time"].to_numpy().astype(float)
    dur = jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
    seen = sub < origin
    done = seen & np.isfinite(dur) & (sub + dur <= origin)
    running = seen & ~done
    # a job whose duration the trace never recorded (null) still ran until the cutoff at least
    lower = np.where(done, np.maximum(dur, 0.0), np.maximum(origin - sub, 0.0))
    upper = np.where(done, np.maximum(dur, 0.0), np.inf)
    # rows in submit order, so that head/tail split the known past by time
    idx = np.flatnonzero(done | running)
    idx = idx[np.argsort(sub[idx], kind="stable")]
    return TrainingSet(feats[idx], lower[idx], upper[idx])


def whole_trace(jobs: pl.DataFrame) -> TrainingSet:
    """A finished trace (another cluster's) as training rows: every job with a duration, exactly."""
    jobs = jobs.filter(pl.col("duration").is_not_null()).sort("submit_time", maintain_order=True)
    feats = runtime_features(jobs)
    d = np.maximum(jobs["duration"].to_numpy().astype(float), 0.0)
    return TrainingSet(feats, d, d.copy())


def end_of_trace(jobs: pl.DataFrame) -> float:
    """A cutoff after everything a whole trace records: every duration known (null ones stay censored)."""
    sub = jobs["submit_time"].to_numpy().astype(float)
    end = sub + jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
    last = float(np.nanmax(end)) if np.isfinite(end).any() else float(sub.max()) + 1.0
    return float(np.nextafter(last, np.inf))
