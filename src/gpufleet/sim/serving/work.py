"""Work models: how long one request keeps a replica busy, per kind of request (a policy kind, registry WORK_MODELS).

A work model turns a REQUESTS frame into per-request times on one replica of the profile's GPU type:
`prefill` (seconds to the first output) and `service` (seconds the request holds a run alone), plus how a replica
runs them: `slots` runs at once, each run holding up to `batching.size` requests of one pipeline (continuous
batching for LLMs is `slots` = sequences, size 1; an image model is one run at a time).

- `llm`: the slot model (prefill tokens / prefill_tps, then decode at a full batch's share), today's.
- `diffusion` (sim/serving/diffusion.py): a fitted service time from steps, images, LoRAs and the base model.
- `fixed`: a service-time distribution (lognormal from a median and a p99, or a column of the trace), batched up
  to a size with a deadline: recommendation ranking and other fixed-cost inference.

Members join through the entry-point group `gpufleet.work_models` and pass tests/contract/test_work_model_contract.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field, model_validator

from gpufleet.core.errors import GpufleetError
from gpufleet.core.registry import PolicyRegistry, PolicySettings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass(frozen=True)
class Batching:
    """How a replica groups requests into one run: up to `size` requests of one pipeline; a run that is not full
    waits until its oldest request has waited `deadline_s`; a run of n takes its longest request's time
    x (1 + `cost` x (n - 1)) (0: batching is free, 1: as slow as one after the other for equal requests)."""

    size: int = 1
    deadline_s: float = 0.0
    cost: float = 0.0

    def seconds(self, service: F64, members: list[int]) -> float:
        """Seconds a run of `members` takes (one member: exactly its own time)."""
        if len(members) == 1:
            return float(service[members[0]])
        longest = max(float(service[i]) for i in members)
        return longest * (1.0 + self.cost * (len(members) - 1))


@dataclass(frozen=True)
class RequestWork:
    """Per usable request, sorted by arrival: arrival, first-output and run seconds on one replica at batch 1,
    and `rows`, each one's row in the input frame; `skipped` requests had no size and are left out (counted);
    `notes` say what was filled in."""

    arrival: F64
    prefill: F64
    service: F64
    rows: I64
    skipped: int
    notes: tuple[str, ...] = ()


class WorkSettings(PolicySettings):
    """Settings every work model has."""


class WorkModel(Protocol):
    """Per-request service times of one kind of request on one replica, and how a replica batches them."""

    Settings: ClassVar[type[WorkSettings]]
    learned: ClassVar[bool]  # True: its times come from a model fitted on data (diffusion)

    def __init__(self, settings: WorkSettings | None = None, *, seed: int = 0) -> None: ...

    @property
    def slots(self) -> int:
        """Runs one replica holds at once."""
        ...

    @property
    def batching(self) -> Batching:
        """How requests share a run."""
        ...

    def work(self, requests: pl.DataFrame) -> RequestWork:
        """The times of every request that has what this model needs (the others counted in `skipped`)."""
        ...


# the one factory: WORK_MODELS.build(name, settings, seed=...); plugins join through gpufleet.work_models
WORK_MODELS: PolicyRegistry[WorkModel] = PolicyRegistry("work model", plugins="gpufleet.work_models")


S = TypeVar("S", bound=WorkSettings)


def own_settings(member: object, settings: WorkSettings | None, model: type[S]) -> S:
    """The member's settings: its defaults for None, else an instance of its own model (never another's)."""
    if settings is None:
        return model()
    if not isinstance(settings, model):
        raise TypeError(f"{type(member).__name__} takes {model.__name__}, got {type(settings).__name__}")
    return settings


def sorted_work(arrival: F64, prefill: F64, service: F64, usable: npt.NDArray[np.bool_]) -> RequestWork:
    """RequestWork of the usable rows, in arrival order (stable: ties keep the file's order)."""
    rows = np.flatnonzero(usable)
    order = rows[np.argsort(arrival[rows], kind="stable")]
    return RequestWork(arrival[order], prefill[order], service[order], order.astype(np.int64), int((~usable).sum()))


def column(requests: pl.DataFrame, name: str) -> F64:
    """A column as floats (nulls as NaN); NaN everywhere when the frame lacks it."""
    if name not in requests.columns:
        return np.full(requests.height, np.nan)
    return requests[name].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)


class LlmSettings(WorkSettings):
    """One LLM server: vLLM-style continuous batching (measure yours with benchmark_serving, docs/autoscaling.md);
    the defaults are the llama7b-a10 profile's."""

    prefill_tps: float = Field(5000.0, gt=0, description="prompt tokens per second one replica prefills")
    decode_tps: float = Field(320.0, gt=0, description="output tokens per second across a full batch")
    max_seqs: int = Field(8, ge=1, description="sequences running at once (vLLM max_num_seqs)")


