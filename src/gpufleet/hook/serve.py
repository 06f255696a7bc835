"""`gpufleet hook serve --config hook.yaml`: the decision loop, the KEDA gRPC scaler and the HTTP API in one
process. The loop decides every `interval` seconds; requests only read its latest decisions (bounded work),
except /v1/what-if, which replays at most six hours of the workload's recent arrivals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError, brief
from gpufleet.hook.config import HookConfig, with_profile
from gpufleet.hook.engine import Engine, WorkloadRuntime
from gpufleet.hook.http_api import WHAT_IF_MAX_REQUESTS, WHAT_IF_MAX_S, WhatIf, finite, make_app
from gpufleet.hook.metrics import HookMetrics
from gpufleet.hook.telemetry import PrometheusTelemetry

DISCOVER_EVERY_S = 300.0
REDISCOVER_S = 30.0  # at most this often when requests name workloads discovery has not seen yet
ADVICE_EVERY_S = 600.0  # right-sizing and packing advice change slowly; recomputed this often
PROFILE_FILES = (".yaml", ".yml", ".csv", ".json")  # what `--profile` reads as a file: never from an annotation
log = logging.getLogger(__name__)


def what_if(engine: Engine, rt: WorkloadRuntime, body: WhatIf, now: float) -> dict[str, Any]:
    """The workload's recent arrivals (one request per arrival, each holding a slot for the observed mean
    service time) replayed under its current policy and the proposed one."""
    from gpufleet.plan.whatif import replay_policies, requests_from_arrivals

    w = rt.cfg
    span = min(w.history_s, WHAT_IF_MAX_S)
    win = engine.telemetry.window(w.model_copy(update={"history_s": span}), now)
    counts = np.nan_to_num(win.arrivals)
    n = round(float(counts.sum()))
    if n == 0:
        raise ValueError(f"{w.key}: no arrivals in the last {span:.0f} s to replay")
    if n > WHAT_IF_MAX_REQUESTS:
        raise ValueError(f"{w.key}: {n} arrivals in the window: over the {WHAT_IF_MAX_REQUESTS} a what-if replays")
    reqs = requests_from_arrivals(counts, win.service_s or w.service_s)
    out: dict[str, Any] = {"namespace": w.namespace, "workload": w.name, "window_s": span, "requests": reqs.height}
    out |= replay_policies(
        reqs,
        [("current", w.policy, w.settings), ("proposed", body.policy, body.settings)],
        slo=body.slo,
        cold_start_s=w.cold_start_s,
        guardrails=body.guardrails or w.guardrails,
    )
    cur, new = out["current"]["gpu_hours"], out["proposed"]["gpu_hours"]
    out["gpu_hours_change"] = finite((new - cur) / cur) if cur else None
    return out


def with_profile_capacity(cfg: HookConfig) -> HookConfig:
    """Workloads that name a serving profile carry its work model's capacity per replica (slots x batch size);
    read through plan (the hook never imports the simulator), once, before the first decision."""
    if all(w.profile is None for w in cfg.workloads):
        return cfg
    from gpufleet.plan.serving_profiles import replica_capacity

    workloads = []
    for w in cfg.workloads:
        try:
            workloads.append(with_profile(w, replica_capacity))
        except GpufleetError as e:
            raise GpufleetError(f"workload {w.key}: {e}") from None
    return cfg.model_copy(update={"workloads": workloads})


def builtin_profile_capacity(name: str) -> int:
    """Capacity per replica of a built-in serving profile only (for `gpufleet.io/profile`): a value written on a
    cluster object never opens a file on the hook's disk, whoever may annotate a Deployment."""
    from gpufleet.plan.serving_profiles import builtin_profiles, replica_capacity

    names = builtin_profiles()
    if name in names:
        return replica_capacity(name)
    shown = name if len(name) <= 80 else name[:77] + "..."
    if any(c in name for c in "/\\") or name.startswith(("~", ".")) or Path(name).suffix.lower() in PROFILE_FILES:
        raise GpufleetError(
            f"{shown!r} is a file path: a profile named on a cluster object must be built in ({', '.join(names)});"
            " files are read only from hook.yaml, never from an annotation"
        )
    raise GpufleetError(f"{shown!r} is not a built-in profile (valid: {', '.join(names)})")


