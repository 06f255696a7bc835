"""The run summaries, typed: `Summary` (a training-cluster replay) and `ServingSummary` (a serving replay).

The simulators return them, run directories write them as summary.json (`dump`) and every reader loads them
(`load`) and reads attributes, not string keys.

What a summary.json holds is what its run measured: a field that a run did not set (the pool of a run without a
pool scaler, the groups of a run without teams, the quota of an unquoted one) is absent from the file, not null,
so `dump` writes exactly the keys that were set (`exclude_unset`) and a file read back is written back byte for
byte. Older files: a field added later has a default (absent, or the value it always had before it existed), so
they still load; a field every summary has always had is required, and its absence is one line naming the file
and the field. Keys this version does not know (from a newer gpufleet, or added by hand) are ignored on reading.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from gpufleet.core.errors import GpufleetError, validation_line
from gpufleet.core.prices import PriceTable, default_prices


class _Part(BaseModel):
    """A part of a summary: unknown keys ignored, names as written (`from` in scaling actions)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GroupRow(_Part):
    """One team, VC or queue of a training run (sim/metrics.py group_stats)."""

    group: str | None = Field(description="the group's name")
    jobs: int = Field(description="jobs of the group")
    finished: int = Field(description="of them finished")
    avg_wait_s: float = Field(description="mean wait of the finished jobs, seconds")
    p95_wait_s: float = Field(description="95th percentile wait of the finished jobs, seconds")
    avg_jct_s: float = Field(description="mean job completion time of the finished jobs, seconds")
    gpu_hours_used: float = Field(description="GPU-hours the finished jobs ran")
    gpus_owned: float | None = Field(description="GPUs the group owns (partitioned) or its nominal quota; else null")
    allocation: float | None = Field(description="GPU-hours held / (owned x span); null without ownership")
    gpu_hours_held: float | None = Field(None, description="GPU-hours the group held (from the group timeline)")
    avg_borrowed_gpus: float | None = Field(None, description="quota runs: mean GPUs borrowed beyond the quota")
    peak_borrowed_gpus: float | None = Field(None, description="quota runs: most GPUs borrowed at once")
    borrowed_gpu_hours: float | None = Field(None, description="quota runs: GPU-hours on borrowed GPUs")
    gpu_hours_ran_by_type: dict[str, float] | None = Field(
        None, description="GPU-hours the finished jobs' last runs held, per GPU type (work / the type's speed)"
    )
    cost_ran: float | None = Field(
        None, description="$ of gpu_hours_ran_by_type (null when any of it is on an unpriced type)"
    )

    def priced(self, prices: PriceTable) -> GroupRow:
        """This row with the $ of the GPU-hours its jobs ran (unchanged without a per-type split)."""
        if self.gpu_hours_ran_by_type is None:
            return self
        return self.model_copy(update={"cost_ran": prices.cost(self.gpu_hours_ran_by_type)[0]})


class PoolStats(_Part):
    """What the node-pool scaler did in a run with one."""

    policy: str | None = Field(description="the pool scaler")
    nodes_added: int = Field(description="nodes ordered")
    nodes_removed: int = Field(description="nodes released")
    jobs_preempted_by_scale_down: int = Field(description="jobs stopped because their node was released")
    actions: int = Field(description="scaling actions")


class QuotaStats(_Part):
    """Counts of a run under Kueue-style quotas (sim/quota.py)."""

    queues: int = Field(description="queues")
    flavors: list[str] = Field(description="resource flavors (GPU types) the quotas are per")
    jobs_without_queue: int = Field(description="jobs whose group has no queue (run in the default one)")
    jobs_over_quota: int = Field(description="jobs asking for more than their queue can ever have")
    reclaim_preemptions: int = Field(description="jobs preempted to give borrowed GPUs back")


