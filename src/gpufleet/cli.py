"""The `gpufleet` command (typer): it parses, calls the library and prints; errors are one line, exit 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

# typer carries its own copy of click: its usage errors are these classes, not the `click` package's
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from gpufleet.commands.autoscale import autoscale_sim_cmd, compare_autoscalers_cmd
from gpufleet.commands.collect import collect_app, exporter_cmd, store_app
from gpufleet.commands.common import (
    _ROOT,
    JsonOpt,
    PolicyHelp,
    PricesOpt,
    check_out_dir,
    check_out_file,
    emit_json,
    err,
    handles_errors,
    out,
)
from gpufleet.commands.cost import cost_cmd
from gpufleet.commands.doctor import doctor_cmd
from gpufleet.commands.hook import hook_app
from gpufleet.commands.models import backtest_app, predict_app, train_app
from gpufleet.commands.packing import pack_cmd, pack_experiment_cmd
from gpufleet.commands.plan import plan_app
from gpufleet.commands.policies import policies_cmd
from gpufleet.commands.rerun import rerun_cmd
from gpufleet.commands.rightsize import rightsize_cmd
from gpufleet.commands.runtime import backtest_runtime_cmd
from gpufleet.commands.series import backtest_series_cmd, forecast_cmd
from gpufleet.commands.serving_designs import serving_designs_cmd
from gpufleet.commands.serving_types import serving_types_cmd
from gpufleet.commands.simulate import compare_cmd, simulate_cmd
from gpufleet.commands.tenancy import tenancy_cmd
from gpufleet.commands.traces import traces_app
from gpufleet.core.redact import redact


class OneLineUsageErrors(TyperGroup):
    """The root group: click's usage errors (a missing option, a value out of range, an unknown command) are one
    line and exit code 2 like every other bad input, instead of a usage block and a boxed message."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; in standalone mode print a usage error as one line and exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as e:
            e.show()  # the help text, as before
            sys.exit(e.exit_code)
        except UsageError as e:
            where = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
            msg = " ".join(redact(e.format_message()).replace("Value error, ", "").split())  # values may hold URLs
            err.print(f"[red]error:[/red] {escape(msg)}{escape(where)}", markup=True, soft_wrap=True)
            sys.exit(e.exit_code)
        except ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            err.print("Aborted!")
            sys.exit(1)
        # without standalone mode click returns an Exit's code, or the command's own return value (None)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineUsageErrors,
    help="gpufleet: telemetry, forecasting, optimization and trace-driven simulation for GPU fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # click's plain help, not typer's rich tables: at 80 columns the rich table cut option names
    # (`--preempt-overhe…`) and read square brackets as markup (`gpufleet[ray]` lost its `[ray]`); it is also
    # ~0.1 s less to import. Every sub-app inherits the root's mode.
    rich_markup_mode=None,
)
app.add_typer(traces_app, name="traces")
app.add_typer(collect_app, name="collect")
app.add_typer(store_app, name="store")
app.add_typer(hook_app, name="hook")
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")
backtest_app.command("runtime", cls=PolicyHelp)(backtest_runtime_cmd)
backtest_app.command("series", cls=PolicyHelp)(backtest_series_cmd)
app.add_typer(backtest_app, name="backtest")
app.add_typer(plan_app, name="plan")
app.command("simulate", cls=PolicyHelp)(simulate_cmd)
app.command("compare", cls=PolicyHelp)(compare_cmd)
app.command("tenancy", cls=PolicyHelp)(tenancy_cmd)
app.command("forecast", cls=PolicyHelp)(forecast_cmd)
app.command("pack-experiment", cls=PolicyHelp)(pack_experiment_cmd)
app.command("pack", cls=PolicyHelp)(pack_cmd)
app.command("rightsize", cls=PolicyHelp)(rightsize_cmd)
app.command("exporter")(exporter_cmd)
app.command("autoscale-sim", cls=PolicyHelp)(autoscale_sim_cmd)
app.command("compare-autoscalers", cls=PolicyHelp)(compare_autoscalers_cmd)
app.command("serving-designs", cls=PolicyHelp)(serving_designs_cmd)
app.command("serving-types", cls=PolicyHelp)(serving_types_cmd)
app.command("policies")(policies_cmd)
app.command("cost")(cost_cmd)
app.command("doctor")(doctor_cmd)
app.command("rerun")(rerun_cmd)


