"""Plugins (issue #22 point 3): the example package in examples/ is installed into a folder of its own (the shared
.venv is never touched: other tests run beside this one) and found through its entry points when that folder is
on PYTHONPATH; `gpufleet simulate` runs its scheduler and placer, `gpufleet policies` lists them with their
origin, and the contract suites pass on them. A broken plugin is reported by name and breaks nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from gpufleet.sim.summary import Summary, load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gpufleet-example-plugin"
DIST = "gpufleet-example-plugin"
JOBS = ["--jobs", "synthetic:jobs", "-p", "n_jobs=200", "-p", "constrained_rate=0", "--cluster", "4x8"]

pytestmark = pytest.mark.integration  # installs a package and runs the console script


def install(src: Path, target: Path) -> None:
    """`uv pip install --target`: offline, no build isolation (setuptools from the venv), no dependencies.
    Built from a copy, so concurrent runs never write build files into the source tree."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (make setup installs it)")
    copy = target.parent / f"src-{src.name}"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    cmd = [uv, "pip", "install", "--offline", "-q", "--python", sys.executable, "--no-deps", "--no-build-isolation"]
    proc = subprocess.run([*cmd, "--target", str(target), str(copy)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def gpufleet(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter that sees the plugins installed under `site`."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "gpufleet.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"PYTHONPATH": path, "COLUMNS": "80"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin") / "site"
    install(EXAMPLE, target)
    return target


def test_policies_lists_the_plugin_members_with_their_origin(site: Path) -> None:
    res = gpufleet(site, "policies", "--json")
    assert res.returncode == 0, res.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(res.stdout)}
    mine = {k: r for k, r in rows.items() if r["origin"] == DIST}
    assert set(mine) == {("scheduler", "ljf"), ("placer", "last-fit")}
    assert mine["scheduler", "ljf"]["settings"]["properties"]["blocking"]["default"] is False
    assert mine["scheduler", "ljf"]["learned"] is False
    assert rows["scheduler", "fifo"]["origin"] == "gpufleet"  # the built-ins are still there
    table = gpufleet(site, "policies", "--kind", "scheduler")
    assert table.returncode == 0, table.stderr
    assert "ljf" in table.stdout and DIST in table.stdout and "blocking" in table.stdout


def test_simulate_runs_the_plugin_scheduler_and_placer(site: Path, tmp_path: Path) -> None:
    runs = {}
    for sched, placer in (("ljf", "last-fit"), ("fifo", "first-fit")):
        out = tmp_path / sched
        res = gpufleet(site, "simulate", "--scheduler", sched, "--placement", placer, *JOBS, "--out", str(out))
        assert res.returncode == 0, res.stderr
        summary = load((out / "summary.json").read_text(), out, Summary)
        assert (summary.scheduler, summary.placement) == (sched, placer)
        assert summary.finished == 200
        runs[sched] = pl.read_parquet(out / "jobs.parquet").sort("submit", "job_id", maintain_order=True)
    # fifo never starts a later submission first; ljf must, on this loaded cluster: a larger job overtakes
    fifo, ljf = runs["fifo"], runs["ljf"]
    assert (fifo["start"].diff().drop_nulls() >= 0).all()
    overtakes = ljf.join(ljf, how="cross").filter(
        (pl.col("submit") < pl.col("submit_right"))
        & (pl.col("start") > pl.col("start_right"))
        & (pl.col("num_gpus") < pl.col("num_gpus_right"))
    )
    assert overtakes.height > 0, "ljf never let a larger job overtake a smaller earlier one"
    # last-fit: the first job of the run goes on the last node, where first-fit puts it on the first
    assert ljf.sort("start")["nodes"][0] == max(fifo["nodes"].str.split(",").explode().unique().to_list())
    assert fifo.sort("start")["nodes"][0] == min(fifo["nodes"].str.split(",").explode().unique().to_list())


def test_contract_suites_pass_on_the_plugin_members(site: Path) -> None:
    """The scheduler and placer contract modules, collected with the plugin installed, cover its members."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "tests/contract/test_scheduler_contract.py",
            "tests/contract/test_placer_contract.py",
            "-k",
            "ljf or last-fit",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"PYTHONPATH": path},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tail = proc.stdout.strip().splitlines()[-1]
    assert " passed" in tail and "failed" not in tail and "error" not in tail, tail
    assert int(tail.split(" passed")[0].split()[-1]) >= 4  # recipe + behaviour, for each of the two members


BROKEN = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "gpufleet-broken-plugin"
version = "0.0.1"

[project.entry-points."gpufleet.schedulers"]
broken = "gpufleet_broken_plugin:Scheduler"

[tool.setuptools]
py-modules = ["gpufleet_broken_plugin"]
"""


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("broken") / "gpufleet-broken-plugin"
    src.mkdir()
    (src / "pyproject.toml").write_text(BROKEN)
    (src / "gpufleet_broken_plugin.py").write_text('raise RuntimeError("this plugin is broken on purpose")\n')
    target = src.parent / "site"
    install(src, target)
    return target


def test_a_broken_plugin_breaks_nothing_else(broken_site: Path, tmp_path: Path) -> None:
    ok = gpufleet(broken_site, "simulate", "--scheduler", "fifo", *JOBS, "--out", str(tmp_path / "fifo"))
    assert ok.returncode == 0, ok.stderr
    bad = gpufleet(broken_site, "simulate", "--scheduler", "broken", *JOBS, "--out", str(tmp_path / "broken"))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr
    assert "'broken'" in lines[0] and "gpufleet-broken-plugin" in lines[0]
    assert "RuntimeError: this plugin is broken on purpose" in lines[0]
    assert "Traceback" not in bad.stderr and not (tmp_path / "broken").exists()
    listed = gpufleet(broken_site, "policies", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "fifo" in {r["name"] for r in json.loads(listed.stdout)}
    assert "broken" in listed.stderr and "this plugin is broken on purpose" in listed.stderr
