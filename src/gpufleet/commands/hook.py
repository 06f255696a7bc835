"""`gpufleet hook serve`: the live service (KEDA external scaler, HTTP API, decision loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import handles_errors
from gpufleet.commands.logs import LogFormatOpt

hook_app = typer.Typer(help="The live autoscaler hook for a Kubernetes cluster.", no_args_is_help=True)


@hook_app.command("serve")
@handles_errors
def hook_serve_cmd(
    config: Annotated[Path, typer.Option(help="hook.yaml: listen, auth, telemetry, kubernetes, workloads.")],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until killed).")
    ] = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Serve KEDA's external-scaler gRPC API and the HTTP API, deciding every `interval` seconds."""
    import logging
    import os
    import signal
    import threading
    import time

    from gpufleet.commands import logs
    from gpufleet.hook.config import load_hook_config
    from gpufleet.hook.serve import Hook

    logs.setup(log_format)
    cfg = load_hook_config(config)
    hook = Hook(cfg)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    hook.start()
    scheme = "https" if cfg.listen.tls_cert else "http"
    kube = ("apply" if cfg.kubernetes.apply else "dry-run") if cfg.kubernetes.enabled else "off"
    logging.getLogger("gpufleet.hook").info(
        "gpufleet hook: %d workload(s); HTTP %s://%s:%d (docs at /docs); KEDA gRPC %s:%d; deciding every %g s;"
        " kubernetes %s",
        len(hook.engine.workloads),
        scheme,
        cfg.listen.host,
        hook.http_port,
        cfg.listen.host,
        hook.grpc_port,
        cfg.interval,
        kube,
    )
    deadline = None if duration is None else time.monotonic() + duration
    try:
        # wake twice a second: the kernel may deliver SIGTERM to any thread, and when it lands on one of the native
        # ones (gRPC, tokio, polars) Python only marks it; the handler runs when the main thread next runs
        # bytecode, which a wait without a timeout never does (a hook was seen ignoring SIGTERM for 25 minutes)
        while not done.wait(0.5):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        hook.close()
    left = hook.stragglers()
    if left:
        # a thread that did not stop within its join (a gRPC loop under load, a tick stuck on a slow Prometheus)
        # would hold the process past the stop that was asked for; every write the hook makes is atomic (Delta
        # commits, fsync + rename), so leave now rather than wait for the kubelet's SIGKILL
        logging.getLogger("gpufleet.hook").warning("stopping with threads still running: %s", ", ".join(left))
        logging.shutdown()
        os._exit(0)
