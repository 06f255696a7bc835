"""`gpufleet serving-designs`: per-model fleets, one shared pool with pipeline switching, and a hybrid, replayed on
the same requests (docs/serving.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    _params,
    _root_opt,
    emit_json,
    err,
    handles_errors,
    out,
    policy_settings,
    reads_files,
)
from gpufleet.core.errors import GpufleetError, validation_line


@handles_errors
@reads_files
def serving_designs_cmd(
    requests: Annotated[str, typer.Option(help="REQUESTS reference with a base model per request: genai:requests.")],
    designs: Annotated[str, typer.Option(help="Comma-separated designs: per-model, shared, hybrid.")] = (
        "per-model,shared,hybrid"
    ),
    policy: Annotated[str, typer.Option(help="Autoscaler of every pool: {policies:autoscaler}.")] = "target-tracking",
    profile: Annotated[str, typer.Option(help="Replica profile: built-in name or YAML/CSV file.")] = "sd-a10",
    slo: Annotated[
        str | None,
        typer.Option(help="Latency objective METRIC_pQ<=SECONDS; default: chosen from the selection window."),
    ] = None,
    hot_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Hybrid: the most requested models making this share are dedicated."),
    ] = 0.5,
    select_share: Annotated[
        float,
        typer.Option(
            min=0.05, max=0.95, help="Share of the trace (by time, from its start) the hot models and SLO come from."
        ),
    ] = 2 / 3,
    cold_start: Annotated[
        float | None, typer.Option(min=0, max=86400, help="Seconds from ordering to serving.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the service-time and switch-cost draws.")] = 0,
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fleet designs for many models on one trace: GPU-hours, p50/p99 latency, switches and SLO attainment per
    design, over the whole trace and over the part after the selection window."""
    from pydantic import ValidationError

    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import compare_designs, load_switch_costs
    from gpufleet.report.console import metrics_table
    from gpufleet.sim.serving import ServingConfig, load_profile, parse_slo

    names = [d.strip() for d in designs.split(",") if d.strip()]
    if not names:
        raise GpufleetError(f"--designs {designs!r}: name at least one of per-model, shared, hybrid")
    if len(set(names)) < len(names):
        raise GpufleetError(f"--designs {designs!r}: a design is named twice")
    if slo is not None:
        parse_slo(slo)
    load_profile(profile)
    try:
        cfg = ServingConfig(
            policy=policy,
            profile=profile,
            seed=seed,
            settings=policy_settings("autoscaler", policy, None),
            **({} if cold_start is None else {"cold_start_s": cold_start}),
        )
    except ValidationError as e:
        raise GpufleetError(validation_line(e)) from None
    frame = load_requests(requests, _root_opt("data_dir"), _params(param))
    costs = load_switch_costs(_root_opt("data_dir"))
    with err.status(f"replaying {frame.height:,} requests under {len(names)} designs …"):
        rep = compare_designs(
            frame, costs, designs=names, cfg=cfg, slo=slo, hot_share=hot_share, select_share=select_share
        )
    if as_json:
        emit_json({"requests_ref": requests, **rep.as_dict()})
        return
    days = rep.selection_until_s / 86400
    out.print(f"SLO {rep.slo}: {rep.slo_why}", markup=False)
    out.print(
        f"hot models (first {days:.1f} days, {rep.hot_share:.0%} of requests): {', '.join(rep.hot)}", markup=False
    )
    for k, window in ((0, "whole trace after the warm-up"), (1, f"held back: after day {days:.1f}")):
        rows = []
        for name, rs in rep.results.items():
            r = rs[k]
            rows.append(
                {
                    "design": name,
                    "pools": len(r.pools),
                    "GPU-hours": r.gpu_hours,
                    "e2e p50 s": r.e2e_p50_s,
                    "e2e p99 s": r.e2e_p99_s,
                    "wait p99 s": r.wait_p99_s,
                    "SLO attainment": f"{r.slo_attainment:.2%}",
                    "swaps": r.swaps,
                    "LoRA loads": r.lora_loads,
                    "ControlNet loads": r.controlnet_loads,
                    "peak replicas": r.peak_replicas,
                    "wall s": rep.wall_s[name],
                }
            )
        out.print(metrics_table(f"fleet designs on {requests} ({rep.policy}, {window})", rows))
    out.print(
        "swaps = base-model loads; loads are drawn from genai:basemodel-update, lora-update and controlnet-update",
        markup=False,
    )
