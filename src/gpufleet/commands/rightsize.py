"""`gpufleet rightsize`: per-workload GPU / MIG / CPU / memory recommendations from GPU samples."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import typer

from gpufleet.commands.common import (
    JsonOpt,
    PricesOpt,
    _root_opt,
    emit_json,
    handles_errors,
    out,
    policy_settings,
    reads_files,
)
from gpufleet.core.errors import GpufleetError

GIB = 2**30


def _row(r: dict[str, Any]) -> dict[str, Any]:
    """The columns of the ranked table."""
    proposal = r["proposed_mig"] or (f"{r['proposed_gpus']:g} GPU" if r["proposed_gpus"] is not None else "-")
    return {
        "workload": r["workload"][:34],
        "pods": r["pods"],
        "now": r["current_gpus"],
        "proposed": proposal if r["opinion"] else "no opinion",
        "gpus_saved": r["gpus_saved"],
        "$/month saved": _dollars(r["dollars_saved_per_month"]) if r["opinion"] else "-",
        "risk": f"{r['risk']:.1%}" if r["risk"] is not None else "-",
        "gpu_mem_GB": r["proposed_gpu_mem_bytes"] / 1e9 if r["proposed_gpu_mem_bytes"] else None,
        "cpu": r["cpu_target"],
        "mem_GiB": r["mem_target"] / GIB if r["mem_target"] else None,
        "history_h": r["span_h"],
    }


def _dollars(x: float | None) -> str:
    from gpufleet.core.prices import dollars

    return dollars(x)


@handles_errors
@reads_files
def rightsize_cmd(
    samples: Annotated[str, typer.Option(help="GPU_SAMPLES reference (genai:gpu) or a Parquet/CSV file.")],
    sizer: Annotated[str, typer.Option(help="Right-sizer: {policies:rightsizer}.")] = "vpa",
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Right-sizer setting KEY=VALUE (e.g. margin=1.3, gpu_mem_q=null for the maximum); repeatable;"
            " `gpufleet policies --kind rightsizer` lists them.",
        ),
    ] = None,
    by: Annotated[str, typer.Option(help="Workload = pod name 'prefix' (default), 'pod' or 'namespace'.")] = "prefix",
    gpu_model: Annotated[
        str | None, typer.Option(help="GPU model when the samples do not name it (A100-80GB, H100-80GB...).")
    ] = None,
    holdout: Annotated[
        float | None,
        typer.Option(help="Fit on this first share of the timeline, count shortfalls on the rest (e.g. 0.5)."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows shown in the table (JSON/CSV carry all).")] = 25,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the recommendations as CSV.")] = False,
) -> None:
    """Recommend what each workload's pods should ask for, ranked by GPUs saved, each with its evidence."""
    from gpufleet.core.prices import load_prices
    from gpufleet.optimizer.rightsizing import holdout as run_holdout
    from gpufleet.optimizer.rightsizing import recommend_all
    from gpufleet.plan.dollars import price_rightsizing
    from gpufleet.plan.references import load_samples
    from gpufleet.report.console import metrics_table

    settings = policy_settings("rightsizer", sizer, setting)  # a bad name or setting: before any data is read
    table = load_prices(prices)
    if by not in ("prefix", "pod", "namespace"):
        raise GpufleetError(f"--by {by!r}: use prefix, pod or namespace")
    if holdout is not None and not 0 < holdout < 1:
        raise GpufleetError(f"--holdout {holdout}: give a share of the timeline between 0 and 1, e.g. 0.5")
    frame = load_samples(samples, _root_opt("data_dir"))
    if frame.height == 0:
        raise GpufleetError(f"--samples {samples}: no samples")
    recs, notes = recommend_all(frame, sizer, settings=settings, by=by, gpu_model=gpu_model)  # type: ignore[arg-type]
    rows = [r.to_dict() for r in recs]
    with_opinion = [r for r in rows if r["opinion"]]
    summary = {
        "samples": samples,
        "sizer": sizer,
        "settings": settings,
        **notes,
        "with_opinion": len(with_opinion),
        "gpus_held": sum((r["current_gpus"] or 0) * r["pods"] for r in with_opinion),
        "gpus_saved": sum(r["gpus_saved"] or 0 for r in with_opinion),
        **price_rightsizing(rows, table),
    }
    if holdout is not None:
        ev = run_holdout(frame, sizer, settings=settings, train_frac=holdout, by=by, gpu_model=gpu_model)  # type: ignore[arg-type]
        summary["holdout"] = {k: v for k, v in ev.items() if k != "rows"}
    if as_json:
        emit_json({"summary": summary, "recommendations": rows})
        return
    if as_csv:
        flat = [
            {k: v for k, v in r.items() if k != "evidence"} | {f"ev_{k}": v for k, v in r["evidence"].items()}
            for r in rows
        ]
        keys: list[str] = []
        for r in flat:
            keys += [k for k in r if k not in keys]
        w = csv.DictWriter(sys.stdout, fieldnames=keys)
        w.writeheader()
        w.writerows(flat)
        return
    title = f"{sizer}: {summary['with_opinion']} of {notes['workloads']} workloads with an opinion, {samples}"
    if "assumed_gpu_model" in notes:
        title += f" (GPU model not in the samples; assumed {notes['assumed_gpu_model']}, set --gpu-model)"
    out.print(metrics_table(title, [_row(r) for r in rows[:top]]))
    out.print(
        f"GPUs held by workloads with an opinion: {summary['gpus_held']:g}; saved if all proposals were taken:"
        f" {summary['gpus_saved']:g}, {_dollars(summary['dollars_saved_per_month'])} per month"
        + (
            f" (+ {summary['unpriced_gpu_hours_saved_per_day']:,.1f} GPU-h/day on unpriced GPU models)"
            if summary["unpriced_gpu_hours_saved_per_day"]
            else ""
        )
        + f"; priced by: {table.name}",
        markup=False,
    )
    if with_opinion:
        out.print(f"top reason: {with_opinion[0]['reason']}", markup=False)
    if holdout is not None:
        h = summary["holdout"]
        out.print(
            f"holdout (fit before {h['train_until']}, judged after): {h['saved_share']:.1%} of"
            f" {h['gpus_held']:g} GPUs saved; {h['test_shortfall']:.2%} of later samples not covered;"
            f" {h['workloads_short_over_1pct']} workloads short in over 1% of them"
        )
