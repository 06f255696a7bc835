"""Corrupted copies of a real trace: one clear line naming file/line/column, exit code 2, nothing lost silently.

Bad files of one's own, bad options and bad map/config files of every command are one table in
tests/cli/test_bad_input_table.py (these cases need the real traces; that table does not)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app

pytestmark = pytest.mark.traces
runner = CliRunner()
ITP = "microsoft-itp-elasticflow"
FILE = "itp_cluster04.csv.gz"


def _lines(data_dir: Path) -> list[str]:
    return gzip.decompress((data_dir / ITP / FILE).read_bytes()).decode().splitlines()


def _fake_root(tmp_path: Path, content: bytes, *, raw: bool = False) -> Path:
    (tmp_path / ITP).mkdir(parents=True)
    (tmp_path / ITP / FILE).write_bytes(content if raw else gzip.compress(content))
    return tmp_path


def _show(root: Path, *extra: str, ref: str = "itp:cluster04"):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--data-dir", str(root), "traces", "show", ref, "--json", *extra])


def _one_line_error(result, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    msg = result.stderr.strip()
    assert msg.count("\n") == 0 and "Traceback" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_missing_column(data_dir: Path, tmp_path: Path) -> None:
    lines = [",".join(line.split(",")[:3]) for line in _lines(data_dir)]  # drop num_gpu
    r = _show(_fake_root(tmp_path, "\n".join(lines).encode()))
    _one_line_error(r, FILE, "missing column 'num_gpu'")


def test_garbage_row_names_line_and_column_and_skip_counts_it(data_dir: Path, tmp_path: Path) -> None:
    lines = _lines(data_dir)
    lines.insert(101, "deadbeef,not-a-time,12,1")  # becomes line 102 of the file
    lines.insert(5001, "cafebabe,7,oops,2")
    root = _fake_root(tmp_path, "\n".join(lines).encode())
    _one_line_error(_show(root), FILE, "line 102", "'submission_time'", "'not-a-time'")
    ok = _show(root, "--skip-bad-rows")
    assert ok.exit_code == 0, ok.output
    meta = json.loads(ok.stdout)["meta"]
    assert meta["rows"] == 15802  # the two garbage rows are gone, every real row is kept
    assert sum(meta["skipped"].values()) == 2
    assert meta["skipped"] == {f"{FILE}: bad submission_time": 1, f"{FILE}: bad duration": 1}


def test_ragged_row(data_dir: Path, tmp_path: Path) -> None:
    lines = _lines(data_dir)
    lines.insert(10, "a,1,2,3,4,5")
    _one_line_error(_show(_fake_root(tmp_path, "\n".join(lines).encode())), FILE, "line 11")


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    _one_line_error(_show(_fake_root(tmp_path / "a", b"", raw=True)), FILE, "empty")
    _one_line_error(
        _show(_fake_root(tmp_path / "b", b"job_id,submission_time,duration,num_gpu\n")), FILE, "no data rows"
    )


def test_truncated_gzip(data_dir: Path, tmp_path: Path) -> None:
    blob = (data_dir / ITP / FILE).read_bytes()
    _one_line_error(_show(_fake_root(tmp_path, blob[: len(blob) // 2], raw=True)), FILE, "truncated")


def test_milliseconds_instead_of_seconds(data_dir: Path, tmp_path: Path) -> None:
    lines = _lines(data_dir)
    out = [lines[0]]
    for line in lines[1:]:
        job, sub, dur, gpus = line.split(",")
        out.append(f"{job},{sub},{int(dur) * 1000},{gpus}")
    _one_line_error(_show(_fake_root(tmp_path, "\n".join(out).encode())), FILE, "'duration'", "milliseconds")


def test_negative_duration_reaches_validation(data_dir: Path, tmp_path: Path) -> None:
    lines = _lines(data_dir)
    job, sub, _, gpus = lines[7].split(",")
    lines[7] = f"{job},{sub},-5,{gpus}"
    _one_line_error(_show(_fake_root(tmp_path, "\n".join(lines).encode())), "JOBS.duration", "negative", "6=-5.0")


@pytest.mark.parametrize(
    ("ref", "needle"), [("itp:cluster99", "no part 'cluster99'"), ("nope", "unknown dataset 'nope'")]
)
def test_unknown_reference_lists_valid(data_dir: Path, ref: str, needle: str) -> None:
    msg = _one_line_error(_show(data_dir, ref=ref), needle)
    assert "valid:" in msg


def test_missing_data_dir(tmp_path: Path) -> None:
    _one_line_error(_show(tmp_path / "nowhere"), "does not exist")


@pytest.mark.integration  # runs the console script
def test_real_command_prints_no_traceback(data_dir: Path, tmp_path: Path) -> None:
    blob = (data_dir / ITP / FILE).read_bytes()
    root = _fake_root(tmp_path, blob[:1000], raw=True)
    exe = Path(sys.executable).with_name("gpufleet")
    p = subprocess.run(
        [str(exe), "--data-dir", str(root), "traces", "show", "itp:cluster04"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error:") and FILE in p.stderr
    dbg = subprocess.run(
        [str(exe), "--debug", "--data-dir", str(root), "traces", "show", "itp:cluster04"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dbg.returncode != 0 and "Traceback" in dbg.stderr