class Summary(_Part):
    """A training-cluster replay (sim/run.py simulate, and the partitioned runs of sim/tenancy.py)."""

    model: str | None = Field(None, description="tenancy runs: pooled, partitioned or quota")
    scheduler: str = Field(description="the scheduler")
    placement: str = Field(description="the placer")
    predictor: str = Field(description="the runtime predictor the scheduler read, 'none' when it read none")
    cluster_gpus: float = Field(description="GPUs in the cluster")
    jobs: int = Field(description="jobs in the trace, skipped ones included")
    refused_jobs_no_vc: int | None = Field(None, description="partitioned runs: jobs of a group with no VC")
    skipped_unknown_duration: int = Field(0, description="jobs left out: their run time is unknown")
    skipped_unknown_duration_jobs: list[str] = Field(default_factory=list, description="the first 100 of them")
    finished: int = Field(description="jobs that finished")
    unfinished: int = Field(description="jobs that never finished (still queued or running at the end)")
    unschedulable: int = Field(description="jobs no node of the cluster can ever hold")
    unschedulable_jobs: list[str] = Field(description="the first 100 of them")
    avg_jct_s: float = Field(description="mean job completion time (submit to finish), seconds")
    p50_jct_s: float = Field(description="median job completion time, seconds")
    p95_jct_s: float = Field(description="95th percentile job completion time, seconds")
    p99_jct_s: float = Field(description="99th percentile job completion time, seconds")
    avg_wait_s: float = Field(description="mean wait (submit to first start), seconds")
    p50_wait_s: float = Field(description="median wait, seconds")
    p95_wait_s: float = Field(description="95th percentile wait, seconds")
    p99_wait_s: float = Field(description="99th percentile wait, seconds")
    avg_slowdown: float = Field(description="mean of JCT / max(run time, 1 s) over the finished jobs")
    preemptions: int = Field(description="preemptions")
    makespan_s: float = Field(description="first submission to last finish, seconds")
    avg_gpu_allocation: float = Field(description="share of the cluster's GPU-seconds held by jobs over the span")
    avg_stranded_gpus: float = Field(description="mean free GPUs that no waiting job could use")
    gpu_hours: float = Field(description="GPU-hours the cluster was up over the span (with a pool scaler: held)")
    gpu_hours_by_type: dict[str, float] | None = Field(None, description="gpu_hours per node GPU type")
    cost: float | None = Field(
        None, description="$ of gpu_hours_by_type at the price table's on-demand prices; null when any is unpriced"
    )
    unpriced_gpu_hours: float | None = Field(None, description="of gpu_hours, those on a type with no price")
    priced_by: str | None = Field(None, description="the price table the $ come from")
    pool: PoolStats | None = Field(None, description="runs with a node-pool scaler")
    groups: list[GroupRow] | None = Field(None, description="runs whose jobs carry teams, VCs or queues")
    groups_by: Literal["group", "queue"] | None = Field(None, description="what `groups` are")
    group_timeline_step_s: float | None = Field(None, description="step of the per-group timeline, seconds")
    quota: QuotaStats | None = Field(None, description="runs under quotas")
    predictor_choice: dict[str, Any] | None = Field(
        None, description="the `auto` predictor's record of what it chose and why (forecasting/runtime/auto.py)"
    )
    mate_refreshes: int = Field(0, description="waiting jobs re-ranked from their submission mates' news")
    notes: list[str] = Field(
        default_factory=list, description="what the replay decided about its input (node pools applied or set aside)"
    )
    events: int = Field(description="events the simulator handled")
    # a run directory keeps it in timing.json, not summary.json (identical runs write identical summaries)
    wall_s: float = Field(0.0, description="wall-clock seconds the replay took (the one number that varies run to run)")

    def dump(self) -> dict[str, Any]:
        """The summary.json form: the fields this run set, as JSON values."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    def priced(self, prices: PriceTable | None = None) -> Summary:
        """This summary with its GPU-hours priced by `prices` (the built-in list prices when None): `cost`,
        `unpriced_gpu_hours`, `priced_by` and each group's `cost_ran`. A summary without a per-type split
        (written before there was one) is returned as it is: its GPU types are not known."""
        if self.gpu_hours_by_type is None:
            return self
        prices = prices or default_prices()
        cost, unpriced = prices.cost(self.gpu_hours_by_type)
        upd: dict[str, Any] = {"cost": cost, "unpriced_gpu_hours": unpriced, "priced_by": prices.name}
        if self.groups is not None:
            upd["groups"] = [g.priced(prices) for g in self.groups]
        return self.model_copy(update=upd)


class ScalingAction(_Part):
    """One change of the serving fleet's size."""

    t: float = Field(description="simulated seconds since the start")
    from_: int = Field(alias="from", description="replicas before")
    to: int = Field(description="replicas asked for")
    reason: str = Field(description="the policy's reason")


