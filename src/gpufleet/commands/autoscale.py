"""`gpufleet autoscale-sim` and `gpufleet compare-autoscalers`: serving replays under autoscaling policies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PricesOpt,
    _params,
    _root_opt,
    check_out_dir,
    emit_json,
    err,
    handles_errors,
    out,
    policy_settings,
    reads_files,
)
from gpufleet.core.errors import GpufleetError, validation_line

if TYPE_CHECKING:
    from gpufleet.sim.summary import ServingSummary

RequestsOpt = Annotated[
    str, typer.Option(help="REQUESTS reference: azure-llm:conv, genai:requests, synthetic:requests.")
]
SloOpt = Annotated[
    str | None,
    typer.Option(
        help="Latency objective METRIC_pQ<=SECONDS (ttft, e2e, wait). Default: ttft_p99<=2 for LLM profiles;"
        " for diffusion and fixed, an e2e p99 bound from the trace's selection window (docs/serving.md)."
    ),
]
ProfileOpt = Annotated[str | None, typer.Option(help="Replica profile: built-in name or YAML/CSV file.")]
# a day: far beyond any real cold start; the replay keeps a slot per second of it
ColdStartOpt = Annotated[
    float | None, typer.Option(min=0, max=86400, help="Seconds from ordering a replica to serving.")
]
MinReplicasOpt = Annotated[int | None, typer.Option(help="Guardrail: never fewer replicas.")]
GpuTypesOpt = Annotated[
    str | None,
    typer.Option(
        help="GPU types replicas may use, e.g. A10:20,A100-80GB,H100 (a quota after ':'): the autoscaler adds the"
        " cheapest throughput (the profile's speeds, --prices); default: the profile's own type."
    ),
]
SwapsOpt = Annotated[
    bool | None,
    typer.Option(
        "--swaps/--no-swaps",
        help="Replicas hold one base model at a time and load what each run needs (genai:*-update load times)."
        " Default: on when the requests name a base model and the profile is not an LLM.",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Autoscaler setting KEY=VALUE (e.g. target_util=0.6); repeatable; `gpufleet policies --kind"
        " autoscaler` lists each policy's settings.",
    ),
]


def _config(policy: str, **kw: Any) -> Any:
    from pydantic import ValidationError

    from gpufleet.sim.serving import ServingConfig, load_profile, parse_slo

    if kw["slo"] is not None:
        parse_slo(kw["slo"])
    load_profile(kw["profile"])
    try:
        cfg = ServingConfig(policy=policy, **{k: v for k, v in kw.items() if v is not None})
    except ValidationError as e:
        options = {f: "--" + f.replace("_", "-") for f in ServingConfig.model_fields} | {"cold_start_s": "--cold-start"}
        raise GpufleetError(validation_line(e, option_of=options)) from None
    if cfg.min_replicas > cfg.max_replicas:
        raise GpufleetError(
            f"--min-replicas {cfg.min_replicas} is more than --max-replicas {cfg.max_replicas}"
            + ("" if kw.get("max_replicas") is not None else " (the default)")
        )
    return cfg


def _save(out_dir: Path, command: str, requests: str, cfg: Any, res: Any) -> None:
    """One run directory: summary (with the scaling actions), config, per-request and per-minute tables."""
    from gpufleet.report.rundir import write_run

    write_run(
        out_dir,
        summary=res.summary.with_actions(res.actions, requests_ref=requests),
        config={"command": command, "requests": requests, **cfg.model_dump()},
        tables={"requests": res.requests, "timeline": res.timeline},
    )


# what bounds a request's latency from below on an idle replica, per SLO metric: an LLM's prefill and decode,
# any other work model's run (a diffusion request has no first token before its image)
LLM_DEFAULT_SLO = "ttft_p99<=2"  # plan.serving_profiles.LLM_DEFAULT_SLO, without importing plan at start-up
FLOOR_WHAT = {"ttft": "prefill", "e2e": "prefill + decode", "wait": "a wait"}
FLOOR_WHAT_RUN = {"ttft": "the run", "e2e": "the run", "wait": "a wait"}


def _with_slo(frame: Any, cfgs: list[Any], slo: str | None) -> tuple[list[Any], str]:
    """The configs with the SLO given, or the profile's default (plan.serving_profiles); and why, in words."""
    if slo is not None:
        return cfgs, "given"
    from gpufleet.plan.serving_profiles import default_slo

    text, why = default_slo(frame, cfgs[0])
    return [c.model_copy(update={"slo": text}) for c in cfgs], why


def _check_types(cfg: Any, prices: Any) -> None:
    """--gpu-types: every type has a speed in the profile and (in a mix) a price; before any data is read."""
    if cfg.gpu_types is None:
        return
    from gpufleet.sim.serving import load_profile
    from gpufleet.sim.serving.gputypes import fleet_types, parse_gpu_types

    fleet_types(load_profile(cfg.profile), parse_gpu_types(cfg.gpu_types), prices)