def _version(value: bool) -> None:
    """--version: print the installed package's version and stop (eager: before any other option is read)."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("gpufleet")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from gpufleet import __version__ as v
    sys.stdout.write(f"gpufleet {v}\n")
    raise typer.Exit(0)


@app.callback()
def root(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Root of the trace folders (default: $GPUFLEET_DATA).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the gpufleet version and exit."),
    ] = False,
) -> None:
    """gpufleet command line."""
    _ROOT.set({"debug": debug, "data_dir": data_dir})


@app.command("demo")
@handles_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to write.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed for every generator (same seed, same bytes).")] = 7,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The main job on the built-in synthetic fleet and workload: generate, validate, write, summarize."""
    from gpufleet.core.prices import dollars, load_prices
    from gpufleet.plan.demo import run_demo
    from gpufleet.report.console import demo_table, grid_table, metrics_table
    from gpufleet.sim.summary import ServingSummary, Summary, load

    check_out_dir(out_dir)
    table = load_prices(prices)
    summary = run_demo(out_dir, seed=seed, progress=not as_json, prices=table)
    from gpufleet.commands.runinfo import record_run

    # what made it (provenance.json), in the demo folder and each of its runs (sim/*, serving/*)
    record_run(out_dir, parts=sorted(p.relative_to(out_dir).as_posix() for p in out_dir.glob("*/*") if p.is_dir()))
    if as_json:
        emit_json(summary)
        return
    out.print(demo_table(summary["profiles"]))
    keep = ("model", "log_mae", "bias", "mdape", "within_2x", "cover_p10_p90", "mae", "rmse", "mase", "coverage-80")
    out.print(
        metrics_table(
            "runtime predictors on the last 20% of jobs by time (trained on what was known before it)",
            [{k: v for k, v in r.items() if k in keep} for r in summary["runtime_backtest"]],
        )
    )
    out.print(
        metrics_table(
            "fleet GPU-utilization forecast 1 h ahead (10-min steps, 6 rolling origins)",
            [{k: v for k, v in r.items() if k in keep} for r in summary["demand_backtest"]],
        )
    )
    out.print(
        grid_table(
            # the demo's summary leaves each run's wall time out (it varies run to run); the table hides it
            [load(r | {"wall_s": 0.0}, "the demo's summary", Summary) for r in summary["simulations"]],
            wall=False,
            title=f"replaying the {summary['rows']['jobs']:,} jobs on the synthetic fleet",
        )
    )
    rs = [r for r in summary["rightsizing"]["recommendations"] if r["opinion"]]
    out.print(
        metrics_table(
            "right-sizing the fleet's workloads (vpa: p90 x 1.15, 24 h half-life)",
            [
                {
                    "workload": r["workload"],
                    "pods": r["pods"],
                    "GPUs now": r["current_gpus"],
                    "proposed": r["proposed_mig"] or r["proposed_gpus"],
                    "GPUs saved": r["gpus_saved"],
                    "$/month saved": dollars(r["dollars_saved_per_month"]),
                    "risk": r["risk"],
                    "CPU": r["cpu_target"],
                    "memory GiB": (r["mem_target"] or 0) / 2**30,
                }
                for r in rs
            ],
        )
    )
    served = [load(s, "the demo's summary", ServingSummary) for s in summary["serving"]]
    out.print(
        metrics_table(
            f"serving the {summary['rows']['requests']:,} requests under autoscalers (SLO {served[0].slo})",
            [
                {
                    "policy": s.policy,
                    "GPU-hours": s.gpu_hours,
                    "cost": dollars(s.cost),
                    "SLO attainment": s.slo_attainment,
                    "TTFT p99 s": s.ttft_p99_s,
                    "max replicas": s.max_replicas,
                }
                for s in served
            ],
        )
    )
    out.print(f"priced by: {table.name}", markup=False)
    out.print(
        f"\n[bold green]done[/bold green]: outputs in [bold]{out_dir}/[/bold] ({', '.join(sorted(summary['files']))})"
    )
    out.print(f"report: [bold]{out_dir / 'report.html'}[/bold] (one file, opens with no network)")
    out.print(
        f"next: [bold]gpufleet dashboard --runs {out_dir.parent}[/bold] (or `make dashboard`) and open"
        " http://localhost:8501"
    )


