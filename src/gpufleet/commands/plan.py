"""`gpufleet plan capacity`: the cheapest nodes to add to a fleet so that a replay of the workload meets a wait
target (plan/capacity.py searches; this parses, calls and prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PolicyHelp,
    RayOpt,
    _params,
    _root_opt,
    emit_json,
    err,
    handles_errors,
    out,
    reads_files,
)
from gpufleet.commands.sim_policies import SetOpt, checked, sim_settings
from gpufleet.core.errors import GpufleetError

plan_app = typer.Typer(help="Plan the fleet: how much of which GPU to add for a wait target.", no_args_is_help=True)


def _growth(text: str | None) -> tuple[float | None, str | None]:
    """--growth: a factor (1.3), or 'forecast' / 'forecast:NAME' (a forecaster of the registry)."""
    if text is None:
        return 1.0, None
    if text == "forecast" or text.startswith("forecast:"):
        name = text.partition(":")[2] or "auto"
        from gpufleet.plan.policies import registry

        if name not in registry("forecaster").names():
            raise GpufleetError(
                f"--growth {text}: unknown forecaster {name!r}; valid: {', '.join(registry('forecaster').names())}"
            )
        return None, name
    try:
        factor = float(text)
    except ValueError:
        raise GpufleetError(f"--growth {text!r}: give a factor (1.3: 30% more arrivals) or 'forecast'") from None
    if not (factor > 0 and factor < float("inf")):
        raise GpufleetError(f"--growth {text}: a growth factor is a finite number > 0")
    return factor, None


@plan_app.command("capacity", cls=PolicyHelp)
@handles_errors
@reads_files
def capacity_cmd(
    jobs: Annotated[str, typer.Option("--jobs", help="JOBS reference, e.g. philly:jobs or synthetic:jobs.")],
    add: Annotated[str, typer.Option("--add", help="Candidate GPU types to add, comma-separated (A100,H100).")],
    target: Annotated[
        str, typer.Option("--target", help="What the fleet must achieve: p95_wait<=1h (avg_wait, pNN_wait, _jct).")
    ],
    fleet: Annotated[
        str | None,
        typer.Option("--fleet", help="The existing fleet: spec COUNTxGPUS:TYPE,... (40x8:V100) or a NODES reference."),
    ] = None,
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="Size the whole fleet from the candidate types (no --fleet).")
    ] = False,
    growth: Annotated[
        str | None,
        typer.Option(
            "--growth",
            metavar="FACTOR|forecast[:NAME]",
            help="Arrival growth: 1.3 = 30% more submissions per unit of time (submit times compressed, durations"
            " kept); 'forecast' = the factor the auto forecaster projects for the daily submissions over 90 days.",
        ),
    ] = None,
    scheduler: Annotated[str, typer.Option(help="Scheduler: {policies:scheduler}.")] = "fifo-backfill",
    placement: Annotated[str, typer.Option(help="Placer: {policies:placer}.")] = "best-fit",
    predictor: Annotated[
        str, typer.Option(help="Runtime predictor the scheduler reads (oracle: the best case): {policies:predictor}.")
    ] = "auto",
    settings: SetOpt = None,
    speeds: Annotated[
        str, typer.Option(help="Per-type speed factors: 'spec' (the GPU table, relative to V100) or A100=2.5,...")
    ] = "spec",
    prices: Annotated[
        Path | None, typer.Option(help="Price table (prices.yaml or CSV) over the built-in list prices.")
    ] = None,
    ignore_unschedulable: Annotated[
        bool,
        typer.Option(
            "--ignore-unschedulable",
            help="Leave out the jobs no GPU type of the fleet or the candidates can run (counted and reported);"
            " by default they count as waiting forever.",
        ),
    ] = False,
    per_node: Annotated[int, typer.Option(min=1, max=128, help="GPUs per added node.")] = 8,
    max_nodes: Annotated[int, typer.Option(min=1, help="Most nodes of one candidate type the search tries.")] = 512,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per core).")] = None,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """The cheapest addition of nodes (per candidate type) whose replay meets the target, with its evidence."""
    from gpufleet.commands.simulate import _sim_config
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.capacity_ask import ask_capacity
    from gpufleet.plan.capacity_probe import parse_target
    from gpufleet.plan.references import load_jobs

    parse_target(target)  # a bad target fails before any data is read
    if from_scratch and fleet is not None:
        raise GpufleetError("--from-scratch sizes the whole fleet: leave out --fleet (or drop --from-scratch)")
    if not from_scratch and fleet is None:
        raise GpufleetError("--fleet: give the existing fleet (40x8:V100 or a NODES reference), or --from-scratch")
    factor, forecaster = _growth(growth)
    given = sim_settings(settings, ("scheduler", "placement", "predictor"))
    chosen = {"scheduler": scheduler, "placement": placement, "predictor": predictor}
    cfg = _sim_config(**{k: checked(k, n, given.get(k)) for k, n in chosen.items()}, speeds=speeds)
    table = load_prices(prices)
    data_dir = _root_opt("data_dir")
    with err.status("loading …"):
        jf = load_jobs(jobs, data_dir, _params(param))
    with err.status("replaying candidate fleets …") as status:
        res = ask_capacity(
            jf,
            fleet=fleet,
            add=[a.strip() for a in add.split(",") if a.strip()],
            target=target,
            cfg=cfg,
            prices=table,
            growth=factor or 1.0,
            forecaster=forecaster,
            per_node=per_node,
            max_nodes=max_nodes,
            ignore_unschedulable=ignore_unschedulable,
            data_dir=data_dir,
            jobs_ref=jobs,
            workers=workers,
            ray_address=ray,
            progress=lambda n: status.update(f"{n} fleets replayed …"),
        )
    if as_json:
        emit_json(res)
        return
    from gpufleet.report.capacity import capacity_tables

    for part in capacity_tables(res["question"], res):
        out.print(part)
