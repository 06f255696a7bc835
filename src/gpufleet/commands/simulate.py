"""`gpufleet simulate` and `gpufleet compare`: replay job traces under scheduling and placement policies."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    ParamOpt,
    PricesOpt,
    RayOpt,
    SkipOpt,
    _params,
    _root_opt,
    check_out_dir,
    emit_json,
    err,
    handles_errors,
    out,
    read_note,
    reads_files,
)
from gpufleet.commands.sim_policies import SetOpt, checked, sim_settings
from gpufleet.core.errors import GpufleetError

JobsOpt = Annotated[str, typer.Option("--jobs", help="JOBS reference, e.g. itp:cluster04 or synthetic:jobs.")]
ClusterOpt = Annotated[
    str,
    typer.Option(
        "--cluster", help="Spec COUNTxGPUS[:TYPE],... (64x8:A100,32x8:V100) or a NODES reference (openb:nodes)."
    ),
]

SchedulerOpt = Annotated[str, typer.Option(help="Scheduler: {policies:scheduler}.")]
PlacementOpt = Annotated[str, typer.Option(help="Placer: {policies:placer}.")]
PredictorOpt = Annotated[
    str, typer.Option(help="Runtime predictor (oracle: true durations, the best case): {policies:predictor}.")
]

CompatOpt = Annotated[
    str | None,
    typer.Option(
        "--compat",
        help="Reproduce a published simulator: 'helios' (Helios/Lucid: whole seconds, blocking sjf/qssf,"
        " their consolidating placement). Overrides --placement and the blocking setting.",
    ),
]


MateGapOpt = Annotated[
    float | None,
    typer.Option(
        "--mate-gap",
        help="Refresh waiting jobs' predicted durations from their submission mates (same user, name and GPU"
        " count, each submitted within this many seconds of the previous) as the mates run and finish;"
        " 0 = fixed at submission. [default: 60]",
    ),
]


def _sim_config(**kw: Any) -> Any:
    """A SimConfig from the options (`compat` included); its errors are one line naming the option."""
    from pydantic import ValidationError

    from gpufleet.core.errors import validation_line
    from gpufleet.sim.run import COMPAT, SimConfig

    compat = kw.get("compat")
    if compat is not None and compat not in COMPAT:
        raise GpufleetError(f"--compat {compat!r}: unknown; valid: {', '.join(COMPAT)}")
    if kw.get("mate_gap_s", 0) is None:
        del kw["mate_gap_s"]  # SimConfig's default
    speeds = kw.pop("speeds")
    if speeds and speeds != "spec":
        try:
            speeds = {k.strip(): float(v) for k, v in (item.split("=") for item in speeds.split(","))}
        except ValueError:
            raise GpufleetError(f"--speeds {speeds!r}: expected TYPE=FACTOR,... (A100=2.5,V100=1) or 'spec'") from None
        bad = next((f"{k}={v}" for k, v in speeds.items() if not (math.isfinite(v) and v > 0) or not k), None)
        if bad is not None:
            raise GpufleetError(f"--speeds {bad}: a factor is a finite number > 0 after a GPU type")
    try:
        return SimConfig(speeds=speeds, **kw)
    except ValidationError as e:
        option_of = {f: OPTION_OF.get(f, "--" + f.replace("_", "-")) for f in SimConfig.model_fields}
        raise GpufleetError(validation_line(e, option_of=option_of)) from None


# SimConfig fields whose option is named differently
OPTION_OF = {
    "mate_gap_s": "--mate-gap",
    "preempt_overhead_s": "--preempt-overhead",
    "provision_delay_s": "--provision-delay",
}


@handles_errors
@reads_files
def simulate_cmd(
    jobs: JobsOpt,
    cluster: ClusterOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    scheduler: SchedulerOpt = "fifo",
    placement: PlacementOpt = "best-fit",
    predictor: PredictorOpt = "oracle",
    settings: SetOpt = None,
    mate_gap: MateGapOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    preempt_overhead: Annotated[float, typer.Option(help="Checkpoint/restore seconds per resume.")] = 60.0,
    speeds: Annotated[str | None, typer.Option(help="TYPE=FACTOR,... or 'spec' (default: all 1.0).")] = None,
    multi_node: Annotated[bool, typer.Option(help="Let jobs larger than any node span nodes.")] = True,
    chunk_gpus: Annotated[int, typer.Option(help="GPUs per node-chunk of a multi-node gang.")] = 8,
    pool: Annotated[
        str | None,
        typer.Option(help="Node-pool scaler: {policies:pool-scaler} (default: a fixed cluster, no pool decisions)."),
    ] = None,
    provision_delay: Annotated[float, typer.Option(help="Seconds from ordering a node to its serving.")] = 300.0,
    compat: CompatOpt = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Replay a job trace on a cluster under one scheduler and placer; write and print the summary.

    --cluster also takes a tenancy YAML (nodes + vcs or queues): the replay then runs partitioned (vcs) or
    behind the queues' quotas (queues)."""
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.references import load_cluster, load_jobs
    from gpufleet.plan.replays import replay
    from gpufleet.plan.rundirs import save
    from gpufleet.report.console import sim_table

    check_out_dir(out_dir)
    table = load_prices(prices)  # a bad price file fails before any replay
    given = sim_settings(settings, ("scheduler", "placement", "predictor", "pool"))
    if "pool" in given and pool is None:
        raise GpufleetError("--set pool.*: choose a node-pool scaler with --pool")
    chosen = {"scheduler": scheduler, "placement": placement, "predictor": predictor, "pool": pool}
    policies = {k: checked(k, n, given.get(k)) for k, n in chosen.items() if n is not None}
    cfg = _sim_config(
        **policies,
        mate_gap_s=mate_gap,
        seed=seed,
        preempt_overhead_s=preempt_overhead,
        speeds=speeds,
        multi_node=multi_node,
        chunk_gpus=chunk_gpus,
        provision_delay_s=provision_delay,
        compat=compat,
    )
    tenancy = _tenancy_file(cluster)
    with err.status("loading …"):
        jf = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        nf = load_cluster(tenancy.nodes if tenancy else cluster, _root_opt("data_dir"))  # type: ignore[arg-type]
    with err.status(f"simulating {jf.height:,} jobs on {int(nf['num_gpus'].sum()):,} GPUs …"):
        res = replay(jf, nf, cfg, tenancy)
    res.summary = res.summary.priced(table)
    save(res, out_dir, {"jobs": jobs, "cluster": cluster, "params": _params(param)})
    for note in res.summary.notes:  # node pools applied or set aside
        read_note(note)
    if as_json:
        emit_json(res.summary.dump() | {"out": str(out_dir)})
        return
    out.print(sim_table(res.summary))
    if res.summary.groups:
        from gpufleet.report.console import tenancy_tables

        for table in tenancy_tables({res.summary.model or "per group": res.summary}):
            out.print(table)
    out.print(f"run directory: [bold]{out_dir}/[/bold] (summary.json, config.yaml, jobs.parquet, timeline.parquet)")


