"""Every run directory carries its provenance.json, and `gpufleet rerun DIR` makes the run again from it: the
input files' hashes checked first (a changed one: one line naming it, exit 2, unless --force), the recorded
options replayed in a fresh process, every output compared byte for byte (0 identical, 1 a file differs,
each named). Small synthetic runs and a file of our own; one test copies a real trace (skipped without it).
The tests that rerun start a fresh interpreter: they are integration tests (make test runs them)."""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gpufleet
from gpufleet.cli import app

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=150", "-p", "days=1"]


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def _jobs_csv(path: Path, scale: float = 1.0) -> Path:
    rows = ["job_id,submit_time,duration,num_gpus,user"]
    rows += [f"j{i},{i * 90},{(600 + 37 * i) * scale:.0f},{1 + i % 4},u{i % 3}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _rerun(*args: str) -> tuple[int, str, dict | None]:
    r = runner.invoke(app, ["rerun", *args])
    try:
        doc = json.loads(r.stdout) if "--json" in args and r.exit_code in (0, 1) else None
    except ValueError:
        doc = None
    return r.exit_code, r.output, doc


def test_simulate_records_its_provenance(tmp_path: Path) -> None:
    jobs = _jobs_csv(tmp_path / "jobs.csv")
    out = tmp_path / "run"
    _ok(
        "simulate", "--jobs", str(jobs), "--cluster", "4x8:A100", "--seed", "3", "--scheduler", "sjf", "--out", str(out)
    )
    p = json.loads((out / "provenance.json").read_text())
    root = Path(gpufleet.__file__).resolve().parents[2]
    if shutil.which("git") and (root / ".git").exists():
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert p["gpufleet"]["commit"] == head.stdout.strip()
        assert isinstance(p["gpufleet"]["dirty"], bool)
    assert p["gpufleet"]["version"] == version("gpufleet") and p["python"]["version"] == platform.python_version()
    assert p["packages"]["polars"] == version("polars") and p["packages"]["numpy"] == version("numpy")
    cmd = p["command"]
    assert cmd["name"] == "simulate" and cmd["options"]["seed"] == 3 and cmd["options"]["scheduler"] == "sjf"
    assert cmd["options"]["preempt_overhead"] == 60.0  # defaults too: the full resolved configuration
    assert cmd["argv"][:3] == ["simulate", "--jobs", str(jobs)] and "--seed" in cmd["argv"]
    assert p["seeds"] == {"run": 3, "generators": {}}
    [trace] = p["traces"]
    assert trace["ref"] == str(jobs) and trace["rows"] == 40
    [f] = trace["files"]
    assert f["path"] == str(jobs.resolve()) and f["sha256"] == hashlib.sha256(jobs.read_bytes()).hexdigest()
    assert f["bytes"] == jobs.stat().st_size
    # what is compared carries no wall time: it is in timing.json
    assert "wall_s" not in json.loads((out / "summary.json").read_text())
    assert "wall_s" in json.loads((out / "timing.json").read_text())["summary.json"]


@pytest.mark.integration  # the rerun runs in a fresh interpreter
def test_rerun_is_identical_then_names_a_changed_trace_and_tampered_files(tmp_path: Path) -> None:
    jobs = _jobs_csv(tmp_path / "jobs.csv")
    out = tmp_path / "run"
    _ok("simulate", "--jobs", str(jobs), "--cluster", "4x8:A100", "--out", str(out))
    code, _, doc = _rerun(str(out), "--json")
    assert code == 0 and doc is not None and doc["identical"] and doc["differ"] == []
    assert set(doc["compared"]) == {"cdf.csv", "config.yaml", "jobs.parquet", "summary.json", "timeline.parquet"}
    # the trace changed: one line naming it, exit 2, nothing rerun
    _jobs_csv(jobs, scale=2.0)
    code, output, _ = _rerun(str(out))
    assert code == 2 and str(jobs.resolve()) in output and "changed since the run" in output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    # --force reruns anyway: the outputs follow the new trace and differ, each named
    code, output, doc = _rerun(str(out), "--force", "--json")
    assert code == 1 and doc is not None and not doc["identical"]
    assert {"summary.json", "jobs.parquet"} <= {d["file"] for d in doc["differ"]}
    _jobs_csv(jobs)
    # a tampered config: the rerun writes the config its options make, and says which values differ
    cfg = out / "config.yaml"
    cfg.write_text(cfg.read_text().replace("scheduler:\n  name: fifo", "scheduler:\n  name: sjf"))
    code, output, _ = _rerun(str(out))
    assert code == 1 and "differs: config.yaml: values differ at scheduler" in output
    assert "1 of 5 files differ" in output


@pytest.mark.integration  # the rerun runs in a fresh interpreter
def test_rerun_follows_the_recorded_options(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _ok("simulate", *SYN, "--cluster", "4x8:A100", "--out", str(out))
    p = out / "provenance.json"
    doc = json.loads(p.read_text())
    doc["command"]["options"]["scheduler"] = "sjf"  # the recorded configuration, not config.yaml, is replayed
    p.write_text(json.dumps(doc))
    code, output, _ = _rerun(str(out), "--out", str(tmp_path / "again"))
    assert code == 1 and "differs: summary.json" in output and "differs: config.yaml" in output
    again = json.loads((tmp_path / "again" / "provenance.json").read_text())
    assert again["command"]["options"]["scheduler"] == "sjf"
    assert "sjf" in (tmp_path / "again" / "config.yaml").read_text()


def test_rerun_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text("{}")
    code, output, _ = _rerun(str(tmp_path / "old"))
    assert code == 2 and "no provenance.json" in output and len(output.strip().splitlines()) == 1
    out = tmp_path / "run"
    _ok("simulate", *SYN, "--cluster", "4x8:A100", "--out", str(out))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    code, output, _ = _rerun(str(out), "--out", str(tmp_path / "busy"))
    assert code == 2 and "not empty" in output
    doc = json.loads((out / "provenance.json").read_text())
    doc["command"]["options"]["no_such_option"] = 1
    (out / "provenance.json").write_text(json.dumps(doc))
    code, output, _ = _rerun(str(out))
    assert code == 2 and "'no_such_option'" in output


@pytest.mark.integration  # the rerun runs in a fresh interpreter
def test_compare_tenancy_pack_experiment_and_autoscale_sim_rerun_identical(tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    _ok("compare", *SYN, "--cluster", "4x8:A100", "--schedulers", "fifo,sjf", "--workers", "1", "--out", str(grid))
    assert (grid / "provenance.json").is_file() and (grid / "sjf__best-fit" / "provenance.json").is_file()
    part = json.loads((grid / "sjf__best-fit" / "provenance.json").read_text())
    assert part["part"] == "sjf__best-fit" and part["command"]["name"] == "compare"
    code, _, doc = _rerun(str(grid / "sjf__best-fit"), "--json")  # one pair: the grid again, that pair compared
    assert code == 0 and doc is not None and "summary.json" in doc["compared"]
    (tmp_path / "t.yaml").write_text("nodes: 4x8:A100\nvcs: {team-00: 2, team-01: 2}\n")
    ten = tmp_path / "ten"
    _ok("tenancy", *SYN, "--cluster", str(tmp_path / "t.yaml"), "--out", str(ten))
    t = json.loads((ten / "provenance.json").read_text())
    assert t["files"][0]["role"] == "--cluster"
    assert t["files"][0]["sha256"] == hashlib.sha256((tmp_path / "t.yaml").read_bytes()).hexdigest()
    assert t["seeds"]["generators"] == {"synthetic:jobs": 7}
    code, _, doc = _rerun(str(ten), "--json")
    assert code == 0 and doc is not None and "tenancy.json" in doc["compared"] and len(doc["compared"]) > 10
    pack = tmp_path / "pack"
    _ok("pack-experiment", "--pods", "synthetic:jobs", "--nodes", "4x8:A100", "--seeds", "1-3",
        "--policies", "best-fit,random", "--out", str(pack))  # fmt: skip
    assert json.loads((pack / "provenance.json").read_text())["seeds"]["run"] == [1, 2, 3]
    assert _rerun(str(pack))[0] == 0
    serve = tmp_path / "serve"
    _ok("autoscale-sim", "--requests", "synthetic:requests", "-p", "hours=2", "--out", str(serve))
    code, _, doc = _rerun(str(serve), "--json")
    assert code == 0 and doc is not None and "requests.parquet" in doc["compared"]
    # the YAML changed since: named, exit 2
    (tmp_path / "t.yaml").write_text("nodes: 4x8:A100\nvcs: {team-00: 1, team-01: 3}\n")
    code, output, _ = _rerun(str(ten))
    assert code == 2 and "t.yaml" in output


@pytest.mark.traces
@pytest.mark.integration  # the rerun runs in a fresh interpreter
def test_a_real_trace_under_the_data_root_is_hashed_and_checked(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "traces"
    shutil.copytree(data_dir / "microsoft-philly", root / "microsoft-philly")
    monkeypatch.setenv("GPUFLEET_DATA", str(root))
    out = tmp_path / "run"
    _ok("simulate", "--jobs", "philly:jobs", "--cluster", "40x8:V100", "--out", str(out))
    [trace] = json.loads((out / "provenance.json").read_text())["traces"]
    [f] = trace["files"]
    csv = root / "microsoft-philly" / "philly_jobs_last15k.csv.gz"
    assert trace["ref"] == "philly:jobs" and f["data_path"] == "microsoft-philly/philly_jobs_last15k.csv.gz"
    assert f["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert _rerun(str(out))[0] == 0
    # the same rows compressed anew: other bytes, so the rerun refuses until --force, which then matches
    csv.chmod(0o644)
    csv.write_bytes(gzip.compress(gzip.decompress(csv.read_bytes()), compresslevel=1, mtime=0))
    code, output, _ = _rerun(str(out))
    assert code == 2 and str(csv) in output and len(output.strip().splitlines()) == 1
    assert _rerun(str(out), "--force")[0] == 0


@pytest.mark.integration  # the rerun runs in a fresh interpreter
@pytest.mark.slow  # the demo twice (about 20 s each)
def test_the_demo_and_each_of_its_runs_carry_provenance_and_rerun_identical(tmp_path: Path) -> None:
    """The demo records its own output folder in config.yaml and the report: the rerun, written elsewhere, is
    compared with that one name put for the other, and every other byte must match."""
    run = tmp_path / "demo"
    _ok("demo", "--out", str(run), "--json")
    parts = sorted(p.parent.relative_to(run).as_posix() for p in run.glob("*/*/provenance.json"))
    assert "sim/fifo__best-fit" in parts and "serving/oracle" in parts and len(parts) >= 10
    record = json.loads((run / "provenance.json").read_text())
    assert record["command"]["name"] == "demo" and record["command"]["options"]["seed"] == 7
    assert json.loads((run / "sim/fifo__best-fit/provenance.json").read_text())["part"] == "sim/fifo__best-fit"
    code, output, doc = _rerun(str(run), "--json")
    assert code == 0, output
    assert doc is not None and doc["identical"] and "config.yaml" in doc["compared"] and len(doc["compared"]) > 50
    # a changed figure is still caught: the folder-name substitution touches nothing else
    summary = run / "sim/fifo__best-fit/summary.json"
    summary.write_text(summary.read_text().replace('"finished": ', '"finished": 1', 1))
    code, output, doc = _rerun(str(run), "--json")
    assert code == 1 and doc is not None and [d["file"] for d in doc["differ"]] == ["sim/fifo__best-fit/summary.json"]
