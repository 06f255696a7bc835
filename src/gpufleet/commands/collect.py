"""`gpufleet collect prometheus`: pull telemetry into a collector store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import JsonOpt, emit_json, err, handles_errors, out
from gpufleet.commands.logs import LogFormatOpt
from gpufleet.core.errors import GpufleetError

collect_app = typer.Typer(help="Pull GPU and job telemetry into a durable store.", no_args_is_help=True)


def _step(text: str, option: str = "--step") -> float:
    """A positive duration option in seconds (the one parser, core/durations.py)."""
    from gpufleet.core.durations import parse_duration

    return parse_duration(text, option)


@collect_app.command("prometheus")
@handles_errors
def collect_prometheus_cmd(
    url: Annotated[
        str, typer.Option(help="Prometheus-compatible base URL (Prometheus, Thanos, Mimir, VictoriaMetrics).")
    ],
    store: Annotated[Path, typer.Option(help="Store directory (created if missing).")],
    since: Annotated[str, typer.Option(help="Start: a duration back from now (6h, 30m, 2d) or an ISO time.")] = "6h",
    until: Annotated[str | None, typer.Option(help="End: an ISO time (default: now).")] = None,
    step: Annotated[str, typer.Option(help="Scrape interval of the DCGM exporter (sizes the query chunks).")] = "30s",
    resample: Annotated[bool, typer.Option(help="Evaluate every step instead of pulling raw samples.")] = False,
    chunk: Annotated[
        str | None, typer.Option(help="Longest time per query (e.g. 1h) to bound memory with many GPUs.")
    ] = None,
    jobs: Annotated[bool, typer.Option(help="Also rebuild JOBS from kube-state-metrics (pods as jobs).")] = True,
    serving: Annotated[bool, typer.Option(help="Also pull vLLM metrics into per-workload SERIES.")] = True,
    series_step: Annotated[
        str, typer.Option(help="Bucket of the per-workload SERIES (GPU demand, vLLM rates and gauges).")
    ] = "1m",
    token: Annotated[str | None, typer.Option(envvar="GPUFLEET_PROM_TOKEN", help="Bearer token.")] = None,
    insecure: Annotated[bool, typer.Option(help="Do not verify TLS certificates.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """DCGM exporter GPU metrics (utilization, memory, power) into the store's GPU_SAMPLES, chunk by chunk."""
    from gpufleet.collector.prometheus import PrometheusSource, parse_since
    from gpufleet.collector.store import Store

    start = parse_since(since)
    end = parse_since(until) if until else datetime.now(UTC)
    if end <= start:
        raise GpufleetError(f"--since {since} is not before --until {until or 'now'}")
    src = PrometheusSource(url, token=token, verify_tls=not insecure)
    db = Store(store, log=lambda m: err.print(m, highlight=False))  # one object: one writer lock, one cache
    with err.status(f"collecting {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} from {src.url} …"):
        stats = src.collect_gpu(
            db, start, end, _step(step), raw=not resample, chunk_s=_step(chunk, "--chunk") if chunk else None
        )
    job_stats: dict[str, int] = {}
    if jobs:
        from gpufleet.collector.kube import collect_jobs, collect_nodes

        with err.status("rebuilding jobs and node capacity from kube-state-metrics …"):
            job_stats = collect_jobs(src, db, start, end, _step(step))
            job_stats |= collect_nodes(src, db, start, end)
    from gpufleet.collector.derive import derive_gpu_series

    bucket = _step(series_step, "--series-step")
    with err.status("deriving per-workload GPU series …"):
        derived = derive_gpu_series(db, start, end, bucket)
    serving_rows = None
    if serving:
        from gpufleet.collector.vllm import collect_vllm

        with err.status("pulling vLLM serving metrics …"):
            serving_rows = collect_vllm(src, db, start, end, bucket)
    result = {
        "url": src.url,
        "store": str(store),
        "files_cleaned_at_start": db.cleaned_files,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows_written": stats.rows_written,
        "queries": stats.queries,
        "retries": stats.retries,
        "chunks": stats.chunks,
        "empty_results": stats.empty_results,
        "bad_values_skipped": stats.bad_values,
        "jobs": job_stats,
        "gpu_series": derived,
        "serving_series_rows": serving_rows,
    }
    if as_json:
        emit_json(result)
        return
    out.print(
        f"{stats.rows_written:,} GPU samples written to {store} in {stats.chunks} chunks ({stats.queries} queries,"
        f" {stats.retries} retries); metrics with no data: {', '.join(stats.empty_results) or 'none'};"
        f" bad values skipped: {stats.bad_values}"
    )
    out.print(
        f"per-workload GPU series: {derived['series_rows']:,} points for {derived['workloads']} workloads"
        f" ({derived['samples_without_pod']:,} samples without a pod belong to none)"
        + (f"; vLLM series: {serving_rows:,} points" if serving_rows is not None else "")
    )
    if job_stats:
        out.print(
            f"jobs: {job_stats['jobs']:,} pods with GPUs rebuilt ({job_stats['pods_without_gpus_skipped']:,} without"
            f" GPUs skipped); the store now holds {job_stats['jobs_in_store']:,} jobs; node capacity:"
            f" {job_stats['nodes']:,} nodes ({job_stats['gpu_nodes']:,} with GPUs)"
        )