@app.command("report")
@handles_errors
def report(
    run: Annotated[
        list[Path],
        typer.Option(
            metavar="DIR",
            help="A run directory (repeat for several); a demo, or the --out folder of compare or tenancy, brings"
            " its runs.",
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    prices: PricesOpt = None,
    figures: Annotated[
        Path | None,
        typer.Option("--figures", metavar="DIR", help="Also write each figure on its own into DIR, in each --format."),
    ] = None,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="LIST",
            help="Formats of --figures, of png, svg, pdf (kaleido: needs Chrome or Chromium), csv (the figure's"
            " data), html (standalone).",
        ),
    ] = "svg,csv",
) -> None:
    """One self-contained HTML report: the executive summary in $, CDFs, timelines, policy comparison, serving,
    recommendations; with --figures, every figure as PNG/SVG/PDF and its data as CSV too."""
    from gpufleet.core.prices import load_prices
    from gpufleet.report.figures import parse_formats, require_images
    from gpufleet.report.html import write_report

    check_out_file(out_file, suffixes=(".html", ".htm"))
    table = load_prices(prices)  # a bad file is one line before any work
    kinds = parse_formats(formats)
    if figures is not None:
        check_out_dir(figures, "--figures")
        require_images(kinds)  # kaleido and a browser for it, before any work
    cmd = "gpufleet report " + " ".join(f"--run {r}" for r in run) + f" --out {out_file}"
    cmd += f" --prices {prices}" if prices else ""
    path = write_report(run, out_file, cmd, table, figures, tuple(kinds))
    out.print(f"report written: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    if figures is not None:
        out.print(f"figures written: {figures}/ ({', '.join(kinds)} of each)")


@app.command("dashboard")
@handles_errors
def dashboard(
    runs: Annotated[Path, typer.Option(help="Directory of run directories (demo, simulate, autoscale-sim).")] = Path(
        "out"
    ),
    store: Annotated[Path | None, typer.Option(help="A collector store (GPU samples, nodes, series).")] = None,
    prices: Annotated[
        Path | None, typer.Option(help="Price table (docs/cost.md) merged over the built-in list prices.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
) -> None:
    """The Streamlit dashboard: Fleet, Workloads, Forecasts, What-if, Autoscaling. The real traces its What-if
    page replays are found as every command finds them (--data-dir, $GPUFLEET_DATA, ../shared/traces)."""
    import os

    from gpufleet.collector.store import is_store
    from gpufleet.commands.common import _root_opt
    from gpufleet.core.datadir import DATA_ENV
    from gpufleet.core.errors import GpufleetError
    from gpufleet.dashboard import app_path
    from gpufleet.dashboard.data import ENV_PRICES, ENV_RUNS, ENV_STORE, load_prices
    from gpufleet.traces import resolve_data_dir

    if store is not None and not is_store(store):
        raise GpufleetError(f"--store {store}: not a collector store")
    load_prices(prices)  # a bad price table fails here, in one line, not in the browser
    env = os.environ | {ENV_RUNS: str(runs.resolve())}
    explicit = _root_opt("data_dir")
    traces = resolve_data_dir(explicit, must_exist=explicit is not None)  # a --data-dir that is not there: now
    if traces is not None:  # the pages find it in the environment, as the loaders do
        env[DATA_ENV] = str(traces.resolve())
    if store is not None:
        env[ENV_STORE] = str(store.resolve())
    if prices is not None:
        env[ENV_PRICES] = str(prices.resolve())
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # a viewer's toolbar: no Deploy button (it offers to publish the app to Streamlit's cloud)
        "--client.toolbarMode",
        "minimal",
    ]
    err.print(f"dashboard on http://{host}:{port} (Ctrl-C to stop)")
    sys.stderr.flush()
    # Become Streamlit (exec, same PID) rather than wait on it as a child: a SIGTERM to `gpufleet dashboard`
    # (a test's terminate(), a pod's stop) then stops the server itself instead of orphaning it, listening.
    os.execve(sys.executable, cmd, env)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
