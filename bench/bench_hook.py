"""The live hook under load and faults (issue #8, point 8), all real processes on loopback:

- a replay of the azure-llm:conv serving simulation, served live as vLLM and gateway metrics (prometheus-client)
  and scraped every second by a real Prometheus;
- `gpufleet hook serve` as its own process, deciding every 5 s;
- load: 500 requests/s for 60 s, half gRPC GetMetrics (a real gRPC client), half HTTP decision reads (httpx),
  paced open-loop from 8 threads; p50/p99 latency and errors;
- Prometheus stopped: answers keep coming and fall back to the last good decision, /readyz says degraded;
- `kill -9` and restart: the first answer after the restart is the decision recorded before the kill.

    python bench/bench_hook.py [--seconds 60] [--rate 500]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TOKEN = "bench-token"
GRPC_AUTH = (("authorization", f"Bearer {TOKEN}"),)  # the scaler refuses calls without it
NAME = "conv"


class LiveReplay:
    """The simulator's per-second demand served as live metrics: second k after start shows replay second k."""

    def __init__(self, per_second, requests) -> None:  # type: ignore[no-untyped-def]
        self.conc = per_second["concurrency"].to_numpy()
        self.cum = np.concatenate([[0.0], np.cumsum(per_second["arrivals"].to_numpy())])
        a = requests["arrival"].to_numpy()
        order = np.argsort(a)
        self.a, self.svc = a[order], np.cumsum(requests["service_s"].to_numpy()[order])
        self.t0 = time.time()

    def collect(self):  # type: ignore[no-untyped-def]
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = int(time.time() - self.t0) % (len(self.conc) - 1)
        lab, vals = ["namespace", "model_name", "pod"], ["llm", NAME, "vllm-conv-0"]
        g = GaugeMetricFamily("vllm:num_requests_running", "running", labels=lab)
        g.add_metric(vals, float(self.conc[s]))
        w = GaugeMetricFamily("vllm:num_requests_waiting", "waiting", labels=lab)
        w.add_metric(vals, 0.0)
        c = CounterMetricFamily("gateway_requests", "arrivals", labels=["namespace", "service"])
        c.add_metric(["llm", NAME], float(self.cum[s]))
        n = int(np.searchsorted(self.a, s, side="right"))
        ssum = GaugeMetricFamily("vllm:request_inference_time_seconds_sum", "sum", labels=lab)
        ssum.add_metric(vals, float(self.svc[n - 1]) if n else 0.0)
        scount = GaugeMetricFamily("vllm:request_inference_time_seconds_count", "count", labels=lab)
        scount.add_metric(vals, float(n))
        yield from (g, w, c, ssum, scount)


