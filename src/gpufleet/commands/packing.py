"""`gpufleet pack-experiment`: FGD's Monte-Carlo inflation experiment over the placers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    PricesOpt,
    _root_opt,
    check_out_dir,
    emit_json,
    err,
    handles_errors,
    out,
    policy_settings,
    read_note,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

DEFAULT_POLICIES = "fgd-balance,fgd,best-fit,gpu-packing,dot-product,random"


MAX_SEEDS = 1000


def _seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
            seeds = list(range(a, b + 1)) if 0 <= b - a < MAX_SEEDS else []
            if not seeds:
                raise GpufleetError(f"--seeds {text!r}: A-B needs A <= B and at most {MAX_SEEDS} seeds")
            return seeds
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GpufleetError(f"--seeds {text!r}: expected A-B or a comma list, e.g. 42-51") from None
    if not seeds or len(seeds) > MAX_SEEDS:
        raise GpufleetError(f"--seeds {text!r}: give 1 to {MAX_SEEDS} seeds")
    return seeds


@handles_errors
@reads_files
def pack_experiment_cmd(
    pods: Annotated[str, typer.Option(help="JOBS reference of pods, e.g. openb:default.")] = "openb:default",
    nodes: Annotated[str, typer.Option(help="NODES reference or cluster spec.")] = "openb:nodes",
    policies: Annotated[
        str, typer.Option(help="Comma-separated placers, of {policies:placer}.")
    ] = "fgd-balance,fgd,best-fit,gpu-packing,dot-product,random",
    seeds: Annotated[str, typer.Option(help="Seeds, A-B or a comma list.")] = "42-51",
    max_load: Annotated[
        float, typer.Option(min=0.1, max=10.0, help="Stop when requested GPUs reach this x cluster GPUs.")
    ] = 1.3,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write a run directory: per-seed rows (seeds.parquet), the means with their 95% intervals"
            " (intervals.csv, summary.json), config and provenance.",
        ),
    ] = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Arrive shuffled pods until requested GPUs reach max-load x capacity; allocation ratio per policy, the mean
    over the seeds with its 95% t-interval."""
    import polars as pl

    from gpufleet.core.prices import dollars, load_prices
    from gpufleet.optimizer.packing import PLACERS
    from gpufleet.optimizer.packing.experiment import SHIPPED_AT_130, inflation_experiment
    from gpufleet.optimizer.packing.pools import pool_rule
    from gpufleet.plan.dollars import fleet_rate, price_packing
    from gpufleet.plan.references import load_cluster, load_jobs
    from gpufleet.plan.seeds import LEVEL, METHOD, over_seeds
    from gpufleet.report.console import metrics_table

    if out_dir is not None:
        check_out_dir(out_dir)
    table = load_prices(prices)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise GpufleetError("--policies: name at least one placer")
    for n in names:
        PLACERS.get(n)
    seed_list = _seeds(seeds)
    pf, nf = load_jobs(pods, _root_opt("data_dir")), load_cluster(nodes, _root_opt("data_dir"))
    for note in pool_rule(pf, nf)[1]:  # the experiment keeps pods to their pools by the same rule
        read_note(note)
    with err.status(f"{len(names)} policies x {len(seed_list)} seeds …"):
        runs = inflation_experiment(pf, nf, names, seed_list, max_load=max_load)
    means = runs.group_by("policy", "load").agg((pl.col("alloc_ratio").mean() * 100).alias("pct"))
    # per policy and load (and at the end of the run) the mean over the seeds with its 95% t-interval
    pct = runs.with_columns(pl.col("alloc_ratio") * 100)
    intervals = over_seeds(pct, ["policy", "load"], "alloc_ratio")
    last = runs.filter(pl.col("load") == pl.col("load").max())
    end_ci = {c: over_seeds(last, ["policy"], c) for c in ("unallocated_gpus", "failed")}
    # CPU, memory and RDMA at the end of each run (GPUs are the load columns), mean over the seeds
    packed = [c for c in runs.columns if c.endswith(("_alloc_ratio", "_stranded_share")) and not c.startswith("gpu_")]
    end = (
        runs.filter(pl.col("load") == pl.col("load").max())
        .group_by("policy")
        .agg(
            pl.col("unallocated_gpus").mean().alias("unallocated_gpus"),
            pl.col("failed").mean().alias("failed_pods"),
            *(pl.col(c).mean() for c in packed),
        )
    )
    rows = []
    for name in names:  # in the order asked for, loads ascending
        m = means.filter(pl.col("policy") == name).sort("load")
        e = end.filter(pl.col("policy") == name).to_dicts()[0]
        shipped = SHIPPED_AT_130.get(name) if abs(max_load - 1.3) < 1e-9 else None
        ci = intervals.filter(pl.col("policy") == name).sort("load")
        ends = {k: f.filter(pl.col("policy") == name).row(0, named=True) for k, f in end_ci.items()}
        rows.append(
            {
                "policy": name,
                **{f"{ld:.0%}": v for ld, v in zip(m["load"], m["pct"], strict=True)},
                "unallocated_gpus": e["unallocated_gpus"],
                "failed_pods": e["failed_pods"],
                "shipped_fgd_130": shipped,
                "resources_at_end": _at_end(e, packed),
                # [low, high] of the 95% t-interval over the seeds (null with one seed)
                "ci95": {f"{r['load']:.0%}": _pair(r) for r in ci.iter_rows(named=True)}
                | {"unallocated_gpus": _pair(ends["unallocated_gpus"]), "failed_pods": _pair(ends["failed"])},
            }
        )
    rate = fleet_rate(nf, table)
    price_packing(rows, rate)  # GPUs each policy frees over the worst one, and their $ per month
    result = {
        "pods": pods,
        "nodes": nodes,
        "seeds": seed_list,
        "max_load": max_load,
        "gpus": float(nf["num_gpus"].sum()),
        "usd_per_gpu_hour": rate,
        "priced_by": table.name,
        "interval": f"{LEVEL:.0%} {METHOD}",
        "policies": rows,
    }
    if out_dir is not None:
        _save_experiment(out_dir, result, runs, intervals)
    if as_json:
        emit_json(result)
        return
    # one column per policy (nine policies fit a terminal; thirteen load steps would not)
    loads = [k for k in rows[0] if k.endswith("%")] if rows else []
    grid = [{"load": ld, **{r["policy"]: _pm(r[ld], r["ci95"][ld], 2) for r in rows}} for ld in loads]
    for key, label in (("unallocated_gpus", "unallocated GPUs"), ("failed_pods", "failed pods")):
        grid.append({"load": label, **{r["policy"]: _pm(r[key], r["ci95"][key], 1) for r in rows}})
    for res in rows[0]["resources_at_end"] if rows else {}:
        for what, label in (("alloc_ratio", "allocated %"), ("stranded_share", "stranded % of free")):
            grid.append(
                {
                    "load": f"{'memory' if res == 'mem_bytes' else res} {label}",
                    **{r["policy"]: round(100 * r["resources_at_end"][res][what], 2) for r in rows},
                }
            )
    grid.append({"load": "GPUs freed vs worst", **{r["policy"]: round(r["gpus_freed"], 1) for r in rows}})
    grid.append({"load": "$/month freed", **{r["policy"]: dollars(r["dollars_per_month_freed"]) for r in rows}})
    grid.append({"load": "FGD paper, 130%", **{r["policy"]: r["shipped_fgd_130"] for r in rows}})
    out.print(
        metrics_table(
            f"GPU allocation ratio (%) by arrived load, mean of {len(seed_list)} seeds"
            + (f" ± half-width of the {result['interval']}" if len(seed_list) > 1 else " (one seed: no interval)")
            + f", {pods} on {nodes} ({result['gpus']:,.0f} GPUs)",
            grid,
        )
    )
    out.print(_priced_line(rate, table.name), markup=False)
    if out_dir is not None:
        out.print(f"run directory: {out_dir} (per-seed rows in seeds.parquet, intervals in intervals.csv)")


