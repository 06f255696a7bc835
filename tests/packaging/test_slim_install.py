"""The slim install (issue #24 points 1-2), by the image's own steps without Docker: build the wheel from what the
image build sees, make a fresh environment with tools/image-venv.sh from locks/hook.lock (hash-checked pins,
then gpufleet[hook] from the wheel, offline), and run `gpufleet hook serve` FROM THAT ENVIRONMENT against a real
Prometheus scraping a vLLM-like exporter and kmock's Kubernetes API: /healthz answers and the decision over HTTP
is the HPA's arithmetic (39.2 in flight, 5.6 per replica: 7). The same environment has no Streamlit, Prophet,
LightGBM, pandas or pyarrow, and `gpufleet dashboard` there is one line naming its extra."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.collector.prom import free_port, need_prometheus, prometheus_scraping
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator
from tests.hook.live import TOKEN, Exporter, authed, wait_for
from tests.packaging.project import ROOT

from gpufleet.testing.net import stop_process, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MISSING = ("streamlit", "prophet", "lightgbm", "xgboost", "plotly", "pandas", "pyarrow", "sklearn", "grpc_tools")


def clean_env() -> dict[str, str]:
    """This process's environment without what would let the slim one see the dev tree or the dev venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def run(cmd: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}: {proc.stderr[-3000:]}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def hook_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gpufleet[hook] alone in a fresh environment, made as the image's venv-hook stage makes it."""
    if shutil.which("uv") is None:
        pytest.skip("uv not on PATH (make setup installs it): it builds the wheel and the environment")
    root = tmp_path_factory.mktemp("slim")
    # the build context .dockerignore allows: project metadata and the source, without generated stubs or caches
    project = root / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "hatch_build.py"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*_pb2*.py*"))
    run(["uv", "build", "--quiet", "--wheel", "--out-dir", root / "dist", project], env=clean_env())
    (wheel,) = (root / "dist").glob("gpufleet-*.whl")
    venv = root / "venv"
    python = getattr(sys, "_base_executable", sys.executable)  # the interpreter under the dev venv
    run(
        ["sh", ROOT / "tools" / "image-venv.sh", venv, "hook", wheel, ROOT / "locks" / "hook.lock"],
        env=clean_env() | {"PYTHON": python},
    )
    return venv


@pytest.fixture
def live(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A vLLM-like exporter scraped every second by a real Prometheus, and kmock's Kubernetes API."""
    need_prometheus()
    exp = Exporter("llm", "chat")
    try:
        with prometheus_scraping(tmp_path, f"127.0.0.1:{exp.port}", 1.0) as prom, kube_emulator() as kube:
            yield {"exporter": exp, "prom": prom, "kube": kube}
    finally:
        exp.stop()


def test_hook_serves_decisions_from_the_slim_environment(
    hook_venv: Path, live: dict[str, object], tmp_path: Path
) -> None:
    apps_api(str(live["kube"])).create_namespaced_deployment("llm", deployment("llm", "chat", 3, {}))
    live["exporter"].pods = {"chat-0": 39.2}  # type: ignore[attr-defined]
    (tmp_path / "token").write_text(TOKEN + "\n")
    port = free_port()
    config = tmp_path / "hook.yaml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "listen": {"http_port": port, "grpc_port": 0},
                "auth": {"token_file": str(tmp_path / "token")},
                "store": str(tmp_path / "store"),
                "interval": 1,
                "telemetry": {"url": live["prom"], "stale_after": 120, "timeout": 5},
                "kubernetes": {"host": live["kube"]},
                "workloads": [{"namespace": "llm", "name": "chat", "policy": "target-tracking"}],
            }
        )
    )
    log = tmp_path / "hook.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [hook_venv / "bin" / "gpufleet", "hook", "serve", "--config", config],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,  # not the checkout: nothing of src/ is importable by accident
            env=clean_env(),
        )
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout_s=120, what="the slim hook")
        except RuntimeError as e:
            raise AssertionError(f"{e}: {log.read_text()[-3000:]}") from None
        # the process runs the slim environment's interpreter and libraries, not the dev venv's
        exe = Path(os.readlink(f"/proc/{proc.pid}/exe"))
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert str(hook_venv) in maps, "no library of the slim environment is loaded"
        assert str(ROOT / ".venv") not in maps and exe.name.startswith("python")
        with authed(port) as c:
            decision = wait_for(
                lambda: (
                    (r := c.get("/v1/workloads/llm/chat/decision")).status_code == 200
                    and r.json()["desired_replicas"] == 7
                    and r.json()
                ),
                90,
                "a decision of 7 from the slim hook",
            )
            assert decision["status"] == "ok", decision
            assert c.get("/healthz").status_code == 200
            metrics = c.get("/metrics").text
        assert 'gpufleet_desired_replicas{namespace="llm",workload="chat"} 7.0' in metrics
    finally:
        stop_process(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]


PROBE = """
import importlib, json, sys
missing = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        missing.append(name)
import gpufleet
print(json.dumps({"missing": missing, "gpufleet": gpufleet.__file__}))
"""


def test_the_slim_environment_has_no_ui_model_or_dataframe_library(hook_venv: Path, tmp_path: Path) -> None:
    got = json.loads(run([hook_venv / "bin" / "python", "-c", PROBE, *MISSING], cwd=tmp_path, env=clean_env()).stdout)
    assert got["missing"] == list(MISSING)
    assert got["gpufleet"].startswith(str(hook_venv))  # the wheel's copy, not the checkout's
    # what the probe reports as missing can also be found (the check is not blind), and the hook's what-if and
    # recommendation paths import nothing the hook extra lacks
    present = ("fastapi", "grpc", "kubernetes", "gpufleet.plan.whatif", "gpufleet.optimizer.rightsizing")
    found = json.loads(run([hook_venv / "bin" / "python", "-c", PROBE, *present], env=clean_env()).stdout)
    assert found["missing"] == []


def test_the_dashboard_in_the_slim_environment_names_its_extra(hook_venv: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [hook_venv / "bin" / "gpufleet", "dashboard", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=clean_env(),
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "gpufleet dashboard needs the dashboard extra: pip install 'gpufleet[dashboard]'" in lines[0]
