"""user-history (Helios-style): the mean duration of the same user's earlier jobs with the same name.

Causal by construction: a job's estimate uses only jobs that had finished (submit + duration) by its
own submit time, so replaying a trace never peeks at the future. Fallback chain: same user and name,
then the same user, then the same GPU-count class, then the median of all finished jobs, then
`default_s`. It is a point predictor: p10 = p50 = p90 (quantiles come with the forecasting issue).
"""

from __future__ import annotations

import heapq
import math

import polars as pl

from gpufleet.forecasting.runtime.base import PREDICTORS, FromFinished, RuntimePredictor


@PREDICTORS.register("user-history")
class UserHistory(FromFinished):
    """Running means per (user, name), user and GPU class over jobs finished before each submit."""

    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Remember earlier finished jobs to seed the history (optional: predict is causal by itself)."""
        self._past = jobs.filter(pl.col("duration").is_not_null())
        return self

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """Causal estimates for every job, in input order."""
        past = self._past if self._past is not None else jobs.clear()
        both = pl.concat([past.select(_cols(past)), jobs.select(_cols(jobs))], how="vertical_relaxed")
        n_past = past.height
        sub = both["submit_time"].to_list()
        dur = both["duration"].to_list()
        keys = _keys(both)
        out = self._run(sub, dur, keys, n_past)
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": out, "p50": out, "p90": out})

    def _run(
        self, sub: list[float], dur: list[float | None], keys: list[tuple[str, str, str]], n_past: int
    ) -> list[float]:
        sums: dict[str, list[float]] = {}
        finished: list[float] = []  # durations finished so far, for the global median fallback
        pending: list[tuple[float, int]] = []  # (finish time, index) of jobs not yet finished
        for i in range(n_past):
            if dur[i] is not None:
                self._add(sums, keys[i], dur[i], finished)  # type: ignore[arg-type]
        order = sorted(range(n_past, len(sub)), key=lambda i: (sub[i], i))
        out = [0.0] * (len(sub) - n_past)
        for i in order:
            while pending and pending[0][0] <= sub[i]:
                _, j = heapq.heappop(pending)
                self._add(sums, keys[j], dur[j], finished)  # type: ignore[arg-type]
            out[i - n_past] = self._estimate(sums, keys[i], finished)
            if dur[i] is not None and math.isfinite(dur[i]):  # type: ignore[arg-type]
                heapq.heappush(pending, (sub[i] + dur[i], i))  # type: ignore[operator]
        return out

    @staticmethod
    def _add(sums: dict[str, list[float]], key: tuple[str, str, str], d: float, finished: list[float]) -> None:
        for k in key:
            if k == "-":
                continue
            s = sums.setdefault(k, [0.0, 0.0])
            s[0] += d
            s[1] += 1
        finished.append(d)

    def _estimate(self, sums: dict[str, list[float]], key: tuple[str, str, str], finished: list[float]) -> float:
        for k in key:
            s = sums.get(k) if k != "-" else None
            if s and s[1] > 0:
                return s[0] / s[1]
        if finished:
            # the median of a growing list: sorting lazily is fine at this point of the fallback chain
            return float(sorted(finished)[len(finished) // 2])
        return self.default_s


def _cols(df: pl.DataFrame) -> list[pl.Expr]:
    # traces without users or names (ITP) simply fall through to the GPU-count class
    text = [(pl.col(c) if c in df.columns else pl.lit(None)).cast(pl.Utf8).alias(c) for c in ("user", "name")]
    return [pl.col("job_id"), pl.col("submit_time"), pl.col("duration"), pl.col("num_gpus"), *text]


def _keys(df: pl.DataFrame) -> list[tuple[str, str, str]]:
    # Missing user or name never matches anything: such keys get a unique, never-filled slot.
    k = df.select(
        pl.when(pl.col("user").is_not_null() & pl.col("name").is_not_null())
        .then(pl.lit("un|") + pl.col("user") + "|" + pl.col("name"))
        .otherwise(pl.lit("-"))
        .alias("a"),
        pl.when(pl.col("user").is_not_null()).then(pl.lit("u|") + pl.col("user")).otherwise(pl.lit("-")).alias("b"),
        (pl.lit("g|") + pl.col("num_gpus").cast(pl.Utf8)).alias("c"),
    )
    return list(zip(k["a"].to_list(), k["b"].to_list(), k["c"].to_list(), strict=True))