def _feasibility_line(frame: Any, cfg: Any) -> tuple[str, Any]:
    """What no policy can fix, computed before any replay: the sentence (marked up) and the Feasibility."""
    from gpufleet.sim.serving import load_profile, parse_slo, serving_feasibility

    feas = serving_feasibility(frame, cfg)
    what = FLOOR_WHAT if load_profile(cfg.profile).work == "llm" else FLOOR_WHAT_RUN
    text = feas.sentence(what[parse_slo(cfg.slo).metric])
    return (text if feas.feasible else f"[bold red]{text}[/bold red]"), feas


def _row(s: ServingSummary) -> dict[str, Any]:
    return {
        "policy": s.policy,
        "GPU-hours": s.gpu_hours,
        "cost": dollars(s.cost),
        "SLO attainment": f"{s.slo_attainment:.2%}",
        "of attainable": _share(s.slo_attainment_attainable),
        "SLO met": "yes" if s.slo_met else "no",
        "TTFT p50 s": s.ttft_p50_s,
        "TTFT p99 s": s.ttft_p99_s,
        "e2e p99 s": s.e2e_p99_s,
        **_swap_cells(s),
        **_type_cells(s),
        "max replicas": s.max_replicas,
        "utilization": s.mean_utilization,
        "actions": s.scaling_actions,
    }


def _swap_cells(s: ServingSummary) -> dict[str, Any]:
    return {} if s.swaps is None else {"swaps": s.swaps, "LoRA loads": s.lora_loads}


def _type_cells(s: ServingSummary) -> dict[str, Any]:
    return {"GPU-h by type": by_type_cell(s)} if s.gpu_hours_by_type else {}


def by_type_cell(s: ServingSummary) -> str:
    """GPU-hours of each type the run used, as one cell ('A10 1,234, A100-80GB 122'; '-' for none)."""
    return ", ".join(f"{k} {v:,.0f}" for k, v in (s.gpu_hours_by_type or {}).items() if v > 0) or "-"


def dollars(x: float | None, whole: bool = False) -> str:
    """$ as a cell (core.prices.dollars, imported when a table is drawn)."""
    from gpufleet.core.prices import dollars as fmt

    return fmt(x, whole=whole)


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


