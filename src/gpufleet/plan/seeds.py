"""Figures over seeds: the mean and its confidence interval, as a paper reports a Monte-Carlo experiment.

The interval is Student's t over the per-seed values: mean +- t(1 - (1 - level) / 2, n - 1) x s / sqrt(n), with s
the sample standard deviation (n - 1 in the denominator). It says how well the seeds pin the mean down, assuming
the per-seed values are independent draws; with one seed there is no interval (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

LEVEL = 0.95
METHOD = "Student t over seeds (n - 1 degrees of freedom)"


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the t-interval of `values`; low and high are None for fewer than two values."""
    from scipy.stats import t

    n = len(values)
    if n == 0:
        return math.nan, None, None
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(1 - (1 - level) / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def over_seeds(runs: pl.DataFrame, by: list[str], value: str, level: float = LEVEL) -> pl.DataFrame:
    """Per group of `by` (one row per seed in each): n, mean, sd, low and high of `value`'s t-interval, in the
    groups' order of first appearance."""
    rows = []
    for key, part in runs.group_by(by, maintain_order=True):
        values = part[value].cast(pl.Float64).to_list()
        mean, lo, hi = t_interval(values, level)
        sd = float(part[value].std()) if len(values) > 1 else None  # type: ignore[arg-type]
        rows.append(dict(zip(by, key, strict=True)) | {"n": len(values), "mean": mean, "sd": sd, "low": lo, "high": hi})
    return pl.DataFrame(rows, schema_overrides={"sd": pl.Float64, "low": pl.Float64, "high": pl.Float64})
