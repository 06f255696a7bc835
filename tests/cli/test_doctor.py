"""`gpufleet doctor --config hook.yaml [--kubeconfig PATH [--as USER]]` (#24 point 9) with real parts: a real
Prometheus scraping a live vLLM-like exporter (and one whose series lack `model_name`), and kmock's Kubernetes
emulator answering SelfSubjectAccessReviews from a small rule set per user. The series and the access checked
come from the hook's own declarations (telemetry.series, kube.ACCESS), so the test asserts on those too."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.collector.prom import free_port, need_prometheus, prometheus_scraping
from tests.hook.live import TOKEN, Exporter, wait_for
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.hook.config import WorkloadConfig
from gpufleet.hook.kube import ACCESS
from gpufleet.hook.telemetry import series

pytestmark = pytest.mark.integration
SA = "system:serviceaccount:gpufleet:gpufleet-hook"
WAITING = '{__name__=~"vllm:num_requests_waiting|vllm_num_requests_waiting"}'  # OpenMetrics scrapes escape the colon


def _has_series(url: str, query: str) -> bool:
    import httpx

    r = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()
    return bool(r["data"]["result"])


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus scraping a vLLM-like exporter every second: llm/chat, two pods."""
    need_prometheus()
    root = tmp_path_factory.mktemp("doctor")
    exp = Exporter("llm", "chat")
    exp.pods = {"chat-0": 3.0, "chat-1": 2.0}
    try:
        with prometheus_scraping(root, f"127.0.0.1:{exp.port}", 1.0) as url:
            wait_for(lambda: _has_series(url, WAITING), 60, "the first scrape")
            yield url
    finally:
        exp.stop()


def hook_yaml(tmp_path: Path, url: str, workloads: list[dict[str, Any]], **extra: Any) -> Path:
    (tmp_path / "token").write_text(TOKEN)
    body = {
        "auth": {"token_file": str(tmp_path / "token")},
        "telemetry": {"url": url, "timeout": 5},
        "workloads": workloads,
        **extra,
    }
    p = tmp_path / "hook.yaml"
    p.write_text(json.dumps(body))
    return p


def doctor(*args: str) -> tuple[int, list[str]]:
    res = CliRunner().invoke(app, ["doctor", *args])
    return res.exit_code, (res.stdout + res.stderr).splitlines()


def line(lines: list[str], start: str) -> str:
    found = [x for x in lines if x.startswith(start)]
    assert found, (start, lines)
    return found[0]


CHAT = {"namespace": "llm", "name": "chat", "policy": "target-tracking"}


def test_all_series_present_passes(prom: str, tmp_path: Path) -> None:
    code, lines = doctor("--config", str(hook_yaml(tmp_path, prom, [CHAT])))
    assert code == 0, lines
    assert line(lines, "✓ config").endswith("valid (1 workload(s) declared, interval 15 s)")
    assert line(lines, "✓ auth token")
    assert line(lines, "✓ prometheus")
    for m in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
        assert "present with namespace, model_name, pod" in line(lines, f"✓ metric {m}")
        assert "newest sample" in line(lines, f"✓ llm/chat {m}")
    # target tracking does not forecast: without the arrivals counter it still decides (a warning)
    assert "no series (arrivals)" in line(lines, "! metric vllm:request_success_total")
    assert line(lines, "- rbac").startswith("- rbac: give --kubeconfig")
    assert lines[-1] == "all checks passed"
    # the metrics checked are the series the decision loop reads, no more, no fewer
    checked = {x.split()[2].rstrip(":") for x in lines if x[2:].startswith("metric ")}
    assert checked == {s.metric for s in series(WorkloadConfig.model_validate(CHAT))}


