"""`simulate_serving`: a REQUESTS frame, a replica profile and an autoscaler in; latencies, timeline and
GPU-hours out."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import PriceTable, default_prices
from gpufleet.forecasting.series.demand import DEFAULT_FORECASTER, Forecasting
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails, replicas_for
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.gputypes import FleetTypes, fleet_types, parse_gpu_types, usable_types
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.profiles import DEFAULT_COLD_START_S, DEFAULT_PROFILE, ReplicaProfile, load_profile
from gpufleet.sim.serving.replica import Pipelines, SwitchCosts
from gpufleet.sim.serving.scoring import Feasibility, attainment_of_attainable, latency_floor, slo_feasibility
from gpufleet.sim.serving.work import RequestWork, WorkModel
from gpufleet.sim.summary import ServingSummary

_SLO = re.compile(r"^(ttft|e2e|wait)_p(\d+(?:\.\d+)?)<=(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Slo:
    """A latency objective: the `q`th percentile of `metric` at most `seconds`."""

    metric: str
    q: float
    seconds: float

    @property
    def text(self) -> str:
        """Back to the spec string."""
        return f"{self.metric}_p{self.q:g}<={self.seconds:g}"


def parse_slo(text: str) -> Slo:
    """'ttft_p99<=2' -> Slo('ttft', 99, 2.0)."""
    m = _SLO.match(text.replace(" ", ""))
    if not m or not 0 < float(m.group(2)) < 100:
        raise GpufleetError(f"--slo {text!r}: expected METRIC_pQ<=SECONDS with METRIC ttft, e2e or wait (ttft_p99<=2)")
    return Slo(m.group(1), float(m.group(2)), float(m.group(3)))


class ServingConfig(BaseModel):
    """Everything that decides a serving replay (saved as config.yaml)."""

    model_config = ConfigDict(extra="forbid")
    policy: str = Field("target-tracking", description="autoscaler (AUTOSCALERS registry)")
    profile: str = Field(DEFAULT_PROFILE, description="replica profile: a built-in name or a YAML/CSV file")
    slo: str = Field("ttft_p99<=2", description="latency objective METRIC_pQ<=SECONDS (ttft, e2e, wait)")
    cold_start_s: float = Field(DEFAULT_COLD_START_S, ge=0, description="seconds from ordering a replica to serving")
    initial_replicas: int | None = Field(
        None, ge=1, description="replicas at the start; default: what the first minute's demand needs at 70%"
    )
    min_replicas: int = Field(1, ge=1, description="guardrail: never fewer")
    max_replicas: int = Field(200, ge=1, description="guardrail: never more")
    max_step: int | None = Field(None, ge=1, description="guardrail: largest change per decision")
    forecaster: str = Field(DEFAULT_FORECASTER, description="Forecaster for the predictive policy")
    forecaster_settings: dict[str, float] | None = Field(
        None, description="settings of the forecaster (default: window 10 for recent-window, none for others)"
    )
    forecast_step_s: int = Field(60, ge=1, description="demand series step the forecaster sees")
    forecast_level: int = Field(99, ge=50, le=99, description="prediction interval whose upper end is provisioned")
    settings: dict[str, float] = Field(default_factory=dict, description="autoscaler settings, e.g. target_util")
    seed: int = Field(0, ge=0, description="seed of the work model's draws and the pipeline switch costs")
    gpu_types: str | None = Field(
        None,
        description="GPU types replicas may use, e.g. 'A10,L4:20,H100' (a quota of replicas after ':'); the"
        " autoscaler adds the cheapest throughput (sim/serving/gputypes.py); default: the profile's own type",
    )
    warmup_s: float = Field(
        300.0,
        ge=0,
        description="seconds at the start that are replayed but not scored (the fleet starts cold, sized for"
        " the first minute); latencies, SLO and GPU-hours count from then on",
    )


@dataclass
class ServingResult:
    """Per-request latencies, the per-minute timeline, the scaling actions and the summary."""

    requests: pl.DataFrame
    timeline: pl.DataFrame
    actions: list[dict[str, Any]]
    summary: ServingSummary
    # what each decision saw and chose (t, ready, starting, service_s, desired), and the per-second demand
    # (requests in the system, time-averaged; arrivals): the inputs a live autoscaler would have had
    decisions: pl.DataFrame | None = None
    per_second: pl.DataFrame | None = None


def request_times(requests: pl.DataFrame, profile: ReplicaProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(arrival, prefill seconds, slot seconds) per usable request under the profile's work model, sorted by
    arrival; and how many had no size (left out, counted)."""
    w = profile.work_model().work(requests)
    return w.arrival, w.prefill, w.service, w.skipped