@collect_app.command("nvml")
@handles_errors
def collect_nvml_cmd(
    store: Annotated[Path, typer.Option(help="Store directory (created if missing).")],
    interval: Annotated[str, typer.Option(help="Time between samples (5s, 1m).")] = "5s",
    duration: Annotated[str, typer.Option(help="How long to sample (10m, 1h).")] = "10m",
    flush: Annotated[str, typer.Option(help="Write to the store at least this often.")] = "1m",
    as_json: JsonOpt = False,
) -> None:
    """This machine's GPUs through NVML (utilization, memory, power, temperature, clocks, MIG) into the store."""
    from gpufleet.collector.nvml import NvmlProvider, collect_nvml, node_name
    from gpufleet.collector.store import Store

    interval_s, duration_s = _step(interval, "--interval"), _step(duration, "--duration")
    provider = NvmlProvider(node_name())  # exit 3 with one line when there is no NVML
    with err.status(f"sampling NVML every {interval} for {duration} …"):
        stats = collect_nvml(provider, Store(store), interval_s, duration_s, flush_s=_step(flush, "--flush"))
    result = {
        "store": str(store),
        "samples": stats.samples,
        "rows_written": stats.rows_written,
        "unsupported_readings": stats.unsupported,
    }
    if as_json:
        emit_json(result)
        return
    out.print(
        f"{stats.samples} samples, {stats.rows_written:,} GPU rows written to {store};"
        f" readings this GPU does not support: {', '.join(stats.unsupported) or 'none'}"
    )


@collect_app.command("run")
@handles_errors
def collect_run_cmd(
    config: Annotated[Path, typer.Option(help="collector.yaml: the store, the sources and their schedules.")],
    duration: Annotated[str | None, typer.Option(help="Stop after this long (default: until killed).")] = None,
    as_json: JsonOpt = False,
    log_format: LogFormatOpt = None,
) -> None:
    """The long-running loop over all sources: retries with exponential backoff, a live progress table (on a
    terminal, with text logs), and /metrics about itself."""
    import logging
    import signal

    from rich.live import Live
    from rich.table import Table

    from gpufleet.collector.loop import CollectorLoop, load_config, seconds
    from gpufleet.commands import logs

    fmt = logs.setup(log_format)
    cfg = load_config(config)
    loop = CollectorLoop(cfg)
    # SIGTERM (kubectl delete, systemd stop) ends the loop like Ctrl-C: pending samples are written first
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    if cfg.metrics_port:
        logging.getLogger("gpufleet.collector").info(
            "collector metrics on http://%s:%d/metrics", cfg.metrics_host, cfg.metrics_port
        )

    def table() -> Table:
        t = Table(title=f"gpufleet collect run -> {cfg.store}")
        for c in ("source", "state", "runs ok", "failed", "rows", "backoff"):
            t.add_column(c)
        for st in loop.states:
            state = (
                "off: " + st.disabled
                if st.disabled
                else ("retrying" if st.failures else "ok" if st.runs_ok else "starting")
            )
            t.add_row(
                st.name,
                state,
                str(st.runs_ok),
                str(st.runs_failed),
                f"{sum(st.rows.values()):,}",
                f"{st.backoff_s:g} s",
            )
        return t

    limit = seconds(duration, "--duration") if duration else None
    try:
        if err.is_terminal and not as_json and fmt == "text":
            with Live(table(), console=err, refresh_per_second=2) as live:

                def tick(s: float) -> None:
                    live.update(table())
                    loop.stop.wait(s)

                states = loop.run(limit, sleep=tick)
        else:
            states = loop.run(limit)
    except KeyboardInterrupt:
        loop.stop.set()
        states = loop.states
    result = {
        st.name: {
            "kind": st.kind,
            "runs_ok": st.runs_ok,
            "runs_failed": st.runs_failed,
            "rows": st.rows,
            "disabled": st.disabled,
            "last_error": st.last_error,
        }
        for st in states
    }
    if as_json:
        emit_json(result)
        return
    for name, r in result.items():
        out.print(
            f"{name}: {r['runs_ok']} runs ok, {r['runs_failed']} failed, rows {r['rows']}"
            + (f" (off: {r['disabled']})" if r["disabled"] else "")
        )