def test_a_missing_metric_or_workload_fails_naming_it(prom: str, tmp_path: Path) -> None:
    predictive = {"namespace": "llm", "name": "chat", "policy": "predictive"}  # forecasts: needs the arrivals
    typo = {"namespace": "llm", "name": "chta", "policy": "target-tracking"}  # vLLM knows no model 'chta'
    code, lines = doctor("--config", str(hook_yaml(tmp_path, prom, [predictive, typo])))
    assert code == 1, lines
    assert "no series (arrivals)" in line(lines, "✗ metric vllm:request_success_total")
    bad = line(lines, "✗ llm/chta vllm:num_requests_running")
    assert 'model_name="chta"' in bad and "set workloads[].model to vLLM's model_name" in bad
    assert line(lines, "✓ llm/chat vllm:num_requests_running")
    assert lines[-1].endswith("check(s) failed")
    code, out = doctor("--config", str(hook_yaml(tmp_path, prom, [predictive, typo])), "--json")
    body = json.loads("\n".join(out))
    assert code == 1 and body["ok"] is False and body["failed"] == sum(c["status"] == "fail" for c in body["checks"])


def test_series_without_the_selected_label_fail(tmp_path: Path) -> None:
    """An exporter whose series carry no model_name (a scrape that drops it): the hook would select nothing."""
    need_prometheus()
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    reg = CollectorRegistry()
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
        Gauge(name, "requests", ["namespace", "pod"], registry=reg).labels("llm", "chat-0").set(1)
    port = free_port()
    server, thread = start_http_server(port, "127.0.0.1", reg)
    try:
        with prometheus_scraping(tmp_path, f"127.0.0.1:{port}", 1.0) as url:
            wait_for(lambda: _has_series(url, WAITING), 60, "the first scrape")
            code, lines = doctor("--config", str(hook_yaml(tmp_path, url, [CHAT])))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert code == 1, lines
    assert "series lack label(s) model_name" in line(lines, "✗ metric vllm:num_requests_running")


def test_unreachable_prometheus_fails_and_skips_the_series(tmp_path: Path) -> None:
    code, lines = doctor("--config", str(hook_yaml(tmp_path, f"http://127.0.0.1:{free_port()}", [CHAT])))
    assert code == 1, lines
    assert "not reachable" in line(lines, "✗ prometheus") and line(lines, "- metrics")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, lines = doctor("--config", str(tmp_path / "nope.yaml"))
    assert code == 2 and len(lines) == 1 and "nope.yaml" in lines[0], lines
    bad = hook_yaml(tmp_path, "http://127.0.0.1:9", [{**CHAT, "policy": "magic"}])
    code, lines = doctor("--config", str(bad))
    assert code == 2 and len(lines) == 1 and "workloads.0.policy" in lines[0] and "magic" in lines[0], lines
    good = hook_yaml(tmp_path, "http://127.0.0.1:9", [CHAT])
    code, lines = doctor("--config", str(good), "--kubeconfig", str(tmp_path / "kubeconfig"))
    assert code == 2 and len(lines) == 1 and "--kubeconfig" in lines[0], lines


# -- RBAC: SelfSubjectAccessReviews answered by the emulator from a rule set per user -----------------------------
Rule = tuple[str, str, str]  # (verb, group, resource[/subresource]), cluster-wide (a ClusterRole's rule)


