"""A local Prometheus (the Debian package) for tests, benchmarks and demos: backfill with promtool, serve on
127.0.0.1 on a free port, stop by PID. Nothing is installed here; `make test` installs the package."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpufleet.testing.net import free_port, wait_http

__all__ = ["backfill", "free_port", "have_prometheus", "prometheus", "prometheus_scraping"]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def have_prometheus() -> bool:
    """Whether the prometheus and promtool binaries are here."""
    return Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()


def backfill(openmetrics: Path, tsdb: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks before the server starts (so they load at once)."""
    tsdb.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
        check=True,
        capture_output=True,
        timeout=300,
    )


@contextmanager
def _serve(args: list[str], port: int) -> Iterator[str]:
    """Start the prometheus binary with `args` on 127.0.0.1:`port`, wait until ready, yield its URL, stop it."""
    proc = subprocess.Popen(
        [PROMETHEUS, *args, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/-/ready", proc=proc, timeout_s=60, what="prometheus")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def prometheus(tsdb: Path, port: int | None = None) -> Iterator[str]:
    """Run Prometheus on 127.0.0.1 over `tsdb`; yields its URL; stops it by PID."""
    port = port or free_port()
    cfg = tsdb.parent / f"prometheus-{port}.yml"
    cfg.write_text("global:\n  scrape_interval: 15s\n")
    args = [
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tsdb}",
        "--storage.tsdb.retention.time=100y",  # backfilled history is years old
        "--web.enable-lifecycle",
    ]
    with _serve(args, port) as url:
        yield url


@contextmanager
def prometheus_scraping(root: Path, target: str, interval_s: float = 1.0) -> Iterator[str]:
    """Prometheus on an empty TSDB, scraping `target` (host:port) every `interval_s`."""
    tsdb = root / "tsdb-live"
    tsdb.mkdir(parents=True, exist_ok=True)
    cfg = root / "scrape.yml"
    cfg.write_text(
        f"global:\n  scrape_interval: {interval_s:g}s\n  scrape_timeout: {interval_s:g}s\n"
        f"scrape_configs:\n  - job_name: gpus\n    static_configs:\n      - targets: ['{target}']\n"
    )
    with _serve([f"--config.file={cfg}", f"--storage.tsdb.path={tsdb}"], free_port()) as url:
        yield url
