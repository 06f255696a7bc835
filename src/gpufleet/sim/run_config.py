"""SimConfig: everything that decides a training-cluster replay (saved as config.yaml to reproduce it).

Each policy kind is chosen as `{name, settings}`: the member's registry name and its settings, validated by the
member's own model when the config is (a bad one fails here, as one line naming the kind, member and field).
A plain name stands for the member with its default settings, so `scheduler: sjf` is enough, and configs
written before the settings moved onto the members still load: their run-wide `blocking` and
`tiresias_threshold_gpu_s` go to the scheduler that declares them (`blocking` to sjf/qssf, the threshold to
tiresias, as `threshold_gpu_s`), their `pool_policy`/`pool_settings` become `pool`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gpufleet.core.errors import GpufleetError
from gpufleet.core.registry import PolicyChoice, PolicyRegistry
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.forecasting.runtime.mates import DEFAULT_GAP_S
from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS
from gpufleet.optimizer.packing import PLACERS
from gpufleet.sim.quota_spec import QuotaSpec
from gpufleet.sim.schedulers import SCHEDULERS

# The config's policy fields and the registry each names a member of.
POLICY_FIELDS: dict[str, PolicyRegistry[Any]] = {
    "scheduler": SCHEDULERS,
    "placement": PLACERS,
    "predictor": PREDICTORS,
    "pool": POOL_SCALERS,
}

# Settings that reproduce a published simulator's semantics (docs/simulator.md, "Compatibility"): the config's
# own fields, and scheduler settings laid over those of the scheduler that declares them (sjf, qssf; under
# quotas, each queue's). The preset wins over what was given: it is the point.
COMPAT: dict[str, dict[str, Any]] = {
    "helios": {
        "placement": "helios-consolidate",
        "integer_seconds": True,
        "multi_node": True,
        "chunk_gpus": 8,
        "mate_gap_s": 0.0,  # their predictions are fixed at submission
    },
}
COMPAT_SCHEDULER: dict[str, dict[str, Any]] = {"helios": {"blocking": True, "helios_loop": True}}

# Run-wide scheduler knobs of configs written before #22, and the setting each became.
LEGACY_SCHEDULER = {"tiresias_threshold_gpu_s": "threshold_gpu_s", "blocking": "blocking"}


def _choice(v: Any) -> dict[str, Any]:
    """A policy field's value as a mutable {name, settings} dict (from a name, a dict or a PolicyChoice)."""
    if isinstance(v, PolicyChoice):
        return v.model_dump()
    if isinstance(v, str):
        return {"name": v, "settings": {}}
    if isinstance(v, dict) and isinstance(v.get("name"), str):
        return {**v, "settings": dict(v.get("settings") or {})}
    return v  # not a choice: the field's own validation says why


class SimConfig(BaseModel):
    """Everything that decides a training-cluster replay (saved as config.yaml to reproduce it)."""

    model_config = ConfigDict(extra="forbid")
    scheduler: PolicyChoice = Field(
        default_factory=lambda: PolicyChoice(name="fifo"), description="scheduler {name, settings} (SCHEDULERS)"
    )
    placement: PolicyChoice = Field(
        default_factory=lambda: PolicyChoice(name="best-fit"), description="placer {name, settings} (PLACERS)"
    )
    predictor: PolicyChoice = Field(
        default_factory=lambda: PolicyChoice(name="oracle"),
        description="runtime predictor {name, settings} for sjf/qssf/srtf/backfill (PREDICTORS)",
    )
    pool: PolicyChoice | None = Field(
        None,
        description="node-pool scaler {name, settings} (POOL_SCALERS: fixed, cluster-autoscaler, predictive);"
        " None = a fixed cluster without pool decisions",
    )
    compat: str | None = Field(None, description="reproduce a published simulator's semantics: 'helios' (COMPAT)")
    mate_gap_s: float = Field(
        DEFAULT_GAP_S,
        ge=0,
        description="refresh waiting jobs' predicted durations from their submission mates (same user, name and"
        " GPU count, each submitted within this many seconds of the previous) as the mates finish or run;"
        " 0 = predictions fixed at submission; never with the oracle predictor",
    )
    seed: int = Field(0, ge=0, description="seed of the run's random generator")
    preempt_overhead_s: float = Field(
        60.0, ge=0, description="checkpoint/restore cost paid when a preempted job resumes"
    )
    chunk_gpus: int = Field(8, ge=1, description="GPUs per node-chunk when a gang spans several nodes")
    multi_node: bool = Field(True, description="let jobs larger than any node span several nodes")
    timeline_step_s: float = Field(60.0, gt=0, description="timeline sampling interval in simulated seconds")
    speeds: dict[str, float] | str | None = Field(
        None,
        description="per-GPU-type speed factors (durations are divided by them); 'spec' = from the GPU table"
        " relative to V100; default: every type 1.0 (durations as observed)",
    )
    provision_delay_s: float = Field(300.0, ge=0, description="seconds from ordering a node to its serving")
    quota: QuotaSpec | None = Field(None, description="Kueue-style queues with quotas (sim/quota.py); None = one pool")
    integer_seconds: bool = Field(
        False, description="submit times truncated and durations rounded to whole seconds (Helios/Lucid ticks)"
    )

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Plain names and configs from before #22 to {name, settings}; then the compat preset laid over."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in POLICY_FIELDS:
            if data.get(key) is not None:
                data[key] = _choice(data[key])
        legacy = {new: data.pop(old) for old, new in LEGACY_SCHEDULER.items() if data.get(old) is not None}
        for old in LEGACY_SCHEDULER:
            data.pop(old, None)
        pool_policy, pool_settings = data.pop("pool_policy", None), data.pop("pool_settings", None)
        if pool_policy is not None and data.get("pool") is None:
            data["pool"] = {"name": pool_policy, "settings": dict(pool_settings or {})}
        compat = data.get("compat")
        if compat is not None:
            if compat not in COMPAT:
                raise GpufleetError(f"compat {compat!r}: unknown; valid: {', '.join(COMPAT)}")
            data |= COMPAT[compat]
            data["placement"] = _choice(data["placement"])
            legacy |= COMPAT_SCHEDULER.get(compat, {})  # the preset wins, where the scheduler declares it
        if legacy:
            sched = data["scheduler"] = _choice(data.get("scheduler", "fifo"))
            declared = SCHEDULERS.settings_model(sched["name"]).model_fields
            given = sched["settings"]
            keep = {k: v for k, v in legacy.items() if k in declared}
            sched["settings"] = given | keep if compat is not None else keep | given
        return data

    @model_validator(mode="after")
    def _settings(self) -> SimConfig:
        """Each member's settings validated by its own model, and kept whole (defaults written out)."""
        for key, registry in POLICY_FIELDS.items():
            choice: PolicyChoice | None = getattr(self, key)
            if choice is not None:
                choice.settings = registry.settings(choice.name, choice.settings).model_dump(mode="json")
        return self

    @field_validator("speeds")
    @classmethod
    def _speeds(cls, v: dict[str, float] | str | None) -> dict[str, float] | str | None:
        if isinstance(v, str) and v != "spec":
            raise ValueError("speeds must be a TYPE -> factor mapping or 'spec'")
        if isinstance(v, dict) and any(f <= 0 for f in v.values()):
            raise ValueError("speed factors must be > 0")
        return v
