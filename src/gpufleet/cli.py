"""The `gpufleet` command (typer): it parses, calls the library and prints; errors are one line, exit 2."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from gpufleet.core.errors import GpufleetError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="gpufleet: telemetry, forecasting, optimization and trace-driven simulation for GPU fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
traces_app = typer.Typer(help="List, inspect, convert and compare datasets.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")

# Wide enough for the comparison tables when the output is a file or a pipe (rich assumes 80 columns there).
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)


# Root options (--debug, --data-dir) of the command being run; a ContextVar keeps runs independent.
_ROOT: ContextVar[dict[str, Any]] = ContextVar("gpufleet_root_options")


def _root_opt(name: str) -> Any:
    """A root option of the command being run (None before the root callback ran)."""
    return _ROOT.get({}).get(name)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
SkipOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad-rows",
        help="Drop unreadable rows (counted and reported) instead of stopping at the first one.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Generator parameter KEY=VALUE for synthetic:* (e.g. n_jobs=20000)."),
]


def handles_errors(fn: F) -> F:
    """Turn gpufleet errors into one line on stderr and exit code 2 (traceback only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GpufleetError as e:
            if _root_opt("debug"):
                raise
            err.print(f"[red]error:[/red] {escape(str(e))}", markup=True, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:
            if _root_opt("debug"):
                raise
            err.print(
                f"[red]internal error:[/red] {type(e).__name__}: {e} (rerun with --debug for the traceback)",
                markup=True,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def root(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Root of the trace folders (default: $GPUFLEET_DATA).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """gpufleet command line."""
    _ROOT.set({"debug": debug, "data_dir": data_dir})


def emit_json(obj: Any) -> None:
    """Write JSON to stdout (and nothing else), for --json."""
    from gpufleet.report.rundir import dumps

    sys.stdout.write(dumps(obj) + "\n")


def _params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise GpufleetError(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return params


def _load(ref: str, skip: bool, params: list[str] | None):  # type: ignore[no-untyped-def]
    from gpufleet.traces import load

    with err.status(f"reading {ref} …"):
        return load(ref, _root_opt("data_dir"), on_bad_row="skip" if skip else "raise", **_params(params))


@traces_app.command("list")
@handles_errors
def traces_list(as_json: JsonOpt = False) -> None:
    """List every dataset, its parts and whether its folder is present."""
    from gpufleet.report.console import datasets_table
    from gpufleet.traces import DATASETS, resolve_data_dir

    root_dir = resolve_data_dir(_root_opt("data_dir"), must_exist=False)
    rows = []
    for name, ds in DATASETS.items():
        if ds.folder is None:
            found = "built in"
        elif root_dir is None:
            found = "no data dir"
        else:
            found = "yes" if (root_dir / ds.folder).is_dir() else "missing"
        rows.append(
            {
                "name": name,
                "title": ds.title,
                "folder": ds.folder,
                "source": ds.source,
                "license": ds.license,
                "found": found,
                "default_part": ds.default_part,
                "parts": ds.part_names,
                "tables": sorted({p.table for p in ds.parts}),
            }
        )
    if as_json:
        emit_json({"data_dir": str(root_dir) if root_dir else None, "datasets": rows})
        return
    out.print(datasets_table(rows))
    if root_dir is None:
        out.print("[yellow]no data directory set: pass --data-dir or set GPUFLEET_DATA[/yellow]")


@traces_app.command("show")
@handles_errors
def traces_show(
    ref: Annotated[str, typer.Argument(help="NAME[:PART], e.g. itp:cluster04")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Read one dataset part and print its metadata and profile."""
    from gpufleet.report.console import meta_table, profile_table
    from gpufleet.traces.describe import profile

    tr = _load(ref, skip_bad_rows, param)
    prof = profile(tr.frame, tr.meta.table)
    if as_json:
        emit_json({"meta": tr.meta.to_dict(), "profile": prof})
        return
    out.print(meta_table(tr.meta.to_dict()))
    out.print(profile_table("profile", {tr.meta.ref: prof}))


@traces_app.command("convert")
@handles_errors
def traces_convert(
    ref: Annotated[str, typer.Argument(help="NAME[:PART]")],
    out_path: Annotated[Path, typer.Option("--out", help="Output .parquet (or .csv) file.")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Write one dataset part as a canonical Parquet (or CSV) file."""
    tr = _load(ref, skip_bad_rows, param)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".csv":
        tr.frame.write_csv(out_path)
    else:
        tr.frame.write_parquet(out_path)
    result = {
        "ref": tr.meta.ref,
        "table": tr.meta.table,
        "rows": tr.meta.rows,
        "out": str(out_path),
        "skipped": tr.meta.skipped,
    }
    if as_json:
        emit_json(result)
        return
    skipped = sum(tr.meta.skipped.values())
    out.print(
        f"wrote {tr.meta.rows:,} {tr.meta.table} rows to {out_path}"
        + (f" ({skipped:,} rows skipped: {tr.meta.skipped})" if skipped else "")
    )


@traces_app.command("compare")
@handles_errors
def traces_compare(
    refs: Annotated[list[str], typer.Argument(help="Two or more references of the same table.")],
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Print the profiles of several datasets side by side (e.g. synthetic:jobs itp:cluster04)."""
    from gpufleet.report.console import profile_table
    from gpufleet.traces.describe import profile

    if len(refs) < 2:
        raise GpufleetError("compare needs at least two references")
    traces = [_load(r, skip_bad_rows, param if r.startswith("synthetic") else None) for r in refs]
    tables = {t.meta.table for t in traces}
    if len(tables) > 1:
        raise GpufleetError(
            f"cannot compare different tables: {', '.join(f'{t.meta.ref}={t.meta.table}' for t in traces)}"
        )
    profiles = {t.meta.ref: profile(t.frame, t.meta.table) for t in traces}
    if as_json:
        emit_json({"profiles": profiles})
        return
    out.print(profile_table(f"{tables.pop()}: " + " vs ".join(profiles), profiles))


@app.command("demo")
@handles_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to write.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed for every generator (same seed, same bytes).")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """The main job on the built-in synthetic fleet and workload: generate, validate, write, summarize."""
    from gpufleet.demo import run_demo
    from gpufleet.report.console import demo_table, grid_table

    summary = run_demo(out_dir, seed=seed, progress=not as_json)
    if as_json:
        emit_json(summary)
        return
    out.print(demo_table(summary["profiles"]))
    out.print(
        grid_table(
            summary["simulations"],
            wall=False,
            title=f"replaying the {summary['rows']['jobs']:,} jobs on the synthetic fleet",
        )
    )
    out.print(
        f"\n[bold green]done[/bold green]: outputs in [bold]{out_dir}/[/bold] ({', '.join(sorted(summary['files']))})"
    )
    out.print(
        "next: [bold]make dashboard[/bold] (or `gpufleet dashboard`) to open the dashboard at http://localhost:8501"
    )


JobsOpt = Annotated[str, typer.Option("--jobs", help="JOBS reference, e.g. itp:cluster04 or synthetic:jobs.")]
ClusterOpt = Annotated[
    str,
    typer.Option(
        "--cluster", help="Spec COUNTxGPUS[:TYPE],... (64x8:A100,32x8:V100) or a NODES reference (openb:nodes)."
    ),
]


def _sim_config(**kw: Any) -> Any:
    from gpufleet.sim.run import SimConfig

    speeds = kw.pop("speeds")
    if speeds and speeds != "spec":
        try:
            speeds = {k: float(v) for k, v in (item.split("=") for item in speeds.split(","))}
        except ValueError:
            raise GpufleetError(f"--speeds {speeds!r}: expected TYPE=FACTOR,... (A100=2.5,V100=1) or 'spec'") from None
    try:
        return SimConfig(speeds=speeds, **kw)
    except Exception as e:  # pydantic's message is long; keep the first line
        raise GpufleetError(f"bad simulation settings: {str(e).splitlines()[0]}") from None


def _check_names(scheduler: list[str], placement: list[str], predictor: str) -> None:
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.optimizer.packing import PLACERS
    from gpufleet.sim.schedulers import SCHEDULERS

    for s in scheduler:
        SCHEDULERS.get(s)
    for p in placement:
        PLACERS.get(p)
    PREDICTORS.get(predictor)


@app.command("simulate")
@handles_errors
def simulate_cmd(
    jobs: JobsOpt,
    cluster: ClusterOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    scheduler: Annotated[str, typer.Option(help="fifo, fifo-backfill, sjf, srtf, tiresias, qssf")] = "fifo",
    placement: Annotated[str, typer.Option(help="first-fit, best-fit, worst-fit, consolidate")] = "best-fit",
    predictor: Annotated[str, typer.Option(help="oracle or user-history")] = "oracle",
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    preempt_overhead: Annotated[float, typer.Option(help="Checkpoint/restore seconds per resume.")] = 60.0,
    speeds: Annotated[str | None, typer.Option(help="TYPE=FACTOR,... or 'spec' (default: all 1.0).")] = None,
    multi_node: Annotated[bool, typer.Option(help="Let jobs larger than any node span nodes.")] = True,
    chunk_gpus: Annotated[int, typer.Option(help="GPUs per node-chunk of a multi-node gang.")] = 8,
    as_json: JsonOpt = False,
    skip_bad_rows: SkipOpt = False,
    param: ParamOpt = None,
) -> None:
    """Replay a job trace on a cluster under one scheduler and placer; write and print the summary."""
    from gpufleet.experiments import load_cluster, load_jobs, save
    from gpufleet.report.console import sim_table
    from gpufleet.sim.run import simulate

    _check_names([scheduler], [placement], predictor)
    cfg = _sim_config(
        scheduler=scheduler,
        placement=placement,
        predictor=predictor,
        seed=seed,
        preempt_overhead_s=preempt_overhead,
        speeds=speeds,
        multi_node=multi_node,
        chunk_gpus=chunk_gpus,
    )
    with err.status("loading …"):
        jf = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        nf = load_cluster(cluster, _root_opt("data_dir"))
    with err.status(f"simulating {jf.height:,} jobs on {int(nf['num_gpus'].sum()):,} GPUs …"):
        res = simulate(jf, nf, cfg)
    save(res, out_dir, {"jobs": jobs, "cluster": cluster, "params": _params(param)})
    if as_json:
        emit_json(res.summary | {"out": str(out_dir)})
        return
    out.print(sim_table(res.summary))
    out.print(f"run directory: [bold]{out_dir}/[/bold] (summary.json, config.yaml, jobs.parquet, timeline.parquet)")


@app.command("compare")
@handles_errors
def compare_cmd(
    jobs: JobsOpt,
    cluster: ClusterOpt,
    schedulers: Annotated[str, typer.Option(help="Comma-separated scheduler names.")] = "fifo,sjf,tiresias",
    placements: Annotated[str, typer.Option(help="Comma-separated placer names.")] = "best-fit",
    predictor: Annotated[str, typer.Option(help="oracle or user-history")] = "oracle",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write one run directory per pair here.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address (needs gpufleet[ray]).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every run.")] = 0,
    as_json: JsonOpt = False,
    param: ParamOpt = None,
) -> None:
    """Run a grid of schedulers x placers on the same jobs and cluster, in parallel, and print one table."""
    from gpufleet.experiments import load_cluster, load_jobs, run_grid
    from gpufleet.report.console import grid_table

    scheds = [s.strip() for s in schedulers.split(",") if s.strip()]
    places = [p.strip() for p in placements.split(",") if p.strip()]
    _check_names(scheds, places, predictor)
    base = _sim_config(predictor=predictor, seed=seed, speeds=None)
    with err.status("loading …"):
        jf = load_jobs(jobs, _root_opt("data_dir"), _params(param))
        nf = load_cluster(cluster, _root_opt("data_dir"))
    with err.status(f"running {len(scheds) * len(places)} simulations …"):
        rows = run_grid(jf, nf, base, scheds, places, out_dir, {"jobs": jobs, "cluster": cluster}, workers, ray)
    if out_dir:
        from gpufleet.report.rundir import dumps

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "compare.json").write_text(dumps({"jobs": jobs, "cluster": cluster, "runs": rows}) + "\n")
    if as_json:
        emit_json({"runs": rows})
        return
    out.print(grid_table(rows))


@app.command("dashboard")
@handles_errors
def dashboard(
    runs: Annotated[Path, typer.Option(help="Directory of run directories.")] = Path("out"),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
) -> None:
    """Open the Streamlit dashboard over the run directories."""
    import subprocess

    from gpufleet.dashboard import app_path

    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--runs",
        str(runs),
    ]
    err.print(f"dashboard on http://localhost:{port} (Ctrl-C to stop)")
    raise typer.Exit(subprocess.call(cmd))


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
