"""Bring your own data: canonical and foreign-schema files (with --map), every format, errors that name the
file, line and column; and Slurm sacct exports (hand-written following sacct's documented --parsable2 format:
array and heterogeneous job ids, job steps, CANCELLED/TIMEOUT/OUT_OF_MEMORY/NODE_FAIL/RUNNING/PENDING)."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.errors import GpufleetError
from gpufleet.sim.summary import Summary
from gpufleet.sim.summary import load as load_summary
from gpufleet.traces import load
from gpufleet.traces.userfile import SCHEMA_MAP

SACCT = Path(__file__).parent / "files" / "sacct_example.txt"


def jobs_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(6)],
            "submit_time": [0.0, 10, 20, 30, 40, 50],
            "duration": [600.0, 300, 1200, 60, 90, 3600],
            "num_gpus": [1.0, 2, 8, 1, 4, 8],
            "kind": ["train"] * 6,
        }
    )


def test_canonical_csv_parquet_and_jsonl_give_the_same_jobs(tmp_path: Path) -> None:
    f = jobs_frame()
    f.write_csv(tmp_path / "j.csv")
    with gzip.open(tmp_path / "j.csv.gz", "wb") as g:
        g.write((tmp_path / "j.csv").read_bytes())
    f.write_parquet(tmp_path / "j.parquet")
    f.write_ndjson(tmp_path / "j.jsonl")
    frames = [load(str(tmp_path / n), expect="JOBS").frame for n in ("j.csv", "j.csv.gz", "j.parquet", "j.jsonl")]
    for x in frames:
        assert x.select(f.columns).equals(frames[0].select(f.columns))
    assert frames[0]["duration"].to_list() == f["duration"].to_list()
    # and a command runs on it
    res = CliRunner().invoke(
        app, ["simulate", "--jobs", str(tmp_path / "j.csv"), "--cluster", "2x8:A100", "--out", str(tmp_path / "run")]
    )
    assert res.exit_code == 0, res.output
    assert load_summary((tmp_path / "run" / "summary.json").read_text(), "run", Summary).finished == 6


def test_foreign_schema_with_a_map(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text(
        "JobRef,queued,runtime_ms,gpus,team\n"
        "a,2024-05-01 08:00:00,60000,1,nlp\n"
        "b,2024-05-01 08:00:30,1500,2,vision\n"
        "c,2024-05-01 09:00:00,3600000,8,nlp\n"
    )
    (tmp_path / "map.yaml").write_text(
        "table: JOBS\n"
        "columns: {job_id: JobRef, submit_time: queued, duration: runtime_ms, num_gpus: gpus, group: team}\n"
        "units: {duration: ms}\n"
        "timestamps: {submit_time: {format: '%Y-%m-%d %H:%M:%S'}}\n"
        "constants: {kind: train, gpu_type: A100}\n"
    )
    token = SCHEMA_MAP.set(tmp_path / "map.yaml")
    try:
        tr = load(str(tmp_path / "export.csv"), expect="JOBS")
    finally:
        SCHEMA_MAP.reset(token)
    f = tr.frame
    assert f["submit_time"].to_list() == [0.0, 30.0, 3600.0] and tr.meta.epoch == "2024-05-01T08:00:00+00:00"
    assert f["duration"].to_list() == [60.0, 1.5, 3600.0]
    assert f["group"].to_list() == ["nlp", "vision", "nlp"] and set(f["gpu_type"]) == {"A100"}
    res = CliRunner().invoke(
        app,
        [
            "simulate",
            "--jobs",
            str(tmp_path / "export.csv"),
            "--map",
            str(tmp_path / "map.yaml"),
            "--cluster",
            "2x8:A100",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 0, res.output
    # the "done when": the user's CSV, its map and a tenancy file (VCs, then quotas) as --cluster
    (tmp_path / "vcs.yaml").write_text("nodes: 2x8:A100\nvcs: {nlp: 1, vision: 1}\n")
    (tmp_path / "q.yaml").write_text(
        "nodes: 2x8:A100\nqueues: {nlp: {nominal: 8, cohort: c}, vision: {nominal: 8, cohort: c}}\n"
    )
    for spec, model in (("vcs.yaml", "partitioned"), ("q.yaml", "quota")):
        args = ["simulate", "--jobs", str(tmp_path / "export.csv"), "--map", str(tmp_path / "map.yaml")]
        res = CliRunner().invoke(app, [*args, "--cluster", str(tmp_path / spec), "--out", str(tmp_path / model)])
        assert res.exit_code == 0, res.output
        assert f"{model}: per group" in res.output
        summary = load_summary((tmp_path / model / "summary.json").read_text(), model, Summary)
        assert summary.model == model and {g.group for g in summary.groups or []} == {"nlp", "vision"}


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("job_id,submit_time,duration,num_gpus\nx,0,10,1\ny,5,ten,1\nz,9,30,2\n")
    with pytest.raises(GpufleetError, match=r"bad.csv: line 3, column 'duration': cannot read 'ten'"):
        load(str(p), expect="JOBS")
    tr = load(str(p), expect="JOBS", on_bad_row="skip")
    assert tr.frame.height == 2 and sum(tr.meta.skipped.values()) == 1
    p.write_text("job_id,submitted,num_gpus\nx,0,1\n")
    with pytest.raises(GpufleetError, match=r"missing column 'submit_time'"):
        load(str(p), expect="JOBS")
    (tmp_path / "map.yaml").write_text("units: {duration: fortnights}\n")
    p.write_text("job_id,submit_time,duration,num_gpus\nx,0,1,1\n")
    token = SCHEMA_MAP.set(tmp_path / "map.yaml")
    try:
        with pytest.raises(GpufleetError, match="unknown unit 'fortnights'"):
            load(str(p), expect="JOBS")
    finally:
        SCHEMA_MAP.reset(token)
    res = CliRunner().invoke(
        app, ["simulate", "--jobs", str(tmp_path / "nope.csv"), "--cluster", "1x8:A100", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2 and "nope.csv: file not found" in res.output


def test_slurm_sacct_export() -> None:
    tr = load(f"slurm:{SACCT}")
    f = tr.frame.sort("job_id")
    assert f["job_id"].to_list() == ["1001", "1002_0", "1002_1", "1002_2", "1003+0", "1003+1", "1004", "1005", "1006"]
    assert tr.meta.skipped == {"job steps (accounting detail of their job)": 4}
    by = {r["job_id"]: r for r in f.iter_rows(named=True)}
    assert by["1001"]["num_gpus"] == 8 and by["1001"]["duration"] == 4 * 3600 and by["1001"]["mem_bytes"] == 512 * 2**30
    assert by["1001"]["group"] == "nlp" and by["1001"]["pool"] == "gpu-a100" and by["1001"]["user"] == "alice"
    assert by["1002_1"]["status"] == "timeout" and by["1002_2"]["status"] == "out_of_memory"
    assert by["1002_0"]["gpu_type"] == "v100" and by["1002_0"]["submit_time"] == 3600.0
    assert by["1003+0"]["status"] == "node_fail" and by["1003+1"]["num_gpus"] == 0 and by["1003+1"]["kind"] == "other"
    assert by["1004"]["status"] == "cancelled" and by["1004"]["duration"] == 1200
    assert by["1005"]["status"] == "running" and by["1005"]["duration"] is None
    assert by["1006"]["status"] == "pending" and by["1006"]["duration"] is None
    assert tr.meta.epoch == "2024-03-01T09:00:00+00:00"
    # the path form finds it too, and the CLI shows it
    assert load(str(SACCT)).frame.height == 9
    res = CliRunner().invoke(app, ["traces", "show", f"slurm:{SACCT}", "--json"])
    assert res.exit_code == 0, res.output


def test_slurm_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "s.txt"
    p.write_text(
        "JobID|User|Account|Partition|Submit|Start|End|State|AllocTRES\n12ab|u|a|p|2024-01-01T00:00:00|||PENDING|\n"
    )
    with pytest.raises(GpufleetError, match=r"s.txt: line 2, column 'JobID': cannot read '12ab'"):
        load(f"slurm:{p}")
    p.write_text("JobID|User|Submit\n1|u|2024-01-01T00:00:00\n")
    with pytest.raises(GpufleetError, match=r"line 1: missing column 'Account'"):
        load(f"slurm:{p}")


def test_typed_dates_become_seconds_and_explicit_seconds_keep_long_runs(tmp_path: Path) -> None:
    """A Parquet column of dates in submit_time is seconds since the earliest (as a mapped timestamp is); run
    times over 30 days are refused as likely milliseconds unless --time-unit s says they are seconds."""
    from datetime import datetime

    from gpufleet.traces.userfile import TIME_UNIT

    f = pl.DataFrame(
        {
            "job_id": ["a", "b", "c"],
            "submit_time": [datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 9), datetime(2024, 5, 1, 8, 30)],
            "duration": [60.0, 40 * 86400.0, 50 * 86400.0],  # two jobs of over a month: the median says ms
            "num_gpus": [1.0, 2.0, 4.0],
        }
    )
    f.write_parquet(tmp_path / "d.parquet")
    with pytest.raises(GpufleetError, match=r"d.parquet: column 'duration': the median .* --time-unit ms"):
        load(str(tmp_path / "d.parquet"), expect="JOBS")
    token = TIME_UNIT.set("s")
    try:
        tr = load(str(tmp_path / "d.parquet"), expect="JOBS")
    finally:
        TIME_UNIT.reset(token)
    assert tr.frame["submit_time"].to_list() == [0.0, 3600.0, 1800.0]
    assert tr.meta.epoch == "2024-05-01T08:00:00+00:00"
    assert tr.frame["duration"].to_list() == [60.0, 40 * 86400.0, 50 * 86400.0]