def _pair(row: dict[str, Any]) -> list[float] | None:
    return None if row["low"] is None else [row["low"], row["high"]]


def _pm(mean: float, pair: list[float] | None, digits: int) -> str:
    """A table cell: the mean, and the half-width of its interval when there is one."""
    if pair is None:
        return f"{mean:,.{digits}f}"
    return f"{mean:,.{digits}f}±{(pair[1] - pair[0]) / 2:,.{digits}f}"  # no spaces: nine policies fit 160 columns


def _save_experiment(out_dir: Path, result: dict[str, Any], runs: Any, intervals: Any) -> None:
    """The experiment's run directory: summary.json (what --json prints), config.yaml, seeds.parquet (one row
    per policy, seed and load step), intervals.csv (mean and 95% interval of the allocation ratio, %), and
    provenance.json."""
    from gpufleet.commands.runinfo import record_run
    from gpufleet.report.rundir import write_run, write_text_atomic

    keys = ("pods", "nodes", "seeds", "max_load", "priced_by", "interval")
    config = {"command": "pack-experiment", "policies": [r["policy"] for r in result["policies"]]}
    write_run(out_dir, summary=result, config=config | {k: result[k] for k in keys}, tables={"seeds": runs})
    write_text_atomic(out_dir / "intervals.csv", intervals.rename({"load": "load_x_capacity"}).write_csv())
    record_run(out_dir, seeds={"run": result["seeds"]})


