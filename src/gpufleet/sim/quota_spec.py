"""The settings of a quota model (Kueue ClusterQueues): what a tenancy file's `queues:` holds.
Semantics in sim/quota.py, which runs them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gpufleet.core.registry import PolicyChoice


class QueueSpec(BaseModel):
    """One queue (a Kueue ClusterQueue)."""

    model_config = ConfigDict(extra="forbid")
    nominal: float | dict[str, float] = Field(description="GPUs per GPU type; a number = any type")
    borrowing_limit: float | dict[str, float] | None = Field(
        None, description="most GPUs it may borrow above nominal (default: as much as the cohort has free)"
    )
    lending_limit: float | dict[str, float] | None = Field(
        None, description="most of its nominal GPUs others may borrow (default: all of it)"
    )
    cohort: str | None = Field(None, description="queues of one cohort lend each other unused quota")
    groups: list[str] | None = Field(None, description="job groups submitting here (default: the queue's name)")
    scheduler: PolicyChoice | None = Field(
        None,
        description="scheduler inside this queue: a name or {name, settings} (default: the run's); it also takes"
        " those of the run scheduler's settings it declares, its own settings winning",
    )

    @field_validator("nominal", "borrowing_limit", "lending_limit")
    @classmethod
    def _non_negative(cls, v: Any) -> Any:
        vals = v.values() if isinstance(v, dict) else [v]
        if any(x is not None and x < 0 for x in vals):
            raise ValueError("quotas and limits must be >= 0")
        return v


class QuotaSpec(BaseModel):
    """The queues of a shared cluster."""

    model_config = ConfigDict(extra="forbid")
    queues: dict[str, QueueSpec]
    default_queue: str | None = Field(None, description="queue of jobs whose group no queue lists")
    reclaim: bool = Field(True, description="lenders preempt borrowers to get their nominal quota back")
