"""Synthetic LLM inference requests: a diurnal rate with bursts, Azure-like token lengths, code and chat mixed."""

from __future__ import annotations

import numpy as np
import polars as pl

from gpufleet.core.schemas import REQUESTS
from gpufleet.core.units import DAY, HOUR
from gpufleet.traces.synthetic.config import SyntheticRequestsConfig

MODELS = ("code", "conv")
# Token lengths per model: (median, log-sd, min, max) for input then output, fitted to the Azure LLM inference
# trace 2023 (Splitwise). The median is the trace's; the log-sd minimizes the combined log error of the mean
# and p90; min and max are the trace's extremes (conv output stops at 1,000 tokens). Resulting means:
# code input 2,147 (trace 2,048), output 25 (28); conv input 1,372 (1,155), output 193 (211).
TOKENS: dict[str, tuple[tuple[float, float, int, int], tuple[float, float, int, int]]] = {
    "code": ((1469.0, 0.98, 3, 7437), (13.0, 1.13, 6, 1899)),
    "conv": ((1020.0, 0.77, 2, 14050), (129.0, 0.93, 7, 1000)),
}
BURST_CODE_SHARE = 0.8  # bursts are mostly coding traffic: per-second CV of arrivals 2.27 for code, 0.5 for conv
WINDOW_S = 10.0  # the base rate is held constant over 10-second windows


def _client_weights(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    """Zipf-like traffic shares in a random order (ServeGen m-mid: the top client sends ~52%)."""
    w = 1.0 / np.arange(1, n + 1) ** skew
    return rng.permutation(w / w.sum())


def _tokens(rng: np.random.Generator, model_idx: np.ndarray, which: int) -> np.ndarray:
    """Lognormal token counts per request, clipped to the trace's range."""
    out = np.empty(model_idx.size, dtype=np.int64)
    z = rng.standard_normal(model_idx.size)
    for k, name in enumerate(MODELS):
        med, sd, lo, hi = TOKENS[name][which]
        m = model_idx == k
        out[m] = np.clip(np.rint(med * np.exp(sd * z[m])), lo, hi).astype(np.int64)
    return out


def sample_tokens(rng: np.random.Generator, n: int, model: str = "conv") -> tuple[np.ndarray, np.ndarray]:
    """(input, output) token counts for n requests from the Azure-fitted lengths of `model` (code or conv)."""
    idx = np.full(n, MODELS.index(model))
    return _tokens(rng, idx, 0), _tokens(rng, idx, 1)


def _burst_extra(cfg: SyntheticRequestsConfig) -> float:
    """Expected burst traffic as a fraction of base traffic."""
    return cfg.bursts_per_hour * cfg.burst_mean_s / HOUR * (cfg.burst_mult - 1.0)


def rate_at(cfg: SyntheticRequestsConfig, t: np.ndarray) -> np.ndarray:
    """Base request rate (req/s, before bursts) at times `t` seconds since 0."""
    extra = _burst_extra(cfg)
    phase = 2.0 * np.pi * (t - cfg.peak_hour * HOUR) / DAY
    # Scaled down so that base plus the bursts' expected extra traffic averages mean_rps.
    return cfg.mean_rps / (1.0 + extra) * (1.0 + cfg.diurnal_amplitude * np.cos(phase))


def synthetic_requests(cfg: SyntheticRequestsConfig) -> pl.DataFrame:
    """A REQUESTS frame over `cfg.hours`, sorted by arrival; deterministic for a seed."""
    rng = np.random.default_rng(cfg.seed)
    horizon = cfg.hours * HOUR
    clients = _client_weights(rng, cfg.n_clients, cfg.client_skew)

    # Base traffic: a Poisson process whose rate is constant within each window (non-homogeneous overall).
    starts = np.arange(0.0, horizon, WINDOW_S)
    width = np.minimum(WINDOW_S, horizon - starts)
    base = rate_at(cfg, starts + width / 2.0)
    counts = rng.poisson(base * width)
    t_base = np.repeat(starts, counts) + rng.random(int(counts.sum())) * np.repeat(width, counts)
    n_base = t_base.size
    c_base = rng.choice(cfg.n_clients, n_base, p=clients)
    # Bursts are mostly code, so base traffic gets less code for the total to keep code_share.
    burst_frac = _burst_extra(cfg) / (1.0 + _burst_extra(cfg))
    base_code = min(1.0, max(0.0, (cfg.code_share - burst_frac * BURST_CODE_SHARE) / (1.0 - burst_frac)))
    m_base = (rng.random(n_base) >= base_code).astype(np.int64)

    # Burst episodes: one client floods one model for a while at several times the current rate.
    n_ep = int(rng.poisson(cfg.bursts_per_hour * cfg.hours))
    ep_start = rng.random(n_ep) * horizon
    ep_len = np.minimum(rng.exponential(cfg.burst_mean_s, n_ep), horizon - ep_start)
    ep_mult = 1.0 + rng.exponential(cfg.burst_mult - 1.0, n_ep) if cfg.burst_mult > 1 else np.ones(n_ep)
    ep_count = rng.poisson(rate_at(cfg, ep_start) * (ep_mult - 1.0) * ep_len)
    ep_of = np.repeat(np.arange(n_ep), ep_count)
    t_burst = ep_start[ep_of] + rng.random(ep_of.size) * ep_len[ep_of]
    c_burst = rng.choice(cfg.n_clients, n_ep, p=clients)[ep_of]
    m_burst = (rng.random(n_ep) >= BURST_CODE_SHARE).astype(np.int64)[ep_of]

    t = np.concatenate([t_base, t_burst])
    order = np.argsort(t, kind="stable")
    t = t[order]
    model_idx = np.concatenate([m_base, m_burst])[order]
    client = np.concatenate([c_base, c_burst])[order]
    n = t.size
    id_width = max(8, len(str(n - 1)))
    cw = max(2, len(str(cfg.n_clients - 1)))
    frame = pl.DataFrame(
        {
            "request_id": pl.int_range(0, n, eager=True).cast(pl.Utf8).str.zfill(id_width),
            "arrival_time": np.round(t, 6),
            "input_tokens": _tokens(rng, model_idx, 0),
            "output_tokens": _tokens(rng, model_idx, 1),
            "model": pl.Series(MODELS).gather(model_idx),
            "client": pl.int_range(0, cfg.n_clients, eager=True).cast(pl.Utf8).str.zfill(cw).gather(client),
            "service_time": pl.Series([None] * n, dtype=pl.Float64),
        },
        schema_overrides={"input_tokens": pl.Int64, "output_tokens": pl.Int64},
    )
    return frame.with_columns(
        ("req-" + pl.col("request_id")).alias("request_id"),
        ("client-" + pl.col("client")).alias("client"),
    ).select(REQUESTS.names)