@handles_errors
@reads_files
def pack_cmd(
    pods: Annotated[str, typer.Option(help="JOBS reference of pods, e.g. openb:default.")],
    nodes: Annotated[str, typer.Option(help="NODES reference or cluster spec.")],
    policy: Annotated[str, typer.Option(help="Placer: {policies:placer}.")] = "best-fit",
    seed: Annotated[int, typer.Option(help="Seed of the run (the random placer draws from it).")] = 0,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="A setting of the placer (e.g. coverage=0.9); repeatable."),
    ] = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One placement pass of the pods, in their order, with nothing departing; print what fits and what is left,
    per resource (GPU, CPU, memory, RDMA) what is stranded. Pods keep to their node pools (JOBS.pool)."""
    from gpufleet.core.prices import dollars, load_prices
    from gpufleet.optimizer.packing.experiment import pack_once
    from gpufleet.plan.dollars import fleet_rate, per_month
    from gpufleet.plan.references import load_cluster, load_jobs
    from gpufleet.report.console import metrics_table

    table = load_prices(prices)
    given = policy_settings("placer", policy, settings)  # the name and the settings, checked before any reading
    pf, nf = load_jobs(pods, _root_opt("data_dir")), load_cluster(nodes, _root_opt("data_dir"))
    res = pack_once(pf, nf, policy, seed, given)
    for note in res["notes"] if isinstance(res["notes"], list) else ():  # pools applied or set aside
        read_note(note)
    rate = fleet_rate(nf, table)
    # what the capacity left unallocated costs a month at the fleet's mean price: what better packing can win
    res |= {
        "usd_per_gpu_hour": rate,
        "unallocated_dollars_per_month": per_month(res["unallocated_gpus"], rate),
        "priced_by": table.name,
    }
    if as_json:
        emit_json(res)
        return
    hidden = ("failed_pods", "never_fit_pods", "resources", "notes", "priced_by", "usd_per_gpu_hour")
    shown = {k: v for k, v in res.items() if k not in hidden}
    shown["unallocated_dollars_per_month"] = dollars(res["unallocated_dollars_per_month"])
    out.print(metrics_table(f"{policy}: {pods} on {nodes}", [shown]))
    out.print(metrics_table("per resource (stranded: free where no pod of the list fits)", _resource_rows(res)))
    out.print(_priced_line(rate, table.name), markup=False)
    if res["failed"]:
        out.print(f"{res['failed']:,} pods did not fit; --json lists every one (failed_pods)", markup=False)


def _resource_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per packed resource of `pack_once`'s figures (memory in GiB)."""
    rows = []
    for name, f in res["resources"].items():
        scale, label = (2.0**30, "memory (GiB)") if name == "mem_bytes" else (1.0, name)
        rows.append(
            {
                "resource": label,
                "capacity": f["capacity"] / scale,
                "allocated": f["allocated"] / scale,
                "alloc_ratio": f["alloc_ratio"],
                "free": f["free"] / scale,
                "stranded": f["stranded"] / scale,
                "stranded_share": f["stranded_share"],
            }
        )
    return rows


def _at_end(row: dict[str, Any], columns: list[str]) -> dict[str, dict[str, float]]:
    """{resource: {alloc_ratio, stranded_share}} from an experiment row's `{resource}_{figure}` columns."""
    out_: dict[str, dict[str, float]] = {}
    for c in columns:
        what = "alloc_ratio" if c.endswith("_alloc_ratio") else "stranded_share"
        out_.setdefault(c.removesuffix(f"_{what}"), {})[what] = row[c]
    return out_


def _priced_line(rate: float | None, name: str) -> str:
    """Under a packing table: the fleet's mean price per GPU-hour, or why its $ are '-'."""
    if rate is None:
        return f"$ not shown: a GPU type of the nodes has no price (give it in --prices); priced by: {name}"
    return f"GPUs valued at the fleet's mean ${rate:,.4f} per GPU-hour, 730 h a month; priced by: {name}"
