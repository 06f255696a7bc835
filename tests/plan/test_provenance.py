"""Provenance pieces without the CLI: the commit and dirty flag of a checkout read from .git (with and without
the git binary, packed refs, worktrees), file hashes (streamed, cached while size and mtime stay), the trace
readers' record of what they read, the CDF quantile table, the t-interval over seeds, and the comparison of a
run directory with its rerun."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gpufleet.plan import gitinfo, provenance
from gpufleet.plan.rerun import compare_trees
from gpufleet.plan.rundirs import QUANTILES, quantile_table, save
from gpufleet.plan.seeds import over_seeds, t_interval
from gpufleet.report.rundir import read_summary
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.traces import load
from gpufleet.traces.base import READS

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git not installed: the test makes a repository with it")


def _git(repo: Path, *args: str) -> str:
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t"}
    res = subprocess.run([GIT or "git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return res.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "src" / "pkg").mkdir(parents=True)
    _git(r, "init", "-q")
    (r / "src" / "pkg" / "a.py").write_text("x = 1\n")
    (r / "README").write_text("hello\n")
    os.symlink("README", r / "link")
    _git(r, "add", "-A")
    _git(r, "commit", "-qm", "one")
    return r


@needs_git
def test_commit_and_dirty_match_git_with_and_without_the_git_binary(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = repo / "src" / "pkg"
    d = gitinfo.describe(pkg)
    assert d["commit"] == _git(repo, "rev-parse", "HEAD") and d["checkout"] == str(repo)
    assert d["dirty"] is False and d["dirty_from"] == "git status"
    gd = repo / ".git"
    assert gitinfo._index_dirty(repo, gd) is False
    # touched without a change: same content (the blob hash decides), still clean
    st = (pkg / "a.py").stat()
    os.utime(pkg / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert gitinfo._index_dirty(repo, gd) is False
    (pkg / "a.py").write_text("x = 2\n")  # same size, other content
    assert gitinfo.describe(pkg)["dirty"] is True
    monkeypatch.setattr(gitinfo.shutil, "which", lambda _: None)  # no git on PATH: the index answers
    d = gitinfo.describe(pkg)
    assert d["dirty"] is True and d["dirty_from"].startswith("index")
    (pkg / "a.py").write_text("x = 1\n")
    assert gitinfo.describe(pkg)["dirty"] is False
    (repo / "README").unlink()
    assert gitinfo.describe(pkg)["dirty"] is True


@needs_git
def test_packed_refs_detached_head_and_a_worktree(repo: Path, tmp_path: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")
    branch = _git(repo, "symbolic-ref", "--short", "HEAD")
    assert not (repo / ".git" / "refs" / "heads" / branch).exists()  # only in packed-refs now
    assert gitinfo.head_commit(repo / ".git") == (head, branch)
    wt = tmp_path / "wt"
    _git(repo, "worktree", "add", "-q", str(wt))
    d = gitinfo.describe(wt)
    assert d["commit"] == head and d["checkout"] == str(wt) and d["branch"] == "wt"
    _git(repo, "checkout", "-q", "--detach")
    assert gitinfo.head_commit(repo / ".git") == (head, None)


def test_no_checkout_under_site_packages_and_nothing_raises_on_a_broken_git(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "site-packages" / "gpufleet"
    site.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # a checkout above the venv is not where an installed wheel came from
    assert gitinfo.find_checkout(site) is None
    assert gitinfo.describe(site) == dict.fromkeys(("checkout", "commit", "branch", "dirty", "dirty_from"))
    (tmp_path / "plain").mkdir()
    empty = gitinfo.describe(tmp_path / "plain")  # finds tmp_path/.git, which holds no HEAD and no index
    assert empty["checkout"] == str(tmp_path) and empty["commit"] is None


@needs_git
def test_this_checkout_is_the_one_gpufleet_runs_from() -> None:
    import gpufleet

    env = provenance.environment()
    root = Path(gpufleet.__file__).resolve().parents[2]
    assert env["gpufleet"]["checkout"] == str(root)
    assert env["gpufleet"]["commit"] == _git(root, "rev-parse", "HEAD")
    from importlib.metadata import version

    assert env["packages"]["polars"] == version("polars") and env["packages"]["numpy"] == version("numpy")
    assert "pytest" not in env["packages"]  # the dev tools are not the run's environment


def test_sha256_is_hashlibs_and_follows_a_change(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(b"a,b\n1,2\n")
    assert provenance.sha256_file(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    f.write_bytes(b"a,b\n1,2\n3,4\n")
    assert provenance.sha256_file(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20 + 7))  # streamed in chunks
    assert provenance.sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_the_readers_record_the_files_they_open(tmp_path: Path) -> None:
    user = tmp_path / "mine.csv"
    user.write_text("job_id,submit_time,duration,num_gpus\n1,0,60,1\n2,5,60,2\n")
    token = READS.set([])
    try:
        load("synthetic:jobs", n_jobs=50)
        load(str(user), expect="JOBS")
        seen = READS.get()
    finally:
        READS.reset(token)
    assert seen is not None and [r.ref for r in seen] == ["synthetic:jobs", str(user)]
    assert seen[0].files == [] and seen[0].settings is not None and seen[0].settings["seed"] == 7
    assert seen[0].settings["n_jobs"] == 50 and seen[0].rows == 50
    assert seen[1].files == [user] and seen[1].rows == 2
    entries = provenance.trace_entries(seen, tmp_path)
    assert entries[1]["files"][0]["sha256"] == hashlib.sha256(user.read_bytes()).hexdigest()
    assert entries[1]["files"][0]["data_path"] == "mine.csv"
    load("synthetic:jobs", n_jobs=10)  # outside a command: nothing is recorded, nothing fails
    assert READS.get() is None


def test_cdf_csv_quantiles_are_the_summarys(tmp_path: Path) -> None:
    jobs = load("synthetic:jobs", n_jobs=300, days=1).frame
    res = simulate(jobs, parse_spec("4x8:A100"), SimConfig(scheduler="sjf"))
    save(res, tmp_path / "run", {})
    cdf = pl.read_csv(tmp_path / "run" / "cdf.csv")
    assert cdf.columns == ["quantile", "jct_s", "wait_s"] and cdf["quantile"].to_list() == QUANTILES
    at = dict(zip(cdf["quantile"].to_list(), cdf.iter_rows(named=True), strict=True))
    s = read_summary(tmp_path / "run")
    assert at[0.95]["jct_s"] == pytest.approx(s["p95_jct_s"], rel=1e-12)
    assert at[0.95]["wait_s"] == pytest.approx(s["p95_wait_s"], rel=1e-12)
    done = res.jobs.filter(pl.col("status") == "finished")
    assert at[1.0]["jct_s"] == done["jct"].max() and at[0.0]["wait_s"] == done["wait"].min()
    assert cdf["jct_s"].is_sorted()
    empty = quantile_table(res.jobs.head(0))
    assert empty.height == len(QUANTILES) and empty["jct_s"].null_count() == len(QUANTILES)


def test_t_interval_is_students() -> None:
    from scipy import stats

    values = [81.2, 84.0, 79.5, 88.1, 83.3]
    mean, lo, hi = t_interval(values)
    want = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values)) and (lo, hi) == pytest.approx(want)
    assert t_interval([5.0])[1:] == (None, None) and math.isnan(t_interval([])[0])
    runs = pl.DataFrame({"policy": ["a"] * 5 + ["b"], "v": [*values, 1.0]})
    table = over_seeds(runs, ["policy"], "v")
    assert table["policy"].to_list() == ["a", "b"] and table["n"].to_list() == [5, 1]
    assert table.row(0, named=True)["low"] == pytest.approx(want[0]) and table.row(1, named=True)["low"] is None


def test_compare_trees_names_each_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "provenance.json").write_text(json.dumps({"created_utc": str(d)}))  # never compared
        (d / "timing.json").write_text(json.dumps({"summary.json": {"wall_s": len(str(d))}}))
        pl.DataFrame({"x": [1.0, 2.0, float("nan")], "y": ["p", "q", None]}).write_parquet(d / "sub" / "t.parquet")
    (a / "summary.json").write_text(json.dumps({"p95": 1.0, "jobs": 3}))
    (b / "summary.json").write_text(json.dumps({"p95": 1.5, "jobs": 3}))
    (a / "config.yaml").write_text("scheduler: fifo\n")
    (b / "config.yaml").write_text("scheduler: fifo  # same value\n")
    pl.DataFrame({"x": [1.0, 2.5, float("nan")], "y": ["p", "q", None]}).write_parquet(b / "sub" / "t.parquet")
    (a / "only.csv").write_text("q\n1\n")
    compared, diffs = compare_trees(a, b)
    assert compared == ["config.yaml", "only.csv", "sub/t.parquet", "summary.json"]
    why = {d.file: d.reason for d in diffs}
    assert why == {
        "config.yaml": "same values, other bytes (formatting)",
        "only.csv": "missing from the rerun",
        "sub/t.parquet": "column 'x' differs in 1 rows (first: row 1)",
        "summary.json": "values differ at p95",
    }
    assert compare_trees(a / "sub", a / "sub") == (["t.parquet"], [])