class Hook:
    """Everything `hook serve` runs; start() returns once the servers listen."""

    def __init__(
        self,
        cfg: HookConfig,
        *,
        telemetry: Any = None,
        kube: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = with_profile_capacity(cfg)
        self.cfg, self.clock = cfg, clock
        token = cfg.auth.token()
        if token is None:
            raise GpufleetError("auth: give token_file or token_env: the hook never runs without a token")
        self.token = token
        if telemetry is None:
            import os

            prom_token = os.environ.get(cfg.telemetry.token_env) if cfg.telemetry.token_env else None
            telemetry = PrometheusTelemetry(cfg.telemetry, prom_token)
        if kube is None and cfg.kubernetes.enabled:
            from gpufleet.hook.kube import KubeSide

            kube = KubeSide(cfg.kubernetes, profile_capacity=builtin_profile_capacity)
        self.kube = kube
        # the hook is its decision store's one writer: take the lock (a second hook on the same store stops
        # with one line), upgrade an old-layout store and clean interrupted writes before reading it back
        store = Store(cfg.store, log=logging.getLogger("gpufleet.collector.store").info)
        store.upgrade()
        self.engine = Engine(cfg, telemetry, kube, store, clock=clock)
        self.metrics = HookMetrics(self.engine, cfg.recommend_from, getattr(kube, "cluster", None))
        self.stop = threading.Event()
        self.http_port = self.grpc_port = 0
        self._threads: list[threading.Thread] = []
        self._grpc: Any = None
        self._uvicorn: Any = None
        self._http_refused: dict[int, int] = {}  # filled by the HTTP guard
        self._auth: Any = None
        self._rediscover = threading.Event()  # a request named a workload we do not know: look again soon
        self._counters()

    def _counters(self) -> None:
        def skipped() -> dict[tuple[str, ...], float]:
            return {k: float(v) for k, v in getattr(self.kube, "skipped", {}).items()}

        def refused() -> dict[tuple[str, ...], float]:
            out: dict[tuple[str, ...], float] = {("grpc", "auth"): float(getattr(self._auth, "refused", 0))}
            for status, n in list(self._http_refused.items()):
                out[("http", str(status))] = float(n)
            out[("kubernetes", "outside-selection")] = float(self.engine.refused_scales)
            return out

        self.metrics.counters = {
            "gpufleet_workloads_skipped": (
                "Discovery found a workload it could not use (a bad gpufleet.io annotation, a bad ScaledObject).",
                ["namespace", "workload"],
                skipped,
            ),
            "gpufleet_refused": ("Requests and actions refused, by where and why.", ["where", "reason"], refused),
        }

    def discover(self) -> int:
        """Follow what the cluster declares (labels, ScaledObjects): new workloads added, withdrawn ones dropped.
        A failure is logged and leaves the workloads as they were; decisions go on either way."""
        if self.kube is None:
            return 0
        try:
            added, dropped = self.engine.sync(self.kube.discover())
        except Exception as e:  # the API server down or refusing: keep deciding for what we know
            log.error("discovery failed: %s: %s", type(e).__name__, brief(e))
            return 0
        if added or dropped:
            log.info("discovery: %d workload(s) added, %d no longer declared", added, dropped)
        return added

    def _loop(self) -> None:
        next_discovery = next_advice = 0.0
        while not self.stop.is_set():
            began = time.monotonic()
            # a request for an unknown workload brings discovery forward, at most every REDISCOVER_S
            if self.kube is not None and (
                began >= next_discovery
                or (self._rediscover.is_set() and began >= next_discovery - DISCOVER_EVERY_S + REDISCOVER_S)
            ):
                self._rediscover.clear()
                self.discover()
                next_discovery = began + DISCOVER_EVERY_S
            try:
                for d in self.engine.tick():
                    self.metrics.decision_seconds.observe(d.latency_ms / 1e3)
            except Exception as e:  # the loop must outlive any one bad tick
                log.error("decision loop: %s: %s", type(e).__name__, brief(e), exc_info=True)
            if began >= next_advice:
                try:
                    self.metrics.recommendations(refresh=True)
                except Exception as e:
                    log.error("recommendations: %s: %s", type(e).__name__, brief(e))
                next_advice = began + ADVICE_EVERY_S
            self.stop.wait(max(0.0, self.cfg.interval - (time.monotonic() - began)))

    def start(self, loop: bool = True) -> None:
        import uvicorn

        from gpufleet.hook.grpc_auth import Authenticate, server_credentials
        from gpufleet.hook.grpc_scaler import GrpcServer, Scaler

        lst = self.cfg.listen
        creds = server_credentials(lst)
        if creds is None and lst.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("gRPC without TLS on a non-loopback address: the bearer token travels in clear")
        self._auth = Authenticate(self.token, mtls=lst.client_ca is not None, names=lst.client_names)
        scaler = Scaler(
            self.engine, max_streams=lst.max_streams, call_timeout_s=lst.call_timeout_s, missing=self._rediscover.set
        )
        scaler.observe = self.metrics.observe
        self._grpc = GrpcServer(scaler, lst.host, lst.grpc_port, credentials=creds, interceptors=[self._auth])
        self.grpc_port = self._grpc.start()
        app = make_app(
            self.engine,
            self.token,
            max_body=lst.max_body_bytes,
            metrics=self.metrics,
            what_if=lambda rt, body: what_if(self.engine, rt, body, self.clock()),
            open_metrics=self.cfg.auth.open_metrics,
            refused=self._http_refused,
        )
        ucfg = uvicorn.Config(
            app,
            host=lst.host,
            port=lst.http_port,
            log_level="warning",
            log_config=None,  # uvicorn's loggers propagate to ours (one format, JSON in a pod), not its own handlers
            access_log=False,
            ssl_certfile=str(lst.tls_cert) if lst.tls_cert else None,
            ssl_keyfile=str(lst.tls_key) if lst.tls_key else None,
            limit_concurrency=512,
            h11_max_incomplete_event_size=16 * 1024,  # request line + headers: bounded before the guard runs
        )
        self._uvicorn = uvicorn.Server(ucfg)
        self._uvicorn.install_signal_handlers = lambda: None  # ours handle them
        t = threading.Thread(target=self._uvicorn.run, daemon=True, name="http")
        t.start()
        self._threads.append(t)
        deadline = time.time() + 30
        while not self._uvicorn.started:
            if not t.is_alive() or time.time() > deadline:
                raise GpufleetError(f"HTTP: cannot listen on {lst.host}:{lst.http_port}")
            time.sleep(0.02)
        self.http_port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        if loop:
            lt = threading.Thread(target=self._loop, daemon=True, name="decisions")
            lt.start()
            self._threads.append(lt)

    def close(self) -> None:
        self.stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._grpc is not None:
            self._grpc.stop()
        for t in self._threads:
            t.join(timeout=10)

    def stragglers(self) -> list[str]:
        """Names of the hook's threads still running after `close` (none after a clean stop)."""
        left = [t.name for t in self._threads if t.is_alive()]
        return left + (["grpc"] if self._grpc is not None and self._grpc.running else [])