@handles_errors
@reads_files
def autoscale_sim_cmd(
    requests: RequestsOpt,
    policy: Annotated[str, typer.Option(help="Autoscaler: {policies:autoscaler}.")] = "target-tracking",
    slo: SloOpt = None,
    profile: ProfileOpt = None,
    cold_start: ColdStartOpt = None,
    min_replicas: MinReplicasOpt = None,
    max_replicas: Annotated[int | None, typer.Option(help="Guardrail: never more replicas.")] = None,
    gpu_types: GpuTypesOpt = None,
    swaps: SwapsOpt = None,
    setting: SetOpt = None,
    param: ParamOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write a run directory here.")] = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay requests on an autoscaled fleet; GPU-hours, SLO attainment, latencies and scaling actions."""
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import replay_pipelines
    from gpufleet.report.console import metrics_table
    from gpufleet.sim.serving import simulate_serving

    if out_dir is not None:
        check_out_dir(out_dir)
    price_table = load_prices(prices)  # a bad price file fails before any replay
    cfg = _config(
        policy,
        slo=slo,
        profile=profile,
        cold_start_s=cold_start,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        gpu_types=gpu_types,
        settings=policy_settings("autoscaler", policy, setting),  # before any data is read
    )
    _check_types(cfg, price_table)
    frame = load_requests(requests, _root_opt("data_dir"), _params(param))
    (cfg,), why = _with_slo(frame, [cfg], slo)
    pipes, costs, note = replay_pipelines(frame, cfg, swaps, _root_opt("data_dir"))
    line, _ = _feasibility_line(frame, cfg)
    if not as_json:
        if slo is None and cfg.slo != LLM_DEFAULT_SLO:  # a default other than the LLM one is announced
            out.print(f"SLO {cfg.slo} (default: {why})", markup=False)
        out.print(line)
        if note:
            out.print(note, markup=False)
    with err.status(f"replaying {frame.height:,} requests under {policy} …"):
        res = simulate_serving(frame, cfg, prices=price_table, pipelines=pipes, switch_costs=costs)
    summary = res.summary.model_copy(update={"requests_ref": requests}).dump()
    if out_dir is not None:
        from gpufleet.commands.runinfo import record_run

        _save(out_dir, "autoscale-sim", requests, cfg, res)
        record_run(out_dir)  # what made it (provenance.json): `gpufleet rerun` makes it again
    if as_json:
        emit_json(summary)
        return
    out.print(
        metrics_table(f"{policy} on {requests} ({res.summary.profile}, SLO {res.summary.slo})", [_row(res.summary)])
    )
    out.print(f"priced by: {price_table.name}", markup=False)
    if out_dir is not None:
        out.print(f"run directory: {out_dir}")


@handles_errors
@reads_files
def compare_autoscalers_cmd(
    requests: RequestsOpt,
    policies: Annotated[
        str, typer.Option(help="Comma-separated autoscalers, of {policies:autoscaler}.")
    ] = "target-tracking,kpa,predictive,oracle",
    slo: SloOpt = None,
    profile: ProfileOpt = None,
    cold_start: ColdStartOpt = None,
    min_replicas: MinReplicasOpt = None,
    gpu_types: GpuTypesOpt = None,
    swaps: SwapsOpt = None,
    param: ParamOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write one run directory per policy here.")] = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same requests under several autoscalers, side by side (GPU-hours, attainment, latencies), each with
    the share of the GPU-hour gap between target-tracking and the oracle it closes."""
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import replay_pipelines
    from gpufleet.report.console import metrics_table
    from gpufleet.sim.serving import GAP_MIN_ATTAINMENT, gap_closed, simulate_serving

    if out_dir is not None:
        check_out_dir(out_dir)
    price_table = load_prices(prices)  # a bad price file fails before any replay
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise GpufleetError(f"--policies {policies!r}: name at least one autoscaler")
    if len(set(names)) < len(names):
        raise GpufleetError(f"--policies {policies!r}: a policy is named twice")
    cfgs = [
        _config(
            n,
            slo=slo,
            profile=profile,
            cold_start_s=cold_start,
            min_replicas=min_replicas,
            gpu_types=gpu_types,
            settings=policy_settings("autoscaler", n, None),  # an unknown name fails here, before any data
        )
        for n in names
    ]
    _check_types(cfgs[0], price_table)
    frame = load_requests(requests, _root_opt("data_dir"), _params(param))
    cfgs, why = _with_slo(frame, cfgs, slo)
    pipes, costs, note = replay_pipelines(frame, cfgs[0], swaps, _root_opt("data_dir"))
    # before any replay: the share of requests no policy can bring within the SLO
    line, feas = _feasibility_line(frame, cfgs[0])
    if not as_json:
        if slo is None and cfgs[0].slo != LLM_DEFAULT_SLO:  # a default other than the LLM one is announced
            out.print(f"SLO {cfgs[0].slo} (default: {why})", markup=False)
        out.print(line)
        if note:
            out.print(note, markup=False)
    rows = []
    for cfg in cfgs:
        with err.status(f"{cfg.policy} …"):
            res = simulate_serving(frame, cfg, prices=price_table, pipelines=pipes, switch_costs=costs)
        rows.append(res.summary)
        if out_dir is not None:
            _save(out_dir / cfg.policy, "compare-autoscalers", requests, cfg, res)
    if out_dir is not None:
        from gpufleet.commands.runinfo import record_run

        record_run(out_dir, parts=[c.policy for c in cfgs])
    oracle = next((r.gpu_hours for r in rows if r.policy == "oracle"), None)
    rows = gap_closed(
        [r.model_copy(update={"gpu_hours_vs_oracle": r.gpu_hours / oracle if oracle else None}) for r in rows]
    )
    if as_json:
        emit_json(
            {
                "requests": requests,
                "slo": cfgs[0].slo,
                "slo_why": why,
                "feasibility": feas.as_dict(),
                "gap": {"baseline": "target-tracking", "floor": "oracle", "counts_at_attainment": GAP_MIN_ATTAINMENT},
                "policies": [r.dump() for r in rows],
            }
        )
        return
    table = [
        {
            "policy": r.policy,
            "GPU-hours": r.gpu_hours,
            "cost": dollars(r.cost),
            "x oracle": r.gpu_hours_vs_oracle,
            "gap closed": "-" if r.gap_closed is None else f"{r.gap_closed:.1%}",
            "counts": "yes" if r.gap_counts else "no",
            "SLO attainment": f"{r.slo_attainment:.2%}",
            "of attainable": _share(r.slo_attainment_attainable),
            "SLO met": "yes" if r.slo_met else "no",
            **(
                {"TTFT p99 s": r.ttft_p99_s}
                if r.work_model in (None, "llm")
                else {"e2e p50 s": r.e2e_p50_s, "e2e p99 s": r.e2e_p99_s}  # no first token before the run ends
            ),
            **_swap_cells(r),
            **_type_cells(r),
            "max replicas": r.max_replicas,
            "actions": r.scaling_actions,
        }
        for r in rows
    ]
    out.print(metrics_table(f"autoscalers on {requests} ({rows[0].profile}, SLO {rows[0].slo})", table))
    out.print(
        "gap closed = (GPU-h target-tracking - GPU-h policy) / (GPU-h target-tracking - GPU-h oracle);"
        f" it counts only at >= {GAP_MIN_ATTAINMENT:.0%} SLO attainment; priced by: {price_table.name}",
        markup=False,
    )
    if out_dir is not None:
        out.print(f"run directories under {out_dir}")