@contextmanager
def ssar_emulator(rules: dict[str, set[Rule]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """kmock's emulator answering POST .../selfsubjectaccessreviews for the user in Impersonate-User (default
    'admin', the kubeconfig's), from `rules`; yields (URL, the reviews asked)."""
    import aiohttp.web
    import kmock

    asked: list[dict[str, Any]] = []

    class Authorizing(kmock.KubernetesEmulator):  # type: ignore[misc]
        async def _handle(self, request: Any) -> Any:
            if str(request.url.path).endswith("/selfsubjectaccessreviews"):
                spec = json.loads(request.body)["spec"]
                ra = spec["resourceAttributes"]
                user = request.headers.get("Impersonate-User", "admin")
                asked.append({"user": user, **ra})
                res = ra["resource"] + (f"/{ra['subresource']}" if ra.get("subresource") else "")
                ok = (ra["verb"], ra.get("group", ""), res) in rules.get(user, set())
                status = {"allowed": ok, "reason": "" if ok else f"no rule lets {user} {ra['verb']} {res}"}
                return aiohttp.web.json_response(
                    {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
                    | {"status": status}
                )
            return await super()._handle(request)

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        box["stop"] = asyncio.Event()
        async with Authorizing() as k, kmock.Server(k) as srv:
            box["url"] = str(srv.url).rstrip("/")
            ready.set()
            await box["stop"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20), "the emulator did not start"
    try:
        yield box["url"], asked
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
        loop.close()


def kubeconfig(path: Path, url: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emu", "cluster": {"server": url}}],
                "users": [{"name": "admin", "user": {"token": "admin-token"}}],
                "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "admin"}}],
                "current-context": "emu",
            }
        )
    )
    return path


def granted(apply: bool) -> set[Rule]:
    """What deploy/'s hook RBAC grants, as rules: every read access, and /scale patches in apply mode."""
    return {
        (a.verb, a.group, a.resource + (f"/{a.subresource}" if a.subresource else ""))
        for a in ACCESS
        if apply or not a.apply_only
    }


def test_rbac_is_asked_per_call_and_a_denied_rule_fails_naming_it(prom: str, tmp_path: Path) -> None:
    cfg = hook_yaml(tmp_path, prom, [CHAT])
    reads = granted(apply=False)
    without_pods = reads - {("list", "", "pods")}
    with ssar_emulator({"admin": reads, SA: without_pods}) as (url, asked):
        kc = kubeconfig(tmp_path / "kubeconfig", url)
        code, lines = doctor("--config", str(cfg), "--kubeconfig", str(kc))
        assert code == 0, lines
        rbac = [x for x in lines if x.startswith(("✓ rbac", "✗ rbac"))]
        reviewed = {(r["verb"], r.get("group", ""), r["resource"]) for r in asked}
        assert reviewed == {(a.verb, a.group, a.resource) for a in ACCESS if not a.apply_only}, "every read call"
        assert len(rbac) == len(asked) and all(x.startswith("✓") for x in rbac), rbac
        assert "all namespaces: allowed (discover labelled Deployments)" in line(lines, "✓ rbac list deployments.apps")

        # impersonating the hook's ServiceAccount, which may not list pods: exit 1, the line names the call
        asked.clear()
        code, lines = doctor("--config", str(cfg), "--kubeconfig", str(kc), "--as", SA)
        assert code == 1, lines
        assert {r["user"] for r in asked} == {SA}
        bad = line(lines, "✗ rbac list pods")
        assert "cluster-wide: denied" in bad and "packing advice" in bad and 'resources: ["pods"]' in bad, bad
        assert [x for x in lines if x.startswith("✗")] == [bad], "only the denied call fails"

        # apply mode also needs patch on */scale, asked per workload namespace (and all namespaces: discovery)
        asked.clear()
        apply_cfg = hook_yaml(tmp_path, prom, [CHAT], kubernetes={"apply": True, "namespaces": ["llm"]})
        code, lines = doctor("--config", str(apply_cfg), "--kubeconfig", str(kc))
        assert code == 1, lines
        scale = line(lines, "✗ rbac patch deployments/scale.apps")
        assert "namespace llm: denied" in scale and "apply mode" in scale
        assert {r.get("namespace") for r in asked if r["verb"] == "list" and r["resource"] == "deployments"} == {"llm"}
    with ssar_emulator({"admin": granted(apply=True)}) as (url, _):
        code, lines = doctor("--config", str(apply_cfg), "--kubeconfig", str(kubeconfig(tmp_path / "kc2", url)))
        assert code == 0, lines


def test_unreachable_api_server_is_one_failed_line(prom: str, tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    code, lines = doctor("--config", str(hook_yaml(tmp_path, prom, [CHAT])), "--kubeconfig", str(kc))
    assert code == 1, lines
    assert "SelfSubjectAccessReview failed" in line(lines, "✗ kubernetes")
    assert not any(x.startswith(("✓ rbac", "✗ rbac")) for x in lines), "stops at the first failure"
