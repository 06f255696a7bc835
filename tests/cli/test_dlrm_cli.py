"""A new user's DLRM-style serving export through `--map` alone (#25 points 4 and 5): pack, pack-experiment,
simulate and backtest series read it, keep pods to their pools, say in one note per file which columns they
did not read, and list every pod that failed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from tests.traces.dlrm import DlrmFiles, write_dlrm
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
UNREAD = "instances.csv: columns not read (no JOBS column maps to them): role, cpu_limit, gpu_limit, disk_request"


@pytest.fixture(scope="module")
def dlrm(tmp_path_factory: pytest.TempPathFactory) -> DlrmFiles:
    return write_dlrm(tmp_path_factory.mktemp("dlrm"), pods=300)


def _args(files: DlrmFiles) -> list[str]:
    return ["--pods", str(files.instances), "--nodes", str(files.nodes), "--map", str(files.map)]


def test_pack_keeps_pools_lists_every_failure_and_notes_unread_columns(dlrm: DlrmFiles) -> None:
    res = runner.invoke(app, ["pack", *_args(dlrm), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["pods"] == 300 and out["failed"] > 100  # nothing departs: many do not fit
    assert len(out["failed_pods"]) == out["failed"]  # every one, not the first 100
    assert set(out["resources"]) == {"gpu", "cpu", "mem_bytes", "rdma"}
    assert out["resources"]["gpu"]["alloc_ratio"] == 1.0  # the GPU pool is full: no CPU pod took its cores
    assert any("pools applied" in n for n in out["notes"])
    assert UNREAD in res.stderr and "nodes.csv: columns not read (no NODES column maps to them): disk" in res.stderr
    # the table says how to get the list
    text = runner.invoke(app, ["pack", *_args(dlrm)])
    assert text.exit_code == 0 and "--json lists every one" in text.stdout and "rdma" in text.stdout


def test_pack_experiment_takes_the_map(dlrm: DlrmFiles) -> None:
    res = runner.invoke(
        app, ["pack-experiment", *_args(dlrm), "--policies", "best-fit,fgd", "--seeds", "1-2", "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = {r["policy"]: r for r in json.loads(res.stdout)["policies"]}
    assert set(rows["fgd"]["resources_at_end"]) == {"cpu", "mem_bytes", "rdma"}
    assert 0 < rows["fgd"]["resources_at_end"]["rdma"]["alloc_ratio"] <= 1
    assert "pools applied" in res.stderr


def test_simulate_replays_within_pools(dlrm: DlrmFiles, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["simulate", "--jobs", str(dlrm.instances), "--cluster", str(dlrm.nodes), "--map", str(dlrm.map)]
    res = runner.invoke(app, [*args, "--out", str(run)])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "summary.json").read_text())
    assert any("pools applied" in n for n in summary["notes"])
    jobs = pl.read_parquet(run / "jobs.parquet").filter(pl.col("nodes").is_not_null())
    pools = {"cn": "cpu-pool", "hn": "gpu-pool"}
    want = dict(
        zip(*pl.read_csv(dlrm.instances).select("instance_sn", "pool").to_dict(as_series=False).values(), strict=True)
    )
    assert all(
        pools[n[:2]] == want[j] for j, ns in zip(jobs["job_id"], jobs["nodes"], strict=True) for n in ns.split(",")
    )
    assert UNREAD in res.stderr


def _series(tmp_path: Path) -> tuple[Path, Path]:
    t0 = 1_735_689_600
    f = tmp_path / "qps.csv"
    pl.DataFrame(
        {
            "pod": [p for p in ("a", "b") for _ in range(24 * 14)],
            "t": [t0 + 3600 * k for _ in ("a", "b") for k in range(24 * 14)],
            "qps": [10 + 5 * math.sin(k / 24 * 2 * math.pi) + k % 7 for _ in ("a", "b") for k in range(24 * 14)],
        }
    ).write_csv(f)
    m = tmp_path / "series-map.yaml"
    m.write_text("SERIES:\n  columns: {unique_id: pod, ds: t, y: qps}\n  units: {ds: s}\n")
    return f, m


def test_backtest_series_takes_the_map_and_a_wrong_unit_is_one_line(tmp_path: Path) -> None:
    f, m = _series(tmp_path)
    base = ["backtest", "series", "--data", str(f), "--map", str(m), "--models", "seasonal-naive"]
    res = runner.invoke(app, [*base, "--json"])
    assert res.exit_code == 0, res.output
    # the seconds read as milliseconds: fourteen days become twenty minutes; one line, exit 2, no internal error
    m.write_text("SERIES:\n  columns: {unique_id: pod, ds: t, y: qps}\n  units: {ds: ms}\n")
    bad = runner.invoke(app, base)
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error:") and bad.stderr.strip().count("\n") == 0, bad.stderr
    assert "too few steps" in bad.stderr and "units" in bad.stderr and "internal error" not in bad.stderr
