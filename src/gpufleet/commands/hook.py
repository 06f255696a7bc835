"""`gpufleet hook serve`: the live service (KEDA external scaler, HTTP API, decision loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import err, handles_errors

hook_app = typer.Typer(help="The live autoscaler hook for a Kubernetes cluster.", no_args_is_help=True)


@hook_app.command("serve")
@handles_errors
def hook_serve_cmd(
    config: Annotated[Path, typer.Option(help="hook.yaml: listen, auth, telemetry, kubernetes, workloads.")],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until killed).")
    ] = None,
) -> None:
    """Serve KEDA's external-scaler gRPC API and the HTTP API, deciding every `interval` seconds."""
    import signal
    import threading
    from datetime import UTC, datetime

    from gpufleet.hook.config import load_hook_config
    from gpufleet.hook.serve import Hook

    cfg = load_hook_config(config)

    def log(line: str) -> None:
        err.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/dim] {line}", highlight=False)

    hook = Hook(cfg, log=log)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    hook.start()
    scheme = "https" if cfg.listen.tls_cert else "http"
    kube = ("apply" if cfg.kubernetes.apply else "dry-run") if cfg.kubernetes.enabled else "off"
    err.print(
        f"gpufleet hook: {len(hook.engine.workloads)} workload(s); HTTP {scheme}://{cfg.listen.host}:{hook.http_port}"
        f" (docs at /docs); KEDA gRPC {cfg.listen.host}:{hook.grpc_port}; deciding every {cfg.interval:g} s;"
        f" kubernetes {kube}",
        soft_wrap=True,
    )
    try:
        done.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        hook.close()
