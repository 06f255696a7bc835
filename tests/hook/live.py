"""Real parts for the hook's hostile-client and missing-data tests: vLLM-like telemetry backfilled into a real
Prometheus (a replay at a fixed epoch) or served live by a prometheus_client exporter that Prometheus
scrapes every second and the test can stop; trustme certificates; a `hook serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from gpufleet.collector.openmetrics import write_serving_openmetrics
from gpufleet.testing.net import stop_process, wait_http

EPOCH = 1_700_000_040
TOKEN = "t0ken-for-hostile-tests"
MD = (("authorization", f"Bearer {TOKEN}"),)  # gRPC metadata of an authenticated client


def backfill_models(root: Path, models: dict[str, float], seconds: int, *, namespace: str = "llm") -> Path:
    """One OpenMetrics file per model with a constant `concurrency` in flight (and as many arrivals per second,
    one second of service each) for `seconds` after EPOCH, each backfilled into root/tsdb. Returns the TSDB."""
    from tests.collector.prom import backfill

    tsdb = root / "tsdb"
    for model, conc in models.items():
        per_second = pl.DataFrame(
            {"t": np.arange(seconds), "concurrency": np.full(seconds, conc), "arrivals": np.full(seconds, conc)}
        )
        n = round(conc * seconds)
        requests = pl.DataFrame({"arrival": np.linspace(0, seconds - 1, n), "service_s": np.ones(n)})
        om = root / f"{model}.om"
        write_serving_openmetrics(per_second, requests, om, epoch_s=EPOCH, namespace=namespace, model=model)
        backfill(om, tsdb)
    return tsdb


class Exporter:
    """A vLLM-like exporter on 127.0.0.1: per pod, `vllm:num_requests_running` = the value the test sets."""

    def __init__(self, namespace: str, model: str) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.namespace, self.model = namespace, model
        self.pods: dict[str, float] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)
        from tests.collector.prom import free_port

        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for name in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
            g = GaugeMetricFamily(name, "requests", labels=["namespace", "model_name", "pod"])
            for pod, v in list(self.pods.items()):
                g.add_metric([self.namespace, self.model, pod], v if name.endswith("running") else 0.0)
            yield g

    def stop(self) -> None:
        """The exporter goes away (the scrape target refuses connections from now on)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def wait_for(check: Any, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll `check()` until it returns something truthy (bounded; never a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"gave up waiting for {what} after {timeout_s:.0f} s")


def certificates(root: Path) -> dict[str, Path]:
    """A test CA (trustme) with a server certificate for localhost/127.0.0.1 and a client certificate for
    KEDA's operator; a second, unrelated CA with its own client certificate; a client of the right CA with
    another name. Returns the PEM paths."""
    import trustme

    ca, rogue = trustme.CA(), trustme.CA()
    out: dict[str, Path] = {}

    def dump(name: str, blob: Any) -> None:
        out[name] = root / f"{name}.pem"
        blob.write_to_path(str(out[name]))

    server = ca.issue_cert("localhost", "127.0.0.1")
    dump("ca", ca.cert_pem)
    dump("server_cert", server.cert_chain_pems[0])
    dump("server_key", server.private_key_pem)
    for name, issuer, ident in (
        ("keda", ca, "keda-operator"),
        ("other", ca, "someone-else"),
        ("rogue", rogue, "keda-operator"),
    ):
        cert = issuer.issue_cert(ident)
        dump(f"{name}_cert", cert.cert_chain_pems[0])
        dump(f"{name}_key", cert.private_key_pem)
    return out


@contextmanager
def hook_process(
    config: Path, http_port: int, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[str]]:
    """`gpufleet hook serve --config CONFIG [ARGS]` as a real process, until the block ends (SIGTERM, then
    SIGKILL by PID); its stderr (the log) goes to hook-PORT.log in CONFIG's directory, its stdout to
    hook-PORT.out."""
    log = open(config.parent / f"hook-{http_port}.log", "a")  # noqa: SIM115 - closed below
    stdout = open(config.parent / f"hook-{http_port}.out", "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet.cli", "hook", "serve", "--config", str(config), *args],
        stdout=stdout,
        stderr=log,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        try:
            wait_http(f"http://127.0.0.1:{http_port}/healthz", proc=proc, timeout_s=90, what="the hook")
        except RuntimeError as e:
            log.flush()
            raise AssertionError(f"{e}: {(config.parent / f'hook-{http_port}.log').read_text()[-2000:]}") from None
        yield proc
    finally:
        stop_process(proc)
        log.close()
        stdout.close()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def authed(port: int) -> httpx.Client:
    """An httpx client with the token."""
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample `name` with exactly these labels in a /metrics text (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None
