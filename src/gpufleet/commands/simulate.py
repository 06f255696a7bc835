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


# simulate's and compare's: declared once
SpeedsOpt = Annotated[str | None, typer.Option(help="TYPE=FACTOR,... or 'spec' (default: all 1.0).")]
PoolOpt = Annotated[
    str | None,
    typer.Option(help="Node-pool scaler: {policies:pool-scaler} (default: a fixed cluster, no pool decisions)."),
]
ProvisionDelayOpt = Annotated[float, typer.Option(help="Seconds from ordering a node to its serving.")]

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
    speeds: SpeedsOpt = None,
    multi_node: Annotated[bool, typer.Option(help="Let jobs larger than any node span nodes.")] = True,
    chunk_gpus: Annotated[int, typer.Option(help="GPUs per node-chunk of a multi-node gang.")] = 8,
    pool: PoolOpt = None,
    provision_delay: ProvisionDelayOpt = 300.0,
    compat: CompatOpt = None,
    priorities: Annotated[
        Path | None,
        typer.Option(
            help="qssf: each job's priority figure from a file (CSV or Parquet: job_id, priority; e.g. the"
            " Helios/Lucid estimator's file); the key is the figure x the job's GPUs, as theirs."
        ),
    ] = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Replay a job trace on a cluster under one scheduler and placer; write and print the summary.

    --cluster also takes a tenancy YAML (nodes + vcs or queues): the replay then runs partitioned (vcs) or
    behind the queues' quotas (queues)."""
    from gpufleet.commands.runinfo import record_run
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
        if priorities is not None:
            if cfg.scheduler.name != "qssf":
                raise GpufleetError(f"--priorities: only qssf reads them (the scheduler is {cfg.scheduler.name})")
            from gpufleet.plan.priorities import with_priorities

            jf = with_priorities(jf, priorities)
        nf = load_cluster(tenancy.nodes if tenancy else cluster, _root_opt("data_dir"))  # type: ignore[arg-type]
    with err.status(f"simulating {jf.height:,} jobs on {int(nf['num_gpus'].sum()):,} GPUs …"):
        res = replay(jf, nf, cfg, tenancy)
    res.summary = res.summary.priced(table)
    refs = {"jobs": jobs, "cluster": cluster, "params": _params(param)}
    save(res, out_dir, refs | ({"priorities": str(priorities)} if priorities is not None else {}))
    record_run(out_dir, seeds={"run": cfg.seed})
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
    out.print(
        f"run directory: [bold]{out_dir}/[/bold] (summary.json, config.yaml, provenance.json, jobs.parquet,"
        " timeline.parquet, cdf.csv); `gpufleet rerun` makes it again"
    )


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
            help="A setting of every scheduler, placement, the predictor or the pool scaler of the grid (KIND),"
            " e.g. scheduler.blocking=true: each member must have it; repeatable.",
        ),
    ] = None,
    mate_gap: MateGapOpt = None,
    speeds: SpeedsOpt = None,
    pool: PoolOpt = None,
    provision_delay: ProvisionDelayOpt = 300.0,
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
    given = sim_settings(settings, ("scheduler", "placement", "predictor", "pool"))
    if "pool" in given and pool is None:
        raise GpufleetError("--set pool.*: choose a node-pool scaler with --pool")
    grid_s = [checked("scheduler", s, given.get("scheduler")) for s in scheds]
    grid_p = [checked("placement", p, given.get("placement")) for p in places]
    base = _sim_config(
        predictor=checked("predictor", predictor, given.get("predictor")),
        mate_gap_s=mate_gap,
        seed=seed,
        speeds=speeds,
        pool=None if pool is None else checked("pool", pool, given.get("pool")),
        provision_delay_s=provision_delay,
        compat=compat,
    )
    if compat:
        grid_p = [base.placement.model_dump()]
    with err.status("loading …"):
        jf = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        nf = load_cluster(cluster, _root_opt("data_dir"))
    with err.status(f"running {len(grid_s) * len(grid_p)} simulations …"):
        extra = {"jobs": jobs, "cluster": cluster, "params": _params(param)}
        rows = run_grid(jf, nf, base, grid_s, grid_p, out_dir, extra, workers, ray)
    rows = reprice_runs(rows, table, out_dir)
    if out_dir:
        from gpufleet.commands.runinfo import record_run
        from gpufleet.report.rundir import write_json

        out_dir.mkdir(parents=True, exist_ok=True)
        runs = [r.dump() for r in rows]
        write_json(out_dir / "compare.json", {"jobs": jobs, "cluster": cluster, "runs": runs})
        record_run(out_dir, parts=[f"{r.scheduler}__{r.placement}" for r in rows], seeds={"run": seed})
    if as_json:
        emit_json({"runs": [r.dump() for r in rows]})
        return
    out.print(grid_table(rows))
    out.print(priced_by(rows) or "", markup=False)