def unlimited_concurrency(arrival: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Per-second average of requests in service if every request started on arrival (demand, not supply)."""
    size = int(arrival.max(initial=0.0) + service.max(initial=0.0)) + 2
    delta = np.zeros(size + 1)
    ends = arrival + service
    # integrate exactly: each request adds its overlap with each second; done by cumulative sums of
    # fractional starts/ends
    conc = np.zeros(size)
    start_sec, end_sec = np.floor(arrival).astype(int), np.floor(ends).astype(int)
    np.add.at(delta, start_sec + 1, 1.0)
    np.add.at(delta, end_sec + 1, -1.0)
    full = np.cumsum(delta)[:size]  # requests covering each whole second from start_sec+1 .. end_sec
    conc += full
    same = start_sec == end_sec
    np.add.at(conc, start_sec[same], (ends - arrival)[same])
    diff = ~same
    np.add.at(conc, start_sec[diff], (start_sec[diff] + 1 - arrival[diff]))
    np.add.at(conc, end_sec[diff], (ends[diff] - end_sec[diff]) - 1.0)
    return conc


def _max_replicas(timeline: pl.DataFrame, warm: float, init: int) -> int:
    """Most ready replicas in a scored minute."""
    if not timeline.height:
        return init
    scored = timeline.filter(pl.col("t") > warm)["replicas"]
    return int(scored.max()) if scored.len() else init  # type: ignore[arg-type]


@dataclass(frozen=True)
class Prepared:
    """What a replay of `requests` uses: the profile, its work model and SLO, and the per-request work (arrival
    from 0: the replay starts with the first request)."""

    profile: ReplicaProfile
    model: WorkModel
    slo: Slo
    work: RequestWork


def prepare(requests: pl.DataFrame, cfg: ServingConfig) -> Prepared:
    """Profile, work model, SLO and per-request work of a replay of `requests` under `cfg`."""
    profile = load_profile(cfg.profile)
    slo = parse_slo(cfg.slo)
    model = profile.work_model(seed=cfg.seed)
    w = model.work(requests)
    if len(w.arrival) == 0:
        raise GpufleetError("no request has token counts or a service time: nothing to replay")
    w = RequestWork(w.arrival - w.arrival[0], w.prefill, w.service, w.rows, w.skipped, w.notes)
    return Prepared(profile, model, slo, w)


def warmup_for(arrival: np.ndarray, warmup_s: float) -> float:
    """Seconds replayed but not scored: a short replay keeps at least half of it scored."""
    return min(warmup_s, float(arrival[-1]) / 2)


def serving_feasibility(requests: pl.DataFrame, cfg: ServingConfig) -> Feasibility:
    """Before any replay: how many of the requests a replay would score can meet the SLO under any policy."""
    p = prepare(requests, cfg)
    slo, w = p.slo, p.work
    scored = w.arrival >= warmup_for(w.arrival, cfg.warmup_s)
    floor = latency_floor(slo.metric, w.prefill, w.service)[scored] / fastest_speed(p.profile, cfg)
    return slo_feasibility(slo.text, slo.metric, slo.q, slo.seconds, floor)


def fastest_speed(profile: ReplicaProfile, cfg: ServingConfig) -> float:
    """The speed of the fastest type replicas may use (1.0 on the profile's own type alone)."""
    if not cfg.gpu_types:
        return 1.0
    speeds = [ts.speed for name, _ in parse_gpu_types(cfg.gpu_types) if (ts := profile.type_speed(name)) is not None]
    return max(speeds, default=1.0)


@dataclass
class Replay:
    """One replay's simulator and meter after the run, when the last request finished, and the fleet it began with."""

    sim: ServingSim
    meter: FleetMeter
    end: float
    initial_replicas: int


def replay(
    work: RequestWork,
    model: WorkModel,
    profile: ReplicaProfile,
    cfg: ServingConfig,
    *,
    pipelines: Pipelines | None = None,
    switch_costs: SwitchCosts | None = None,
    timeline: bool = True,
    types: FleetTypes | None = None,
) -> Replay:
    """Replay `work` (arrival from the replay's start) on an autoscaled fleet of `profile` replicas under `cfg`; with
    pipelines and their switch costs, replicas load what each run needs (sim/serving/replica.py)."""
    arrival, prefill, service = work.arrival, work.prefill, work.service
    guard = Guardrails(min_replicas=cfg.min_replicas, max_replicas=cfg.max_replicas, max_step=cfg.max_step)
    scaler = AUTOSCALERS.build(cfg.policy, cfg.settings, guardrails=guard)  # SettingsError names the field
    capacity = model.slots * model.batching.size
    demand = unlimited_concurrency(arrival, service)
    if scaler.sees_future:  # declared by the member (the oracle, or a plugin's), never recognised by type
        scaler.set_future(demand)
    init = cfg.initial_replicas
    if init is None:
        init = math.ceil(replicas_for(float(demand[:60].mean()), capacity, 0.7))
    init = max(min(init, cfg.max_replicas), cfg.min_replicas)
    fc = None
    if scaler.uses_forecast:
        fc = Forecasting(
            cfg.forecaster,
            cfg.forecast_step_s,
            every_s=cfg.forecast_step_s,
            history_s=4 * 3600,
            level=cfg.forecast_level,
            settings=cfg.forecaster_settings,
        )
    meter = FleetMeter(keep_timeline=timeline)
    sim = ServingSim(
        arrival,
        prefill,
        service,
        profile,
        scaler,
        cold_start_s=cfg.cold_start_s,
        initial_replicas=init,
        forecasting=fc,
        observers=[meter],
        slots=model.slots,
        batching=model.batching,
        pipelines=pipelines,
        switch_costs=switch_costs,
        seed=cfg.seed,
        types=types,
    )
    return Replay(sim, meter, sim.run(), init)


def fleet_of(p: Prepared, cfg: ServingConfig, prices: PriceTable | None) -> tuple[FleetTypes, dict[str, str]]:
    """The replica types a replay of `p` under `cfg` may use, and those left out with why (sim/serving/gputypes.py)."""
    table = prices or default_prices()
    types = fleet_types(p.profile, parse_gpu_types(cfg.gpu_types) if cfg.gpu_types else None, table)
    scored = p.work.arrival >= warmup_for(p.work.arrival, cfg.warmup_s)
    floor = latency_floor(p.slo.metric, p.work.prefill, p.work.service)[scored]

    def feasible_at(speed: float) -> bool:
        return slo_feasibility(p.slo.text, p.slo.metric, p.slo.q, p.slo.seconds, floor / speed).feasible

    return usable_types(types, feasible_at)


def simulate_serving(
    requests: pl.DataFrame,
    cfg: ServingConfig,
    *,
    prices: PriceTable | None = None,
    pipelines: Pipelines | None = None,
    switch_costs: SwitchCosts | None = None,
) -> ServingResult:
    """Replay `requests` (REQUESTS) on an autoscaled fleet of `cfg.profile` replicas (on `cfg.gpu_types`, chosen by
    `prices`, built-in list prices when None); with pipelines, replicas load the base model each run needs."""
    p = prepare(requests, cfg)
    profile, slo, w = p.profile, p.slo, p.work
    arrival, prefill, service, skipped = w.arrival, w.prefill, w.service, w.skipped
    types, excluded = fleet_of(p, cfg, prices)
    r = replay(w, p.model, profile, cfg, pipelines=pipelines, switch_costs=switch_costs, types=types)
    sim, meter, end, init = r.sim, r.meter, r.end, r.initial_replicas
    wait = meter.start - arrival
    # a run that loads a pipeline first answers that much later; a faster replica prefills faster
    ttft = wait + meter.switch_s + prefill / meter.speed
    e2e = meter.finish - arrival
    warm = warmup_for(arrival, cfg.warmup_s)
    scored = arrival >= warm
    fastest = max(t.speed for t in types.types)  # what no policy can go below: an idle replica of the fastest type
    floor = latency_floor(slo.metric, prefill, service)[scored] / fastest
    feas = slo_feasibility(slo.text, slo.metric, slo.q, slo.seconds, floor)
    per = pl.DataFrame(
        {"arrival": arrival, "wait_s": wait, "ttft_s": ttft, "e2e_s": e2e, "service_s": service, "scored": scored}
    )
    wait, ttft, e2e = wait[scored], ttft[scored], e2e[scored]
    metric = {"ttft": ttft, "e2e": e2e, "wait": wait}[slo.metric]
    timeline = pl.DataFrame(meter.timeline) if meter.timeline else pl.DataFrame()
    gpu_h = meter.gpu_hours(since=warm)
    summary = ServingSummary(
        policy=cfg.policy,
        profile=profile.name,
        gpu_type=profile.gpu_type,
        requests=len(arrival),
        requests_scored=int(scored.sum()),
        warmup_s=warm,
        requests_skipped_no_size=skipped,
        duration_h=end / 3600,
        gpu_hours=gpu_h,
        replica_hours=gpu_h / profile.gpus,
        slo=slo.text,
        slo_attainment=float((metric <= slo.seconds).mean()),
        # what no policy can fix (docs/autoscaling.md): attainment is also scored against the rest alone
        attainable_share=feas.share,
        requests_unattainable=feas.unattainable,
        slo_feasible=feas.feasible,
        slo_attainment_attainable=attainment_of_attainable(metric <= slo.seconds, floor, slo.seconds),
        slo_quantile_s=float(np.percentile(metric, slo.q)),  # written under its own name (slo_key)
        slo_met=bool(np.percentile(metric, slo.q) <= slo.seconds),
        ttft_p50_s=float(np.percentile(ttft, 50)),
        ttft_p99_s=float(np.percentile(ttft, 99)),
        e2e_p50_s=float(np.percentile(e2e, 50)),
        e2e_p99_s=float(np.percentile(e2e, 99)),
        wait_p99_s=float(np.percentile(wait, 99)),
        scaling_actions=len(meter.actions),
        max_replicas=_max_replicas(timeline, warm, init),
        mean_utilization=meter.utilization(since=warm),
        events=sim.events,
        work_model=profile.work,
        decisions_skipped=sim.decisions_skipped,
        **_types_fields(cfg, types, excluded, meter, warm),
        **_swap_fields(pipelines, meter, warm),
    ).priced(prices)
    decisions = pl.DataFrame(meter.decisions, schema=["t", "ready", "starting", "service_s", "desired"], orient="row")
    if cfg.gpu_types:
        per = per.with_columns(pl.Series("speed", meter.speed))
    n = int(np.ceil(end)) + 1
    per_second = pl.DataFrame({"t": np.arange(n), "concurrency": sim.conc[:n], "arrivals": sim.arr[:n]})
    return ServingResult(per, timeline, meter.actions, summary, decisions, per_second)


def _types_fields(
    cfg: ServingConfig, types: FleetTypes, excluded: dict[str, str], meter: FleetMeter, warm: float
) -> dict[str, Any]:
    """The summary's per-type fields of a run with --gpu-types (none without)."""
    if not cfg.gpu_types:
        return {}
    by_type = meter.gpu_hours_by_type(since=warm)
    return {
        "gpu_types": [t.gpu_type for t in types.types] + list(excluded),
        "gpu_types_excluded": excluded,
        "gpu_hours_by_type": {t.gpu_type: by_type.get(t.gpu_type, 0.0) for t in types.types},
    }


def _swap_fields(pipelines: Pipelines | None, meter: FleetMeter, warm: float) -> dict[str, Any]:
    """The summary's pipeline loads after the warm-up (none without pipelines)."""
    if pipelines is None:
        return {}
    at = np.asarray(meter.switch_at)
    kinds = np.asarray(meter.switch_kinds)
    secs = np.asarray(meter.switch_seconds)
    scored = at >= warm if len(at) else np.zeros(0, dtype=bool)
    return {
        "swaps": int(np.count_nonzero(scored & (kinds == "base"))),
        "lora_loads": int(np.count_nonzero(scored & (kinds == "lora"))),
        "controlnet_loads": int(np.count_nonzero(scored & (kinds == "control"))),
        "load_replica_hours": float(secs[scored].sum()) / 3600 if len(secs) else 0.0,
    }