def _tenancy_file(cluster: str) -> Any:
    """The TenancySpec when --cluster names a YAML file, else None (a spec or NODES reference)."""
    if not cluster.endswith((".yaml", ".yml")):
        return None
    from gpufleet.core.config import read_yaml_model  # here, not at the top: pydantic is no part of --help
    from gpufleet.sim.tenancy import TenancySpec

    spec = read_yaml_model(Path(cluster), TenancySpec, "--cluster")
    if spec.nodes is None:
        raise GpufleetError(f"{cluster}: nodes: give the cluster spec (e.g. 40x8:A100) in the file")
    if not spec.vcs and not spec.queues:
        raise GpufleetError(f"{cluster}: give vcs (partitioned) or queues (quotas); without them use a plain spec")
    return spec


@handles_errors
@reads_files
def compare_cmd(
    jobs: JobsOpt,
    cluster: ClusterOpt,
    schedulers: Annotated[
        str, typer.Option(help="Comma-separated schedulers, of {policies:scheduler}.")
    ] = "fifo,sjf,tiresias",
    placements: Annotated[str, typer.Option(help="Comma-separated placers, of {policies:placer}.")] = "best-fit",
    predictor: PredictorOpt = "oracle",
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KIND.KEY=VALUE",
            help="A setting of every scheduler, placement or the predictor of the grid (KIND), e.g."
            " scheduler.blocking=true: each member must have it; repeatable.",
        ),
    ] = None,
    mate_gap: MateGapOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write one run directory per pair here.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: one per core); with --ray local, the runtime's CPUs."),
    ] = None,
    ray: RayOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of every run.")] = 0,
    compat: CompatOpt = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Run a grid of schedulers x placers on the same jobs and cluster, in parallel, and print one table."""
    from gpufleet.core.prices import load_prices
    from gpufleet.plan.dollars import reprice_runs
    from gpufleet.plan.grids import run_grid
    from gpufleet.plan.references import load_cluster, load_jobs
    from gpufleet.report.console import grid_table, priced_by

    if out_dir is not None:
        check_out_dir(out_dir)
    table = load_prices(prices) if prices is not None else None
    scheds = [s.strip() for s in schedulers.split(",") if s.strip()]
    places = [p.strip() for p in placements.split(",") if p.strip()]
    for option, names in (("--schedulers", scheds), ("--placements", places)):
        if not names:
            raise GpufleetError(f"{option}: name at least one")
    given = sim_settings(settings, ("scheduler", "placement", "predictor"))
    grid_s = [checked("scheduler", s, given.get("scheduler")) for s in scheds]
    grid_p = [checked("placement", p, given.get("placement")) for p in places]
    base = _sim_config(
        predictor=checked("predictor", predictor, given.get("predictor")),
        mate_gap_s=mate_gap,
        seed=seed,
        speeds=None,
        compat=compat,
    )
    if compat:
        grid_p = [base.placement.model_dump()]
    with err.status("loading …"):
        jf = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        nf = load_cluster(cluster, _root_opt("data_dir"))
    with err.status(f"running {len(grid_s) * len(grid_p)} simulations …"):
        rows = run_grid(jf, nf, base, grid_s, grid_p, out_dir, {"jobs": jobs, "cluster": cluster}, workers, ray)
    rows = reprice_runs(rows, table, out_dir)
    if out_dir:
        from gpufleet.report.rundir import dumps

        out_dir.mkdir(parents=True, exist_ok=True)
        runs = [r.dump() for r in rows]
        (out_dir / "compare.json").write_text(dumps({"jobs": jobs, "cluster": cluster, "runs": runs}) + "\n")
    if as_json:
        emit_json({"runs": [r.dump() for r in rows]})
        return
    out.print(grid_table(rows))
    out.print(priced_by(rows) or "", markup=False)


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
        from gpufleet.report.rundir import dumps

        for m, r in results.items():
            save(r, out_dir / m, {"jobs": jobs, "cluster": str(cluster), "model": m})
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "tenancy.json").write_text(dumps({"jobs": jobs, "cluster": str(cluster)} | res) + "\n")
    if as_json:
        emit_json(res)
        return
    from gpufleet.report.console import tenancy_tables

    for table in tenancy_tables({m: r.summary for m, r in results.items()}, res.get("suggestion")):
        out.print(table)
    if out_dir is not None:
        out.print(f"run directories: [bold]{out_dir}/[/bold]{{{','.join(results)}}} and tenancy.json")
