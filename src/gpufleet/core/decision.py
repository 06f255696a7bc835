"""The live hook's decision record, defined once. Its fields are the DECISIONS table's columns (core/schemas.py
derives them: the store, which sits below the hook, validates against it), the HTTP API's answer
(`PublicDecision`) and the rows a restarted hook reads back (`Decision.from_row`).

It lives in core, not hook/, because the store schema that the collector's store checks is derived from it.
One rule for numbers: a float that is not finite means unknown (no telemetry, a policy that failed): NaN in
memory, null in the store and in JSON. `telemetry_age_s` is the one exception in memory, where +inf means that
no sample was ever seen (the gauge says +Inf); it too is null in the store.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model


@dataclass(frozen=True)
class Stored:
    """How a field is kept in the DECISIONS table when that is not the default (nullable, no value check)."""

    required: bool = False
    check: Literal["nonneg"] | None = None
    utc: bool = False  # epoch seconds in memory, a UTC datetime in the store


class Decision(BaseModel):
    """One decision of the hook for one workload: what it saw, what the policy said and why."""

    model_config = ConfigDict(extra="forbid")

    ts: Annotated[float, Stored(required=True, utc=True)] = Field(
        description="when it was decided, seconds since the Unix epoch (a UTC datetime in the store)"
    )
    namespace: Annotated[str, Stored(required=True)] = Field(description="the workload's namespace")
    workload: Annotated[str, Stored(required=True)] = Field(description="the workload's name")
    policy: str = Field(description="the autoscaler that decided")
    status: Annotated[str, Stored(required=True)] = Field(
        description="ok, stale (telemetry too old), error (telemetry or policy failed)"
    )
    current_replicas: Annotated[int, Stored(check="nonneg")] = Field(description="replicas asked for when deciding")
    desired_replicas: Annotated[int, Stored(required=True, check="nonneg")] = Field(
        description="replicas the decision asks for (the last good answer when stale or error)"
    )
    raw: float = Field(description="the policy's answer before guardrails")
    concurrency: float = Field(description="requests in flight, mean of the last decision period")
    arrival_rate: float = Field(description="arrivals per second, mean of the last decision period")
    forecast_hi: float = Field(description="the forecast's upper quantile over the lead time, arrivals per second")
    service_s: float = Field(description="seconds one request holds a slot")
    telemetry_age_s: float = Field(description="age of the newest sample, seconds")
    latency_ms: float = Field(description="time the decision took")
    reason: str = Field(description="why, in words")
    decision_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:16],
        description="this decision's id: the same in the store, the HTTP answer and the log lines about it",
    )

    @property
    def demand(self) -> bool:
        """Whether the telemetry behind it showed any work (in flight, arriving, or forecast)."""
        return any(v > 0 for v in (self.concurrency, self.arrival_rate, self.forecast_hi) if math.isfinite(v))

    def public(self) -> dict[str, Any]:
        """The JSON form (PublicDecision): unknown numbers as null, and `time`, the ISO 8601 form of `ts`."""
        d = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.model_dump().items()}
        d["time"] = datetime.fromtimestamp(self.ts, UTC).isoformat()
        return d

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Decision:
        """A decision read back from the DECISIONS table: nulls become NaN numbers, 0 replicas, empty text."""
        empty: dict[Any, Any] = {float: math.nan, int: 0, str: ""}
        values = {k: empty[f.annotation] if row.get(k) is None else row[k] for k, f in cls.model_fields.items()}
        values["ts"] = row["ts"].timestamp()
        return cls.model_validate(values)


def decisions_frame(ds: list[Decision]) -> pl.DataFrame:
    """Decisions as DECISIONS rows: `ts` a UTC datetime, numbers that are not finite null."""
    f = pl.DataFrame([d.model_dump() for d in ds], schema=DTYPES)
    floats = [k for k, t in DTYPES.items() if t == pl.Float64 and k != "ts"]
    return f.with_columns(
        pl.from_epoch((pl.col("ts") * 1e6).round().cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC"),
        *(pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats),
    )


def stored(name: str) -> Stored:
    """A field's storage rule (the default one when it declares none)."""
    return next((m for m in Decision.model_fields[name].metadata if isinstance(m, Stored)), Stored())


# in-memory dtypes of the fields; core/schemas.py turns `ts` into its UTC datetime column
DTYPES: dict[str, pl.DataType] = {
    k: {float: pl.Float64(), int: pl.Int64(), str: pl.Utf8()}[f.annotation]  # type: ignore[index]
    for k, f in Decision.model_fields.items()
}

# the HTTP answer's model (OpenAPI documents it with the fields' descriptions): numbers may be null
PublicDecision: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "PublicDecision",
    time=(str, Field(description="`ts` in ISO 8601, UTC")),
    **{
        k: (f.annotation | None if f.annotation is float else f.annotation, Field(description=f.description))
        for k, f in Decision.model_fields.items()
    },
)
