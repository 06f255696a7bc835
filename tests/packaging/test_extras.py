"""The extras (issue #24 point 1): commands/extras.py's table matches pyproject.toml's extras, and a command run
without its extra stops with one line naming it (exit 2), proven in fresh interpreters where an import blocker
makes the extra's libraries missing, as they are in a slim install."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.packaging.project import base_dists, extra_dists

from gpufleet.commands.extras import COMMAND_EXTRA, EXTRA_MODULES, MissingExtraError, extra_for, missing_extra


def module_dists(module: str) -> set[str]:
    """The installed distributions that provide top-level module `module` (the dev environment has them all)."""
    top = module.split(".")[0]
    return {d.lower().replace("_", "-") for d in importlib.metadata.packages_distributions().get(top, [])}


@pytest.mark.parametrize("extra", ["hook", "collector", "sim", "dashboard", "ray"])
def test_the_table_names_what_each_extra_installs(extra: str) -> None:
    """Each module the table checks comes from a distribution of that extra, and each distribution of the
    extra gives a module the table checks: a library added to one side only fails here."""
    dists = extra_dists(extra)
    for module in EXTRA_MODULES[extra]:
        assert module_dists(module) & dists, f"{module} (from {module_dists(module)}) is not in [{extra}]: {dists}"
    covered = set().union(*(module_dists(m) for m in EXTRA_MODULES[extra]))
    assert dists <= covered, f"[{extra}] installs {dists - covered} that the table never checks"


def test_all_is_every_extra_and_the_base_has_no_heavy_library() -> None:
    assert extra_dists("all") == set().union(*(extra_dists(x) for x in ("hook", "collector", "sim", "dashboard")))
    heavy = {"streamlit", "prophet", "lightgbm", "plotly", "pandas", "pyarrow", "fastapi", "grpcio", "kubernetes"}
    assert not base_dists() & heavy


def test_a_missing_module_is_blamed_on_the_commands_own_extra_first() -> None:
    assert extra_for("kubernetes.client", prefer="collector") == "collector"
    assert extra_for("kubernetes", prefer=None) == "hook"  # the first extra listing it
    assert extra_for("plotly.graph_objects", prefer=None) == "sim"
    assert extra_for("streamlit", prefer="hook") == "dashboard"  # the command's extra does not install it
    assert extra_for("google", prefer=None) == "hook"  # protobuf's namespace package
    assert extra_for("not_a_gpufleet_dependency") is None
    e = missing_extra(ModuleNotFoundError("No module named 'plotly'", name="plotly"), "gpufleet report")
    assert isinstance(e, MissingExtraError) and e.exit_code == 2
    assert str(e) == "gpufleet report needs the sim extra: pip install 'gpufleet[sim]'"
    other = ModuleNotFoundError("No module named 'nope'", name="nope")
    assert missing_extra(other, "gpufleet report") is other  # a broken install stays an internal error
    assert set(COMMAND_EXTRA.values()) <= set(EXTRA_MODULES)


# A fresh interpreter where the listed top-level packages cannot be imported (as in an install without them),
# running `gpufleet ARGS`.
BLOCKED = """
import sys
blocked = set(sys.argv[1].split(","))

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
sys.argv = ["gpufleet", *sys.argv[2:]]
from gpufleet.cli import main
main()
"""


def run_without(blocked: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`gpufleet ARGS` in a fresh interpreter with `blocked` missing."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, ",".join(blocked), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.integration  # a fresh interpreter per case
@pytest.mark.parametrize(
    ("blocked", "args", "command", "extra"),
    [
        (["streamlit"], ["dashboard", "--port", "1"], "gpufleet dashboard", "dashboard"),
        (["lightgbm"], ["dashboard", "--port", "1"], "gpufleet dashboard", "dashboard"),  # its pages fit models
        (["fastapi"], ["hook", "serve", "--config", "hook.yaml"], "gpufleet hook serve", "hook"),
        (["kubernetes"], ["hook", "serve", "--config", "hook.yaml"], "gpufleet hook serve", "hook"),
        (["pynvml"], ["exporter", "--port", "0", "--duration", "0.1"], "gpufleet exporter", "collector"),
        (["prometheus_api_client"], ["collect", "run", "--config", "c.yaml"], "gpufleet collect run", "collector"),
        (["plotly"], ["report", "--run", "run", "--out", "r.html"], "gpufleet report", "sim"),  # the module's extra
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_command_without_its_extra_is_one_line_and_exit_2(
    blocked: list[str], args: list[str], command: str, extra: str, tmp_path: Path
) -> None:
    proc = run_without(blocked, *args, cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{command} needs the {extra} extra: pip install 'gpufleet[{extra}]'" in lines[0]
    assert proc.stdout == ""


@pytest.mark.integration  # a fresh interpreter
def test_the_blocker_blocks_only_what_it_names(tmp_path: Path) -> None:
    """The check above can fail: with nothing blocked the same command goes on to its own error."""
    proc = run_without(["nothing"], "collect", "run", "--config", "collector.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "extra" not in proc.stderr and "collector.yaml" in proc.stderr


# what a `gpufleet[hook]` install does not have (tests/packaging/test_slim_install.py checks the real one)
SLIM_LACKS = ["lightgbm", "prophet", "xgboost", "lifelines", "pandas", "pyarrow", "scipy", "plotly", "streamlit"]


@pytest.mark.integration  # a fresh interpreter
def test_a_hook_forecaster_without_its_library_stops_the_start_with_the_extra(tmp_path: Path) -> None:
    """A slim `gpufleet[hook]` has no LightGBM: a workload that forecasts with it is refused once, at the start,
    naming the workload and the extra, instead of holding an `error` decision every round."""
    (tmp_path / "token").write_text("t" * 32 + "\n")
    workload = {"namespace": "llm", "name": "chat", "policy": "predictive", "forecaster": "lightgbm"}
    config = {
        "listen": {"http_port": 0, "grpc_port": 0},
        "auth": {"token_file": str(tmp_path / "token")},
        "store": str(tmp_path / "store"),
        "telemetry": {"url": "http://127.0.0.1:9"},
        "kubernetes": {"enabled": False},
        "workloads": [workload],
    }
    (tmp_path / "hook.yaml").write_text(json.dumps(config))  # YAML is a superset of JSON
    proc = run_without(SLIM_LACKS, "hook", "serve", "--config", "hook.yaml", cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "llm/chat: forecaster 'lightgbm' needs lightgbm" in lines[0]
    assert "gpufleet[hook,sim]" in lines[0]
    # the shipped default (recent-window) needs nothing the hook extra lacks: the same start serves, holding
    # decisions on the unreachable Prometheus, until --duration ends it
    workload["forecaster"] = "recent-window"
    (tmp_path / "hook.yaml").write_text(json.dumps(config))
    proc = run_without(SLIM_LACKS, "hook", "serve", "--config", "hook.yaml", "--duration", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "needs" not in proc.stderr
