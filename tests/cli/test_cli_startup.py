"""The CLI's start-up and help (issue #22 point 7): `--help` and `--version` load no heavy library, `--version`
prints the installed version, and the help is whole at 80 columns (no option name cut, no `[...]` eaten)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from gpufleet.cli import app

# Each is a data, model, UI or service library that only the work of a command needs, never its help.
HEAVY = (
    "polars",
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "lightgbm",
    "xgboost",
    "prophet",
    "statsforecast",
    "sklearn",
    "streamlit",
    "plotly",
    "grpc",
    "deltalake",
    "kubernetes",
    "ray",
)

# Runs the real entry point as `gpufleet ARGS...` and prints the modules it loaded, whatever the exit.
PROBE = """
import json, sys
sys.argv = ["gpufleet", *sys.argv[1:]]
from gpufleet.cli import main
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _probe(*args: str) -> tuple[int, set[str], str]:
    """Run `gpufleet ARGS` in a fresh interpreter: exit code, top-level packages loaded, stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"COLUMNS": "80"},
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], {m.split(".")[0] for m in report["modules"]}, proc.stdout


@pytest.mark.integration  # a fresh interpreter per probe
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["traces", "--help"],
        ["collect", "--help"],
        ["store", "--help"],
        ["hook", "--help"],
        ["train", "--help"],
        ["predict", "--help"],
        ["backtest", "--help"],
        ["collect", "prometheus", "--help"],
        ["hook", "serve", "--help"],
    ],
    ids=" ".join,
)
def test_help_and_version_load_no_heavy_library(args: list[str]) -> None:
    code, loaded, stdout = _probe(*args)
    assert code == 0
    assert stdout.strip()
    assert sorted(loaded & set(HEAVY)) == []


# The policy registries' modules need numpy and polars to define their members; no model, UI or service library.
REGISTRIES = {"numpy", "polars"}


@pytest.mark.integration  # a fresh interpreter per probe
@pytest.mark.parametrize(
    ("args", "member"),
    [
        (["simulate", "--help"], "best-fit"),
        (["compare", "--help"], "best-fit"),
        (["pack", "--help"], "best-fit"),
        (["forecast", "--help"], "recent-window"),  # lightgbm and prophet stay unloaded until a fit
        (["backtest", "series", "--help"], "recent-window"),
        (["rightsize", "--help"], "krr-simple"),
        (["autoscale-sim", "--help"], "predictive"),
        (["compare-autoscalers", "--help"], "predictive"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_help_naming_policy_members_loads_only_their_registries(args: list[str], member: str) -> None:
    """Such help reads the members from the registries when it is shown (PolicyHelp): their modules load, and
    nothing heavier (the runtime models' lightgbm and xgboost load when a model is trained or read)."""
    code, loaded, stdout = _probe(*args)
    flat = re.sub(r"-\n\s*", "-", stdout)  # a name wrapped at its hyphen at 80 columns
    assert code == 0 and member in flat and "{policies:" not in stdout  # a member name, read from the registry
    assert sorted(loaded & set(HEAVY) - REGISTRIES) == []


@pytest.mark.integration  # a fresh interpreter
def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: a command that reads a trace does load polars in the same probe."""
    code, loaded, _ = _probe("traces", "list", "--json")
    assert code == 0
    assert "polars" in loaded


@pytest.mark.integration  # runs the console script
def test_version_prints_the_installed_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from gpufleet.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"gpufleet {version('gpufleet')}\n"
    assert proc.stderr == ""


def _commands(cmd: typer.core.TyperGroup | typer.core.TyperCommand, path: list[str]) -> Iterator[tuple]:  # type: ignore[type-arg]
    """Every command of the tree with its path (groups included)."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, [*path, name])


ALL = list(_commands(get_command(app), []))


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) or "gpufleet" for p, _ in ALL])
def test_help_at_80_columns_shows_every_option_whole(path: list[str], cmd: object) -> None:
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    text = res.output
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    names = ["--help", *(o for p in cmd.params for o in (*p.opts, *p.secondary_opts))]  # type: ignore[attr-defined]
    names += list(getattr(cmd, "commands", {}))  # a group lists its commands whole too
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{name} not whole in {path} --help"


@pytest.mark.integration  # a fresh interpreter per probe
@pytest.mark.parametrize(
    "args",
    [["simulate", "--help"], ["compare", "--help"], ["collect", "prometheus", "--help"]],
    ids=" ".join,
)
def test_help_in_a_real_80_column_process(args: list[str]) -> None:
    """Through the console entry point, as a person runs it: the long option names are whole."""
    code, _, text = _probe(*args)
    assert code == 0
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for name in {
        "simulate": ("--preempt-overhead", "--provision-delay", "--multi-node", "--no-multi-node", "--time-unit"),
        "compare": ("--schedulers", "--placements", "--ray", "--workers"),
        "collect": ("--series-step", "--no-resample", "--insecure", "--url"),
    }[args[0]]:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), name


@pytest.mark.integration  # a fresh interpreter
def test_square_brackets_in_help_are_kept() -> None:
    """Help text is not read as markup: `gpufleet[ray]` stays as written."""
    _, _, text = _probe("compare", "--help")
    assert "gpufleet[ray]" in " ".join(text.split())