def start_hook(cfg: Path, log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    exe = [sys.executable, "-m", "gpufleet.cli", "hook", "serve", "--config", str(cfg)]
    return subprocess.Popen(exe, stdout=subprocess.DEVNULL, stderr=open(log, "a"))


def wait_ready(http: str, deadline_s: float = 90) -> float:
    from gpufleet.testing.net import wait_http

    return wait_http(f"{http}/readyz", timeout_s=deadline_s, what="the hook")


def load(http: str, grpc_addr: str, seconds: float, rate: float, threads: int = 8) -> dict[str, float]:
    """Open-loop load: each thread sends at rate/threads, alternating gRPC and HTTP."""
    import grpc
    import httpx

    from gpufleet.hook.proto import externalscaler_pb2 as pb
    from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc

    lat: dict[str, list[float]] = {"grpc": [], "http": []}
    errors = {"grpc": 0, "http": 0}
    values: list[int] = []
    lock = threading.Lock()
    ref = pb.ScaledObjectRef(name=NAME, namespace="llm")
    req = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=f"gpufleet-llm-{NAME}")

    def worker(k: int) -> None:
        ch = grpc.insecure_channel(grpc_addr)
        stub = pb_grpc.ExternalScalerStub(ch)
        cli = httpx.Client(base_url=http, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        period = threads / rate
        t_next = time.perf_counter() + k * period / threads
        end = time.perf_counter() + seconds
        i = k
        mine: dict[str, list[float]] = {"grpc": [], "http": []}
        errs = {"grpc": 0, "http": 0}
        vals = []
        while t_next < end:
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            kind = "grpc" if i % 2 == 0 else "http"
            t = time.perf_counter()
            try:
                if kind == "grpc":
                    vals.append(stub.GetMetrics(req, timeout=5, metadata=GRPC_AUTH).metricValues[0].metricValue)
                else:
                    r = cli.get(f"/v1/workloads/llm/{NAME}/decision")
                    if r.status_code != 200:
                        raise RuntimeError(r.status_code)
            except Exception:
                errs[kind] += 1
            # from the scheduled send time, not the actual one: waiting behind a slow answer counts (open loop,
            # no coordinated omission)
            mine[kind].append(time.perf_counter() - min(t, t_next))
            t_next += period
            i += 1
        ch.close()
        cli.close()
        with lock:
            for kk in lat:
                lat[kk] += mine[kk]
                errors[kk] += errs[kk]
            values.extend(vals)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    began = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.perf_counter() - began
    allv = lat["grpc"] + lat["http"]
    out = {"requests": len(allv), "achieved_rps": len(allv) / took, "errors": errors["grpc"] + errors["http"]}
    for kind, v in (("all", allv), ("grpc", lat["grpc"]), ("http", lat["http"])):
        if v:
            out[f"{kind}_p50_ms"] = float(np.percentile(v, 50) * 1e3)
            out[f"{kind}_p99_ms"] = float(np.percentile(v, 99) * 1e3)
    out["distinct_values"] = len(set(values))
    out["min_value"] = min(values) if values else 0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=500.0)
    args = ap.parse_args()

    from prometheus_client import CollectorRegistry, start_http_server

    from gpufleet.sim.serving import ServingConfig, simulate_serving
    from gpufleet.testing.prometheus import free_port, have_prometheus
    from gpufleet.traces import load as load_trace

    if not have_prometheus():
        print("bench_hook: Debian package 'prometheus' not installed; skipped")
        return 0
    data = os.environ.get("GPUFLEET_DATA", str(ROOT.parent / "shared" / "traces"))
    res = simulate_serving(load_trace("azure-llm:conv", data).frame, ServingConfig(policy="target-tracking"))
    reg = CollectorRegistry()
    reg.register(LiveReplay(res.per_second, res.requests))
    exp_port = free_port()
    exporter, _ = start_http_server(exp_port, addr="127.0.0.1", registry=reg)
    tmp = Path(tempfile.mkdtemp(prefix="bench-hook-"))
    (tmp / "token").write_text(TOKEN)
    procs: list[subprocess.Popen] = []  # type: ignore[type-arg]
    try:
        return run(args, tmp, exp_port, procs)
    finally:
        for p in procs:  # never leave a hook behind, whatever failed
            if p.poll() is None:
                p.kill()
        exporter.shutdown()


