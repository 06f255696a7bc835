"""Azure LLM inference trace 2023 (Splitwise, ISCA'24): request arrivals with input/output tokens."""

from __future__ import annotations

import polars as pl

from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import drop_nulls_counted, read_csv


def _service(svc: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        file = f"AzureLLMInferenceTrace_{svc}.csv.gz"
        raw = read_csv(ctx, file, {"TIMESTAMP": "datetime", "ContextTokens": "int", "GeneratedTokens": "int"})
        raw = drop_nulls_counted(ctx, raw, ["TIMESTAMP"], f"{file}: empty TIMESTAMP")
        t0 = raw["TIMESTAMP"].min()
        ctx.epoch = str(t0)
        ctx.notes.append("arrival_time = s since the first request; trust relative times only")
        return (
            raw.with_row_index("i")
            .select(
                (pl.lit(f"{svc}-") + pl.col("i").cast(pl.Utf8)).alias("request_id"),
                ((pl.col("TIMESTAMP") - pl.lit(t0)).dt.total_microseconds() / 1e6).alias("arrival_time"),
                pl.col("ContextTokens").alias("input_tokens"),
                pl.col("GeneratedTokens").alias("output_tokens"),
                pl.lit(svc).alias("model"),
            )
            .sort("arrival_time", maintain_order=True)
        )

    return read


DATASETS.add(
    "azure-llm",
    Dataset(
        name="azure-llm",
        folder="azure-llm-inference-2023",
        title="Azure LLM inference trace 2023 (Splitwise ISCA'24): code and conversation services, 1 h each",
        source="github.com/Azure/AzurePublicDataset data/AzureLLMInferenceTrace_*.csv @ 7909210",
        license="CC-BY-4.0",
        parts=(
            Part("code", "REQUESTS", "8,819 coding-service requests", _service("code"), "arrival_time"),
            Part("conv", "REQUESTS", "19,366 conversation-service requests", _service("conv"), "arrival_time"),
        ),
        default_part="conv",
    ),
)
