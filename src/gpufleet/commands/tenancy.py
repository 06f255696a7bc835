"""`gpufleet tenancy`: the same workload on one shared pool, partitioned virtual clusters and Kueue-style quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PricesOpt,
    RayOpt,
    _params,
    _root_opt,
    check_out_dir,
    emit_json,
    err,
    handles_errors,
    out,
    reads_files,
)
from gpufleet.commands.sim_policies import checked, sim_settings
from gpufleet.commands.simulate import CompatOpt, JobsOpt, _sim_config
from gpufleet.core.errors import GpufleetError


def _targets(text: str) -> dict[str, float]:
    from gpufleet.core.durations import parse_duration

    out: dict[str, float] = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        group, _, value = item.rpartition("=")
        out[group or "*"] = parse_duration(value, f"--target for {group}" if group else "--target", positive=False)
    return out


@handles_errors
@reads_files
def tenancy_cmd(
    jobs: JobsOpt,
    cluster: Annotated[
        Path, typer.Option(help="Tenancy YAML: nodes (a cluster spec), vcs (nodes per group), queues (quotas).")
    ],
    compare: Annotated[
        str | None,
        typer.Option(
            help="Models to compare: pooled, partitioned, quota (default: pooled, then partitioned if the file has"
            " vcs, and quota if it has queues or vcs)."
        ),
    ] = None,
    scheduler: Annotated[
        str, typer.Option(help="Scheduler inside each pool, VC or queue: {policies:scheduler}.")
    ] = "fifo",
    placement: Annotated[str, typer.Option(help="Placer inside each pool or VC: {policies:placer}.")] = "best-fit",
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KIND.KEY=VALUE",
            help="A setting of the scheduler or the placement (KIND), e.g. scheduler.blocking=true; repeatable.",
        ),
    ] = None,
    nodes: Annotated[str | None, typer.Option(help="NODES reference or spec when the file gives none.")] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="p95-wait targets (2h, or team-a=1h,team-b=4h,*=6h): suggest the smallest per-group quotas that"
            " meet them, alone and sharing one cohort."
        ),
    ] = None,
    quota_step: Annotated[float, typer.Option(min=1, help="Quota granularity of the search, in GPUs.")] = 8.0,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write one run directory per model here, and tenancy.json.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default 1: the models one after another in this process); with --ray local,"
            " the runtime's CPUs (default: all).",
        ),
    ] = None,
    ray: RayOpt = None,
    compat: CompatOpt = None,
    params: ParamOpt = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same workload on one shared pool, partitioned virtual clusters and Kueue-style quotas, per group."""
    from gpufleet.core.config import read_yaml_model
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.references import load_cluster, load_jobs
    from gpufleet.plan.replays import compare_tenancy
    from gpufleet.plan.rundirs import save
    from gpufleet.sim.tenancy import TenancySpec, digest, suggest_quotas

    if out_dir is not None:
        check_out_dir(out_dir)
    table = load_prices(prices)
    spec = read_yaml_model(cluster, TenancySpec, "--cluster")
    where = spec.nodes or nodes
    if where is None:
        raise GpufleetError(f"{cluster}: nodes: give a cluster spec (e.g. 40x8:A100), or --nodes")
    given = sim_settings(settings, ("scheduler", "placement"))
    cfg = _sim_config(
        scheduler=checked("scheduler", scheduler, given.get("scheduler")),
        placement=checked("placement", placement, given.get("placement")),
        speeds=None,
        compat=compat,
    )
    data_dir = _root_opt("data_dir")
    jf, nf = load_jobs(jobs, data_dir, _params(params)), load_cluster(where, data_dir)
    if compare is None:
        compare = ",".join(
            ["pooled"] + (["partitioned"] if spec.vcs else []) + (["quota"] if spec.queues or spec.vcs else [])
        )
    models = [m.strip() for m in compare.split(",") if m.strip()]
    targets = _targets(target) if target else None
    if targets is not None and "*" not in targets and "group" in jf.columns:
        missing = sorted(set(jf["group"].fill_null("(none)").to_list()) - set(targets))
        if missing:
            raise GpufleetError(f"--target: no p95-wait target for group {missing[0]!r} (give one, or '*' for all)")
    with err.status(f"replaying {jf.height:,} jobs under {', '.join(models)} …"):
        results = compare_tenancy(jf, nf, spec, models, cfg, workers or (None if ray else 1), ray)
    for r in results.values():
        r.summary = r.summary.priced(table)
    res: dict[str, Any] = digest(results)
    if targets is not None:
        with err.status("searching per-group quotas …"):
            res["suggestion"] = suggest_quotas(jf, nf, cfg, targets, step=quota_step)
    if out_dir is not None:
        from gpufleet.commands.runinfo import record_run
        from gpufleet.report.rundir import write_json

        for m, r in results.items():
            save(r, out_dir / m, {"jobs": jobs, "cluster": str(cluster), "model": m, "params": _params(params)})
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "tenancy.json", {"jobs": jobs, "cluster": str(cluster)} | res)
        record_run(out_dir, parts=list(results), seeds={"run": cfg.seed})
    if as_json:
        emit_json(res)
        return
    from gpufleet.report.console import tenancy_tables

    for table in tenancy_tables({m: r.summary for m, r in results.items()}, res.get("suggestion")):
        out.print(table)
    if out_dir is not None:
        out.print(f"run directories: [bold]{out_dir}/[/bold]{{{','.join(results)}}} and tenancy.json")