def run(args, tmp: Path, exp_port: int, procs: list) -> int:  # type: ignore[no-untyped-def, type-arg]
    import httpx

    from gpufleet.testing.prometheus import free_port, prometheus_scraping

    http_port, grpc_port = free_port(), free_port()
    http, grpc_addr = f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
    print(f"# bench_hook: {args.rate:g} req/s for {args.seconds:g} s, half gRPC GetMetrics, half HTTP decision reads")
    with prometheus_scraping(tmp, f"127.0.0.1:{exp_port}", interval_s=1.0) as prom_url:
        cfg = tmp / "hook.yaml"
        cfg.write_text(
            f"listen: {{host: 127.0.0.1, http_port: {http_port}, grpc_port: {grpc_port}}}\n"
            f"auth: {{token_file: {tmp / 'token'}}}\nstore: {tmp / 'store'}\ninterval: 5\n"
            f"telemetry: {{url: '{prom_url}', stale_after: 10, timeout: 2}}\nkubernetes: {{enabled: false}}\n"
            f"workloads:\n  - {{namespace: llm, name: {NAME}, policy: target-tracking, history_s: 900,"
            f' arrivals: \'gateway_requests_total{{namespace="llm",service="{NAME}"}}\'}}\n'
        )
        log = tmp / "hook.log"
        proc = start_hook(cfg, log)
        procs.append(proc)
        time.sleep(3)  # a few scrapes first
        ready_s = wait_ready(http)
        print(f"hook ready after {ready_s:.1f} s")
        steady = load(http, grpc_addr, args.seconds, args.rate)
        print("steady  :", {k: round(v, 2) if isinstance(v, float) else v for k, v in steady.items()})
        last_good = httpx.get(
            f"{http}/v1/workloads/llm/{NAME}/decision", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        # Prometheus stopped under the running hook
        for pid in _children_named("prometheus"):
            os.kill(pid, signal.SIGTERM)
        t = time.time()
        degraded_after = None
        while time.time() - t < 60:
            r = httpx.get(f"{http}/readyz", timeout=2)
            if r.json().get("status") == "degraded":  # stays ready (200): it answers with the last good decision
                degraded_after = time.time() - t
                break
            time.sleep(0.5)
        outage = load(http, grpc_addr, 10, args.rate)
        d = httpx.get(f"{http}/v1/workloads/llm/{NAME}/decision", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        print(
            f"outage  : /readyz degraded {degraded_after:.1f} s after Prometheus stopped; decision status"
            f" {d['status']!r}, replicas {d['desired_replicas']} (last good {last_good['desired_replicas']});",
            {k: round(v, 2) if isinstance(v, float) else v for k, v in outage.items()},
        )
        before_kill = d["desired_replicas"]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t = time.time()
        proc = start_hook(cfg, log)
        procs.append(proc)
        import grpc

        from gpufleet.hook.proto import externalscaler_pb2 as pb
        from gpufleet.hook.proto import externalscaler_pb2_grpc as pb_grpc

        first = None
        while time.time() - t < 60:
            try:
                ch = grpc.insecure_channel(grpc_addr)
                stub = pb_grpc.ExternalScalerStub(ch)
                ref = pb.ScaledObjectRef(name=NAME, namespace="llm")
                spec = stub.GetMetricSpec(ref, timeout=2, metadata=GRPC_AUTH).metricSpecs[0]
                v = stub.GetMetrics(
                    pb.GetMetricsRequest(scaledObjectRef=ref), timeout=2, metadata=GRPC_AUTH
                ).metricValues[0]
                first = round(int(v.metricValueFloat * 1000) / int(spec.targetSizeFloat * 1000))
                ch.close()
                break
            except grpc.RpcError:
                time.sleep(0.1)
        print(
            f"restart : kill -9, restarted, first GetMetrics answer after {time.time() - t:.1f} s ="
            f" {first} replicas (recorded before the kill: {before_kill})"
        )
        proc.terminate()
        proc.wait(timeout=20)
    ok = steady["errors"] == 0 and outage["errors"] == 0 and first == before_kill
    print(
        f"RESULT hook load: p50 {steady['all_p50_ms']:.2f} ms, p99 {steady['all_p99_ms']:.2f} ms (goal <= 20),"
        f" {steady['achieved_rps']:.0f} req/s achieved, errors {steady['errors']}; during outage p99"
        f" {outage['all_p99_ms']:.2f} ms, errors {outage['errors']}; restart answers the recorded decision:"
        f" {first == before_kill}"
    )
    return 0 if ok else 1


def _children_named(name: str) -> list[int]:
    """PIDs of this process' children running `name` (the Prometheus the helper started)."""
    out = []
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            comm = (d / "comm").read_text().strip()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and comm == name:
            out.append(int(d.name))
    return out


if __name__ == "__main__":
    sys.exit(main())
