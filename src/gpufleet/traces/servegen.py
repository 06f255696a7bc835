"""Alibaba ServeGen (NSDI'26): per-client LLM request-rate statistics in 10-minute windows over 14 days."""

from __future__ import annotations

import numpy as np
import polars as pl

from gpufleet.core.errors import TraceError
from gpufleet.core.units import DAY
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import drop_nulls_counted, expect_seconds, read_csv


def _model(model: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        file = f"language_{model}_client_windows.csv.gz"
        raw = read_csv(
            ctx,
            file,
            {
                "client_id": "str",
                "window_start_s": "float",
                "rate_rps": "float",
                "cv": "float",
                "iat_dist": "str",
                "iat_shape": "float",
                "iat_scale": "float",
            },
        )
        raw = drop_nulls_counted(ctx, raw, ["client_id", "window_start_s", "rate_rps"], f"{file}: empty field")
        expect_seconds(ctx, file, raw["window_start_s"], max_value=60 * DAY)
        ctx.epoch = "1970-01-01T00:00:00Z stands for the (shifted) trace start"
        ctx.notes.append(
            "unique_id = client, y = mean request rate (req/s) in the 10-min window starting at ds;"
            " cv and the fitted inter-arrival distribution are kept for replay"
        )
        return raw.select(
            pl.col("client_id").alias("unique_id"),
            pl.from_epoch(pl.col("window_start_s").cast(pl.Int64), time_unit="s")
            .dt.replace_time_zone("UTC")
            .alias("ds"),
            pl.col("rate_rps").alias("y"),
            "cv",
            "iat_dist",
            "iat_shape",
            "iat_scale",
        )

    return read


WINDOW_S = 600.0


def _iats(rng: np.random.Generator, dist: str | None, shape: float, scale: float, mean: float, n: int) -> np.ndarray:
    """n inter-arrival times from the window's fitted distribution, rescaled to `mean` (as ServeGen does);
    exponential (Poisson arrivals) where no fit was recorded."""
    if dist == "Gamma" and shape > 0 and scale > 0:
        x = rng.gamma(shape, scale, n)
    elif dist == "Weibull" and shape > 0 and scale > 0:
        x = scale * rng.weibull(shape, n)
    else:
        x = rng.exponential(1.0, n)
    m = x.mean()
    return x * (mean / m) if m > 0 else np.full(n, mean)


def _requests(model: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        from gpufleet.traces.synthetic.requests import sample_tokens

        p = ctx.params
        hours = float(p.get("hours", 6.0))
        start_h = float(p.get("start_h", 0.0))
        scale = float(p.get("scale", 0.002))
        seed = int(p.get("seed", 0))
        if hours <= 0 or scale <= 0 or start_h < 0:
            raise TraceError(f"servegen:{model}-requests: hours and scale must be > 0 and start_h >= 0")
        win = _model(model)(ctx)
        t0, t1 = start_h * 3600.0, (start_h + hours) * 3600.0
        rows = (
            win.with_columns(pl.col("ds").dt.epoch("s").cast(pl.Float64).alias("w"))
            .filter((pl.col("w") >= t0) & (pl.col("w") < t1) & (pl.col("y") > 0))
            .sort("w", "unique_id")
        )
        rng = np.random.default_rng(seed)
        times: list[np.ndarray] = []
        clients: list[np.ndarray] = []
        for cid, w, rate, dist, shape, sc in rows.select(
            "unique_id", "w", "y", "iat_dist", "iat_shape", "iat_scale"
        ).iter_rows():
            lam = rate * scale
            n = int(rng.poisson(lam * WINDOW_S * 1.5)) + 8  # enough draws to cover the window
            gaps = _iats(rng, dist, shape or 0.0, sc or 0.0, 1.0 / lam, n)
            # a random phase: the window does not start with an arrival
            t = w - rng.uniform(0, gaps[0]) + np.cumsum(gaps)
            t = t[(t >= w) & (t < w + WINDOW_S)]
            times.append(t)
            clients.append(np.full(len(t), cid, dtype=object))
        arrival = np.concatenate(times) if times else np.zeros(0)
        client = np.concatenate(clients) if clients else np.zeros(0, dtype=object)
        order = np.argsort(arrival, kind="stable")
        arrival, client = arrival[order] - t0, client[order]
        tin, tout = sample_tokens(rng, len(arrival), "conv")
        ctx.epoch = f"hour {start_h:g} of the ServeGen trace"
        ctx.notes.append(
            f"arrivals sampled per client and 10-min window from the fitted inter-arrival distributions, rescaled"
            f" to rate x {scale:g} (ServeGen's method), hours {start_h:g}-{start_h + hours:g}, seed {seed};"
            " token lengths are not in the windows and come from the Azure conv fit"
        )
        return pl.DataFrame(
            {
                "request_id": [f"sg{i}" for i in range(len(arrival))],
                "arrival_time": arrival.astype(np.float64),
                "input_tokens": tin,
                "output_tokens": tout,
                "model": [model] * len(arrival),
                "client": [str(c) for c in client],
            },
            schema_overrides={"arrival_time": pl.Float64},
        )

    return read


DATASETS.add(
    "servegen",
    Dataset(
        name="servegen",
        folder="alibaba-servegen",
        title="Alibaba ServeGen (NSDI'26): per-client LLM request rates, 10-min windows, 14 days",
        source="github.com/alibaba/ServeGen data/language @ f891d11",
        license="Apache-2.0",
        parts=(
            Part("m-small", "SERIES", "43 clients of model m-small", _model("m-small"), "ds", lower=0.0),
            Part("m-mid", "SERIES", "109 clients of model m-mid", _model("m-mid"), "ds", lower=0.0),
            Part(
                "m-small-requests",
                "REQUESTS",
                "arrivals sampled from m-small's windows (-p hours=6 -p start_h=0 -p scale=0.002 -p seed=0)",
                _requests("m-small"),
                "arrival_time",
            ),
            Part(
                "m-mid-requests",
                "REQUESTS",
                "arrivals sampled from m-mid's windows (-p hours=6 -p start_h=0 -p scale=0.002 -p seed=0)",
                _requests("m-mid"),
                "arrival_time",
            ),
        ),
        default_part="m-small",
    ),
)
