"""Tokens served per vLLM workload, from the rates the collector stores (collector/vllm.py), and their match to
cost groups, for $ per 1M tokens.

The vLLM source writes SERIES `<namespace>/<model_name>:prompt_tokens_rate` and `:generation_tokens_rate`:
per bucket, the counters' (`vllm:prompt_tokens_total`, `vllm:generation_tokens_total`) increase divided by the
bucket's length. Tokens in a bucket = rate x bucket length, the bucket length being the median gap between the
series' consecutive buckets (a one-bucket series: the median of the others, else the collector's default 1m).
A vLLM workload is named for its model, not its pods, so it joins a cost group through its namespace: for
`--by namespace` the namespace itself; for `team` the namespace's team when its pods have one; for `workload`
the workload of the same name, else the namespace's only GPU workload. Tokens that match no group are counted.
"""

from __future__ import annotations

import polars as pl

QUANTITIES = {"prompt_tokens_rate": "prompt_tokens", "generation_tokens_rate": "generation_tokens"}
DEFAULT_BUCKET_S = 60.0  # `gpufleet collect prometheus --series-step` default
_SCHEMA = {
    "vllm_workload": pl.String,
    "namespace": pl.String,
    "prompt_tokens": pl.Float64,
    "generation_tokens": pl.Float64,
}


def token_totals(series: pl.DataFrame, fallback_s: float = DEFAULT_BUCKET_S) -> pl.DataFrame:
    """Prompt and generated tokens per vLLM workload over the SERIES rows given."""
    if series.height == 0 or "unique_id" not in series.columns:
        return pl.DataFrame(schema=_SCHEMA)
    # the quantity follows the last ':' (a workload's name may hold one)
    f = series.with_columns(
        pl.col("unique_id").str.replace(r":[^:]*$", "").alias("vllm_workload"),
        pl.col("unique_id").str.extract(r":([^:]*)$", 1).alias("q"),
    ).filter(pl.col("q").is_in(list(QUANTITIES)))
    if f.height == 0:
        return pl.DataFrame(schema=_SCHEMA)
    f = f.sort("ds").with_columns(
        pl.col("ds").diff().over("unique_id").dt.total_microseconds().cast(pl.Float64).alias("gap")
    )
    per = f.group_by("unique_id").agg(pl.col("gap").filter(pl.col("gap") > 0).median().alias("b"))
    known = per["b"].drop_nulls()
    fallback = float(known.median()) / 1e6 if known.len() else fallback_s  # type: ignore[arg-type]
    f = f.join(per, on="unique_id").with_columns((pl.col("b") / 1e6).fill_null(fallback).alias("b"))
    totals = (
        f.group_by("vllm_workload", "q")
        .agg((pl.col("y") * pl.col("b")).sum().alias("tokens"))
        .pivot("q", index="vllm_workload", values="tokens")
    )
    for q, name in QUANTITIES.items():
        totals = totals.rename({q: name}) if q in totals.columns else totals.with_columns(pl.lit(0.0).alias(name))
    return totals.select(
        "vllm_workload",
        pl.when(pl.col("vllm_workload").str.contains("/"))
        .then(pl.col("vllm_workload").str.replace(r"/.*$", ""))
        .otherwise(None)
        .alias("namespace"),
        pl.col("prompt_tokens").fill_null(0.0),
        pl.col("generation_tokens").fill_null(0.0),
    ).sort("vllm_workload")


def _group_of(tokens: pl.DataFrame, by: str, pods: pl.DataFrame) -> list[str | None]:
    """The cost group each vLLM workload's tokens belong to, or None."""
    if by == "namespace":
        return list(tokens["namespace"].to_list())
    per_ns = pods.select("namespace", by).unique().group_by("namespace").agg(pl.col(by))
    only = {ns: vals[0] for ns, vals in per_ns.iter_rows() if len(vals) == 1}
    have = set(pods[by].unique().to_list())
    out: list[str | None] = []
    for name, ns in tokens.select("vllm_workload", "namespace").iter_rows():
        out.append(name if by == "workload" and name in have else only.get(ns))
    return out


def assign_tokens(rows: pl.DataFrame, tokens: pl.DataFrame, by: str, pods: pl.DataFrame) -> tuple[pl.DataFrame, float]:
    """`rows` with tokens, tokens_m (millions, prompt + generated) and usd_per_1m_tokens (null without tokens),
    and the tokens no group took."""
    t = tokens.with_columns(pl.Series("_g", _group_of(tokens, by, pods), dtype=pl.String))
    # a group with tokens but no GPU-hours in the window has no row to take them: counted as unmatched
    t = t.with_columns(pl.when(pl.col("_g").is_in(rows[by].implode())).then(pl.col("_g")).alias("_g"))
    lost = t.filter(pl.col("_g").is_null()).select(pl.col("prompt_tokens") + pl.col("generation_tokens")).sum()
    unmatched = float(lost.item() or 0.0) if lost.height else 0.0
    per = (
        t.filter(pl.col("_g").is_not_null())
        .group_by("_g")
        .agg(pl.col("prompt_tokens").sum(), pl.col("generation_tokens").sum())
        .rename({"_g": by})
    )
    out = rows.join(per, on=by, how="left").with_columns(
        ((pl.col("prompt_tokens") + pl.col("generation_tokens")) / 1e6).alias("tokens_m"),
        (pl.col("generation_tokens") / 1e6).alias("output_tokens_m"),
    )
    per_m = pl.when(pl.col("tokens_m") > 0).then(pl.col("cost_usd") / pl.col("tokens_m"))
    per_out = pl.when(pl.col("output_tokens_m") > 0).then(pl.col("cost_usd") / pl.col("output_tokens_m"))
    return (
        out.with_columns(per_m.alias("usd_per_1m_tokens"), per_out.alias("usd_per_1m_output_tokens")).drop(
            "prompt_tokens", "generation_tokens"
        ),
        unmatched,
    )