store_app = typer.Typer(help="Look after a collector store.", no_args_is_help=True)
StoreOpt = Annotated[Path, typer.Option(help="Store directory.")]


def _open(path: Path):  # type: ignore[no-untyped-def]
    from gpufleet.collector.store import Store, is_store

    if not is_store(path):
        raise GpufleetError(f"--store {path}: not a collector store (no Delta tables or table folders)")
    return Store(path)


@store_app.command("info")
@handles_errors
def store_info_cmd(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """Tables, sources, days, files and rows."""
    info = _open(store).info()
    if as_json:
        emit_json(info)
        return
    for table, v in info.items():
        out.print(f"{table}: {v}")


@store_app.command("compact")
@handles_errors
def store_compact_cmd(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """Merge each day's parts into one file (crash-safe)."""
    res = _open(store).compact()
    if as_json:
        emit_json(res)
        return
    out.print(
        f"{res['days_compacted']} days compacted ({res['files_before']} files merged,"
        f" {res['files_deleted']} replaced files deleted)"
    )


@store_app.command("upgrade")
@handles_errors
def store_upgrade_cmd(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """Bring a store of the pre-Delta layout (gpufleet <= 0.1) to Delta tables, crash-safely."""
    res = _open(store).upgrade()
    if as_json:
        emit_json(res)
        return
    out.print(f"{res['tables_upgraded']} table(s) upgraded; {res['files_cleaned']} unreferenced file(s) removed")


@store_app.command("retention")
@handles_errors
def store_retention_cmd(
    store: StoreOpt,
    days: Annotated[int, typer.Option(min=0, help="Keep this many days before today (UTC).")],
    as_json: JsonOpt = False,
) -> None:
    """Delete day partitions older than --days."""
    res = _open(store).retention(days)
    if as_json:
        emit_json(res)
        return
    out.print(f"{res['days_deleted']} day partitions deleted")


@handles_errors
def exporter_cmd(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port for /metrics (dcgm-exporter uses 9400; 0: any free port).")
    ] = 9400,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    replay: Annotated[
        str | None, typer.Option(help="Serve a recorded GPU_SAMPLES reference, file or store as if live.")
    ] = None,
    speed: Annotated[float, typer.Option(min=0.001, help="Replay speed (trace seconds per wall second).")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until killed).")
    ] = None,
    log_format: LogFormatOpt = None,
) -> None:
    """GPU metrics under DCGM exporter names and labels, from NVML or a recording."""
    import logging
    import time

    from gpufleet.collector.exporter import ReplayProvider, serve
    from gpufleet.collector.nvml import NvmlProvider, node_name
    from gpufleet.commands import logs

    logs.setup(log_format)

    if replay is not None:
        from gpufleet.commands.common import _root_opt
        from gpufleet.plan.references import load_samples

        provider: object = ReplayProvider(load_samples(replay, _root_opt("data_dir")), speed=speed)
        what = f"replaying {replay} at {speed:g}x"
    else:
        provider = NvmlProvider(node_name())
        what = "NVML"
    server = serve(provider, host, port)
    logging.getLogger("gpufleet.collector.exporter").info("serving %s on http://%s:%d/metrics", what, host, port)
    try:
        deadline = time.monotonic() + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