_QUANTILE = re.compile(r"^(ttft|e2e|wait)_p(\d+(?:\.\d+)?)<=")


def slo_key(slo: str) -> str:
    """The summary key of the SLO's own percentile: 'ttft_p99<=2' -> 'ttft_p99_s', 'e2e_p95<=10' -> 'e2e_p95_s'."""
    m = _QUANTILE.match(slo.replace(" ", ""))
    return f"{m.group(1)}_p{float(m.group(2)):g}_s" if m else "slo_quantile_s"


class ServingSummary(_Part):
    """A serving replay (sim/serving/run.py simulate_serving), with what the edges add to its run directory."""

    requests_ref: str | None = Field(None, description="the requests' reference (autoscale-sim runs)")
    policy: str = Field(description="the autoscaler")
    profile: str = Field(description="the replica profile")
    gpu_type: str = Field(description="the profile's GPU type")
    requests: int = Field(description="requests replayed")
    requests_scored: int = Field(description="of them after the warm-up (latencies and SLO count these)")
    warmup_s: float = Field(description="seconds replayed but not scored at the start")
    requests_skipped_no_size: int = Field(description="requests left out: neither token counts nor a service time")
    duration_h: float = Field(description="hours replayed")
    gpu_hours: float = Field(description="GPU-hours of the fleet after the warm-up")
    cost: float | None = Field(None, description="$ of gpu_hours at gpu_type's price; null when it has none")
    priced_by: str | None = Field(None, description="the price table the $ come from")
    replica_hours: float = Field(description="replica-hours after the warm-up")
    slo: str = Field(description="the latency objective, METRIC_pQ<=SECONDS")
    slo_attainment: float = Field(description="share of scored requests within the SLO's seconds")
    attainable_share: float = Field(description="share of requests any fleet could serve within the SLO")
    requests_unattainable: int = Field(description="requests no fleet could serve within the SLO")
    slo_feasible: bool = Field(description="whether the SLO can be met at all on this trace")
    slo_attainment_attainable: float | None = Field(description="attainment over the attainable requests only")
    slo_quantile_s: float = Field(
        description="the SLO's own percentile of its metric, seconds; written under its own name (`slo_key`)"
    )
    slo_met: bool = Field(description="whether that percentile is within the SLO")
    ttft_p50_s: float = Field(description="median time to first token, seconds")
    ttft_p99_s: float = Field(description="99th percentile time to first token, seconds")
    e2e_p50_s: float = Field(description="median end-to-end latency, seconds")
    e2e_p99_s: float = Field(description="99th percentile end-to-end latency, seconds")
    wait_p99_s: float = Field(description="99th percentile queueing wait, seconds")
    scaling_actions: int = Field(description="changes of the fleet's size")
    max_replicas: int = Field(description="most replicas at once after the warm-up")
    mean_utilization: float = Field(description="busy slots / ready slots after the warm-up")
    events: int = Field(description="events the simulator handled")
    work_model: str | None = Field(None, description="the profile's work model (llm, diffusion, fixed)")
    decisions_skipped: int | None = Field(
        None, description="decisions of an idle fleet not taken: each would have kept it as it was (docs/serving.md)"
    )
    actions: list[ScalingAction] | None = Field(None, description="the scaling actions, in run directories")
    gpu_types: list[str] | None = Field(
        None, description="runs with --gpu-types: the GPU types replicas could use (sim/serving/gputypes.py)"
    )
    gpu_types_excluded: dict[str, str] | None = Field(
        None, description="runs with --gpu-types: types never used, with why (too slow for the SLO even idle)"
    )
    gpu_hours_by_type: dict[str, float] | None = Field(
        None, description="runs with --gpu-types: gpu_hours per GPU type (cost prices each at its own rate)"
    )
    swaps: int | None = Field(None, description="replays with pipelines: base-model loads (model swaps)")
    lora_loads: int | None = Field(None, description="replays with pipelines: LoRA adapter loads")
    controlnet_loads: int | None = Field(None, description="replays with pipelines: ControlNet loads")
    load_replica_hours: float | None = Field(
        None, description="replays with pipelines: replica-hours spent loading pipelines (all kinds)"
    )
    gpu_hours_vs_oracle: float | None = Field(
        None, description="compare-autoscalers rows: GPU-hours over the oracle's (null without an oracle row)"
    )
    gap_closed: float | None = Field(
        None,
        description="compare-autoscalers rows: share of the GPU-hour gap between target-tracking and the oracle"
        " this policy closes (null without both rows or without a gap; sim/serving/scoring.py gap_closed)",
    )
    gap_counts: bool | None = Field(
        None, description="compare-autoscalers rows: whether the attainment is high enough for the saving to count"
    )

    @model_validator(mode="before")
    @classmethod
    def _quantile_from_its_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "slo_quantile_s" not in data and isinstance(data.get("slo"), str):
            key = slo_key(data["slo"])
            if key in data:
                data = dict(data)
                data["slo_quantile_s"] = data[key] if key in cls.model_fields else data.pop(key)
        return data

    @model_serializer(mode="wrap")
    def _quantile_under_its_key(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if "slo_quantile_s" in out:
            out[slo_key(self.slo)] = out.pop("slo_quantile_s")
        return out

    def dump(self) -> dict[str, Any]:
        """The summary.json form: the fields this run set, as JSON values."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    def priced(self, prices: PriceTable | None = None) -> ServingSummary:
        """This summary with its GPU-hours priced at its GPU type's price, or each type's hours at their own with
        --gpu-types (built-in list prices when None)."""
        prices = prices or default_prices()
        if self.gpu_hours_by_type is not None:
            return self.model_copy(update={"cost": prices.cost(self.gpu_hours_by_type)[0], "priced_by": prices.name})
        rate = prices.rate(self.gpu_type)
        cost = None if rate is None else self.gpu_hours * rate
        return self.model_copy(update={"cost": cost, "priced_by": prices.name})

    def with_actions(self, actions: list[dict[str, Any]], requests_ref: str | None = None) -> ServingSummary:
        """This summary with the replay's scaling actions (and, from the edges, the requests' reference), as a
        run directory holds it."""
        extra: dict[str, Any] = {"actions": [ScalingAction.model_validate(a) for a in actions]}
        if requests_ref is not None:
            extra["requests_ref"] = requests_ref
        return self.model_copy(update=extra)


def load(text: str | bytes | dict[str, Any], where: str | Path, kind: type[Summary] | type[ServingSummary]) -> Any:
    """A summary.json's text (or its parsed object) as `kind`; a missing or malformed field is one line naming
    `where` and the field."""
    try:
        return kind.model_validate(text) if isinstance(text, dict) else kind.model_validate_json(text)
    except ValidationError as e:
        raise GpufleetError(validation_line(e, str(where))) from None