@WORK_MODELS.register("llm")
class Llm:
    """The slot model: a request holds one of `max_seqs` slots for input_tokens / prefill_tps plus output_tokens x
    max_seqs / decode_tps (its share of a full batch); without token counts, its observed `service_time`."""

    Settings: ClassVar[type[WorkSettings]] = LlmSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: WorkSettings | None = None, *, seed: int = 0) -> None:
        self.settings: LlmSettings = own_settings(self, settings, LlmSettings)

    @property
    def slots(self) -> int:
        """Sequences at once."""
        return self.settings.max_seqs

    @property
    def batching(self) -> Batching:
        """Continuous batching: every sequence is its own run."""
        return Batching()

    def work(self, requests: pl.DataFrame) -> RequestWork:
        """Token counts through the slot model; else the observed service_time; else skipped."""
        s = self.settings
        f = requests.select(
            pl.col("arrival_time").cast(pl.Float64).alias("a"),
            *(
                (requests[c].cast(pl.Float64) if c in requests.columns else pl.lit(None, pl.Float64)).alias(k)
                for c, k in (("input_tokens", "i"), ("output_tokens", "o"), ("service_time", "s"))
            ),
        )
        tokens = pl.col("i").is_not_null() & pl.col("o").is_not_null()
        f = f.with_columns(
            pl.when(tokens).then(pl.col("i") / s.prefill_tps).otherwise(0.0).alias("prefill"),
            pl.when(tokens)
            .then(pl.col("i") / s.prefill_tps + pl.col("o") * s.max_seqs / s.decode_tps)
            .otherwise(pl.col("s"))
            .alias("service"),
        )
        usable = f["service"].is_not_null().to_numpy()
        service = f["service"].fill_null(0.0).to_numpy().astype(np.float64)
        prefill = f["prefill"].to_numpy().astype(np.float64)
        return sorted_work(f["a"].to_numpy().astype(np.float64), prefill, service, usable)


class FixedSettings(WorkSettings):
    """A service-time distribution with dynamic batching (Triton's max batch size and queue delay)."""

    median_s: float = Field(0.02, gt=0, le=3600, description="median seconds of one request alone (lognormal)")
    p99_s: float = Field(0.08, gt=0, le=3600, description="99th percentile seconds of one request alone")
    column: str | None = Field(
        None, description="take each request's seconds from this column instead (rows without one are skipped)"
    )
    slots: int = Field(1, ge=1, le=1024, description="runs (batches) one replica executes at once")
    batch_size: int = Field(1, ge=1, le=4096, description="requests one run holds at most")
    batch_deadline_s: float = Field(
        0.0, ge=0, le=60, description="how long a run that is not full waits for more requests (s)"
    )
    batch_cost: float = Field(
        0.1, ge=0, le=1, description="a run of n takes the longest request's time x (1 + batch_cost x (n - 1))"
    )

    @model_validator(mode="after")
    def _ordered(self) -> FixedSettings:
        if self.p99_s < self.median_s:
            raise ValueError(f"p99_s {self.p99_s} is below median_s {self.median_s}")
        return self


@WORK_MODELS.register("fixed")
class Fixed:
    """Each request's seconds drawn from a lognormal with the given median and p99 (seeded), or read from a column;
    requests are batched up to `batch_size` with a deadline (recommendation ranking, embedding, classification)."""

    Settings: ClassVar[type[WorkSettings]] = FixedSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: WorkSettings | None = None, *, seed: int = 0) -> None:
        self.settings: FixedSettings = own_settings(self, settings, FixedSettings)
        self.seed = seed

    @property
    def slots(self) -> int:
        """Batches at once."""
        return self.settings.slots

    @property
    def batching(self) -> Batching:
        """Up to batch_size per run, waiting batch_deadline_s at most."""
        s = self.settings
        return Batching(s.batch_size, s.batch_deadline_s, s.batch_cost)

    def work(self, requests: pl.DataFrame) -> RequestWork:
        """Drawn or read seconds; no prefill (the answer comes whole)."""
        s = self.settings
        arrival = column(requests, "arrival_time")
        if s.column is not None:
            if s.column not in requests.columns:
                raise GpufleetError(f"work model fixed: column {s.column!r} is not in the requests")
            service = column(requests, s.column)
            usable = np.isfinite(service) & (service >= 0)
        else:
            sigma = (math.log(s.p99_s) - math.log(s.median_s)) / Z99
            rng = np.random.default_rng(self.seed)
            service = s.median_s * np.exp(sigma * rng.standard_normal(requests.height))
            usable = np.ones(requests.height, dtype=bool)
        service = np.where(usable, service, 0.0)
        return sorted_work(arrival, np.zeros(requests.height), service, usable)
