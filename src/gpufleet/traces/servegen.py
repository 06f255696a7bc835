"""Alibaba ServeGen (NSDI'26): per-client LLM request-rate statistics in 10-minute windows over 14 days."""

from __future__ import annotations

import polars as pl

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


DATASETS.add(
    "servegen",
    Dataset(
        name="servegen",
        folder="alibaba-servegen",
        title="Alibaba ServeGen (NSDI'26): per-client LLM request rates, 10-min windows, 14 days",
        source="github.com/alibaba/ServeGen data/language @ f891d11",
        license="Apache-2.0",
        parts=(
            Part("m-small", "SERIES", "43 clients of model m-small", _model("m-small"), "ds"),
            Part("m-mid", "SERIES", "109 clients of model m-mid", _model("m-mid"), "ds"),
        ),
        default_part="m-small",
    ),
)
