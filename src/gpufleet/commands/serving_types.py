"""`gpufleet serving-types`: a serving fleet on several GPU types against each type alone, on the same requests
(docs/serving.md, "Heterogeneous fleets")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gpufleet.commands.autoscale import SwapsOpt, _check_types, _config, _with_slo, by_type_cell, dollars
from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PricesOpt,
    _params,
    _root_opt,
    emit_json,
    err,
    handles_errors,
    out,
    policy_settings,
    reads_files,
)

GpuTypesOpt = Annotated[
    str,
    typer.Option(
        help="GPU types replicas may use, comma-separated, each with an optional quota of replicas after ':'"
        " (A10:20,A100-80GB,H100); the profile's `speeds` give each one's throughput."
    ),
]


@handles_errors
@reads_files
def serving_types_cmd(
    requests: Annotated[str, typer.Option(help="REQUESTS reference: genai:requests, azure-llm:conv or a file.")],
    gpu_types: GpuTypesOpt,
    profile: Annotated[str, typer.Option(help="Replica profile: built-in name or YAML file (with speeds).")] = (
        "diffusion"
    ),
    policy: Annotated[str, typer.Option(help="Autoscaler of every fleet: {policies:autoscaler}.")] = "target-tracking",
    slo: Annotated[
        str | None,
        typer.Option(help="Latency objective METRIC_pQ<=SECONDS; default: the profile's (as compare-autoscalers)."),
    ] = None,
    cold_start: Annotated[
        float | None, typer.Option(min=0, max=86400, help="Seconds from ordering to serving.")
    ] = None,
    swaps: SwapsOpt = None,
    prices: PricesOpt = None,
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each GPU type alone, then all of them with the autoscaler adding the cheapest throughput: GPU-hours per type,
    $, latency and SLO attainment per fleet."""
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import replay_pipelines
    from gpufleet.plan.serving_types import MIXED, compare_types
    from gpufleet.report.console import metrics_table

    table = load_prices(prices)  # a bad price file fails before any replay
    cfg = _config(
        policy,
        slo=slo,
        profile=profile,
        cold_start_s=cold_start,
        gpu_types=gpu_types,
        settings=policy_settings("autoscaler", policy, None),
    )
    _check_types(cfg, table)  # no speed or no price: one line, before any data is read
    frame = load_requests(requests, _root_opt("data_dir"), _params(param))
    (cfg,), why = _with_slo(frame, [cfg], slo)
    pipes, costs, note = replay_pipelines(frame, cfg, swaps, _root_opt("data_dir"))
    with err.status(f"replaying {frame.height:,} requests on each GPU type and the mix …"):
        rep = compare_types(frame, cfg, table, pipes, costs)
    if as_json:
        emit_json({"requests": requests, "slo_why": why, "swaps_modelled": pipes is not None, **rep.as_dict()})
        return
    out.print(f"SLO {rep.slo} ({why})", markup=False)
    if note:
        out.print(note, markup=False)
    out.print(
        metrics_table(
            f"GPU types for {rep.profile}",
            [
                {
                    "GPU type": t["gpu_type"],
                    "speed": t["speed"],
                    "GPUs/replica": t["gpus_per_replica"],
                    "$/GPU-h": dollars(t["price_per_gpu_hour"]),
                    "$/ref replica-h": dollars(t["cost_per_reference_replica_hour"]),
                    "quota": t["quota"] or "-",
                    "speed from": t["source"] or "-",
                }
                for t in rep.types
            ],
        )
    )
    llm = next(iter(rep.fleets.values())).work_model in (None, "llm")
    rows: list[dict[str, Any]] = []
    for name, s in rep.fleets.items():
        rows.append(
            {
                "fleet": name,
                "GPU-hours": s.gpu_hours,
                "by type": by_type_cell(s),
                "cost": dollars(s.cost, whole=True),
                "$/1k requests": dollars(None if s.cost is None else 1000 * s.cost / max(s.requests_scored, 1)),
                "SLO attainment": f"{s.slo_attainment:.2%}",
                "SLO met": "yes" if s.slo_met else "no",
                **({"TTFT p99 s": s.ttft_p99_s} if llm else {"e2e p50 s": s.e2e_p50_s, "e2e p99 s": s.e2e_p99_s}),
                **({} if s.swaps is None else {"swaps": s.swaps}),
                "max replicas": s.max_replicas,
            }
        )
    out.print(metrics_table(f"{rep.policy} on {requests}: each type alone, then {MIXED}", rows))
    mix = rep.fleets[MIXED]
    if mix.gpu_types_excluded:
        left = "; ".join(f"{k}: {v}" for k, v in mix.gpu_types_excluded.items())
        out.print(f"left out of the mix: {left}", markup=False)
    best = rep.cheapest_single()
    if best is None:
        out.print("no single type meets the SLO alone", markup=False)
    elif mix.cost is not None and rep.fleets[best].cost:
        delta = mix.cost / rep.fleets[best].cost - 1
        out.print(
            f"{MIXED} vs the cheapest single type that meets the SLO ({best}): {delta:+.1%} cost,"
            f" SLO {'met' if mix.slo_met else 'MISSED'}; priced by: {rep.priced_by}",
            markup=False,
        )
