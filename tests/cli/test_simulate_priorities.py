"""`gpufleet simulate --priorities FILE`: QSSF keyed by an estimator's per-job figure, as Helios/Lucid read theirs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()


def run(tmp_path: Path, figures: str, scheduler: str = "qssf") -> tuple[int, str]:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("job_id,submit_time,duration,num_gpus,kind\na,0,100,4,train\nb,5,100,4,train\nc,5,100,2,train\n")
    prio = tmp_path / "prio.csv"
    prio.write_text(figures)
    out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    args = ["simulate", "--jobs", str(jobs), "--cluster", "1x8", "--scheduler", scheduler, "--compat", "helios"]
    r = runner.invoke(app, [*args, "--priorities", str(prio), "--out", str(out), "--json"])
    if r.exit_code:
        return r.exit_code, r.output
    starts = pl.read_parquet(out / "jobs.parquet").select("job_id", "start").rows()
    return 0, json.dumps(dict(starts))


def test_the_figures_order_qssf_and_their_loop_orders_new_arrivals_by_gpus(tmp_path: Path) -> None:
    # b (4 GPUs x 1) and c (2 GPUs x 1000) arrive together beside a: their loop orders a queue of new jobs by GPUs,
    # so c starts at 5 and b waits for a (tests/sim/test_compat_helios.py works the same case by hand)
    code, out = run(tmp_path, "job_id,priority\na,1\nb,1\nc,1000\n")
    assert code == 0 and json.loads(out) == {"a": 0.0, "b": 100.0, "c": 5.0}


def test_bad_priority_files_are_one_line_exit_2(tmp_path: Path) -> None:
    code, out = run(tmp_path, "job_id,priority\na,1\nb,1\n")
    assert code == 2 and "no priority for job 'c' (1 jobs without one)" in out
    code, out = run(tmp_path, "job_id,priority\na,1\nb,x\nc,1\n")
    assert code == 2 and "line 3, column 'priority': not a finite number" in out
    code, out = run(tmp_path, "job,priority\na,1\n")
    assert code == 2 and "no 'job_id' column (has: job, priority)" in out
    code, out = run(tmp_path, "job_id,priority\na,1\nb,1\nc,1\n", scheduler="sjf")
    assert code == 2 and "--priorities: only qssf reads them (the scheduler is sjf)" in out
    assert "Traceback" not in out
