"""The --map language on a real-looking export (#25 point 5): computed columns, fill values for empty cells, one
section per table applied only to its table, time columns in seconds or milliseconds by a unit key, and the one
note listing the columns nothing reads. The DLRM-style fixture is tests/traces/dlrm.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from tests.traces.dlrm import write_dlrm

from gpufleet.core.errors import GpufleetError
from gpufleet.traces import load
from gpufleet.traces.userfile import READ_NOTES, SCHEMA_MAP, TIME_UNIT

GiB = 2**30


@contextmanager
def mapped(path: Path | None, unit: str | None = None) -> Iterator[list[str]]:
    """Read files under `--map path` (and `--time-unit unit`); yields the notes the command would print."""
    notes: list[str] = []
    tokens = (SCHEMA_MAP.set(path), TIME_UNIT.set(unit), READ_NOTES.set(notes.append))
    try:
        yield notes
    finally:
        READ_NOTES.reset(tokens[2])
        TIME_UNIT.reset(tokens[1])
        SCHEMA_MAP.reset(tokens[0])


def test_dlrm_instances_become_jobs(tmp_path: Path) -> None:
    files = write_dlrm(tmp_path)
    raw = pl.read_csv(files.instances)
    with mapped(files.map) as notes:
        jobs = load(str(files.instances), expect="JOBS").frame
    assert jobs.height == raw.height and jobs["job_id"].to_list() == raw["instance_sn"].to_list()
    # duration = deletion - creation; empty where the instance was still running at the export
    want = (raw["deletion_time"] - raw["creation_time"]).cast(pl.Float64)
    assert jobs["duration"].to_list() == want.to_list() and jobs["duration"].null_count() > 0
    assert jobs["num_gpus"].to_list() == raw["gpu_request"].fill_null(0).cast(pl.Float64).to_list()
    assert jobs["rdma"].to_list() == raw["rdma_request"].fill_null(0).cast(pl.Float64).to_list()
    assert jobs["mem_bytes"].to_list() == (raw["memory_request"] * GiB).to_list()  # empty stays empty
    assert set(jobs["pool"]) == {"cpu-pool", "gpu-pool"} and set(jobs["kind"]) == {"serve"}
    assert jobs["submit_time"].to_list() == raw["creation_time"].cast(pl.Float64).to_list()
    unread = ["role", "cpu_limit", "gpu_limit", "disk_request", "max_instance_per_node", "scheduled_time"]
    assert notes == [
        f"instances.csv: empty cells filled (fill:): num_gpus {raw['gpu_request'].null_count():,} with 0;"
        f" rdma {raw['rdma_request'].null_count():,} with 0",
        f"instances.csv: columns not read (no JOBS column maps to them): {', '.join(unread)}",
    ]


def test_each_section_applies_to_its_table_only(tmp_path: Path) -> None:
    files = write_dlrm(tmp_path)
    with mapped(files.map) as notes:
        nodes = load(str(files.nodes), expect="NODES").frame
    cpu = nodes.filter(pl.col("pool") == "cpu-pool")
    assert (
        cpu.height == files.n_cpu_nodes and set(cpu["num_gpus"]) == {0} and cpu["gpu_type"].null_count() == cpu.height
    )
    assert set(nodes.filter(pl.col("pool") == "gpu-pool")["mem_bytes"]) == {1024 * GiB}
    assert notes[-1] == "nodes.csv: columns not read (no NODES column maps to them): disk"
    # a one-table map (`table: JOBS`) is never applied to a NODES file: a canonical nodes file reads as it is
    canon = tmp_path / "canon-nodes.csv"
    nodes.write_csv(canon)
    jobs_only = tmp_path / "jobs-only.yaml"
    jobs_only.write_text("table: JOBS\ncolumns: {job_id: instance_sn}\n")
    with mapped(jobs_only):
        again = load(str(canon), expect="NODES").frame
    assert again.equals(nodes)
    # ... and a section's table must be its own
    clash = tmp_path / "clash.yaml"
    clash.write_text("JOBS: {table: NODES}\n")
    with mapped(clash), pytest.raises(GpufleetError, match=r"JOBS\.table: NODES"):
        load(str(files.instances), expect="JOBS")


def test_without_a_table_the_section_whose_columns_the_file_has_is_used(tmp_path: Path) -> None:
    """`traces show FILE --map` does not say the table: the one section the file's columns fit decides."""
    files = write_dlrm(tmp_path)
    with mapped(files.map):
        assert load(str(files.instances)).meta.table == "JOBS"
        assert load(str(files.nodes)).meta.table == "NODES"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with mapped(files.map), pytest.raises(GpufleetError, match="say which table.*sections: JOBS, NODES"):
        load(str(other))


def test_a_map_without_table_is_checked_against_each_file(tmp_path: Path) -> None:
    files = write_dlrm(tmp_path)
    flat = tmp_path / "flat.yaml"
    flat.write_text("columns: {job_id: instance_sn}\n")
    with mapped(flat), pytest.raises(GpufleetError, match=r"columns\.job_id: NODES has no column 'job_id'.*sections"):
        load(str(files.nodes), expect="NODES")


def _jobs_file(tmp_path: Path, rows: str, header: str = "id,start,end,gpus") -> Path:
    p = tmp_path / "x.csv"
    p.write_text(header + "\n" + rows)
    return p


def _map(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text("table: JOBS\n" + text)
    return p


def test_diff_of_dates_gives_seconds(tmp_path: Path) -> None:
    f = _jobs_file(tmp_path, "a,2025-01-01T00:00:00,2025-01-01T01:30:00,1\nb,2025-01-01T00:10:00,,2\n")
    m = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, num_gpus: gpus}\ntimestamps: {submit_time: {}}\n"
        "computed: {duration: {diff: [end, start]}}\n",
    )
    with mapped(m):
        jobs = load(str(f), expect="JOBS").frame
    assert jobs["duration"].to_list() == [5400.0, None] and jobs["submit_time"].to_list() == [0.0, 600.0]
    # the same with a strftime format for the operands
    f2 = _jobs_file(tmp_path, "a,01/01/2025 00:00,01/01/2025 00:02,1\n")
    m2 = _map(
        tmp_path,
        "columns: {job_id: id, num_gpus: gpus}\nconstants: {submit_time: 0}\n"
        "computed: {duration: {diff: [end, start], format: '%m/%d/%Y %H:%M'}}\n",
    )
    with mapped(m2):
        assert load(str(f2), expect="JOBS").frame["duration"].to_list() == [120.0]


def test_diff_in_milliseconds_with_a_unit_key(tmp_path: Path) -> None:
    f = _jobs_file(tmp_path, "a,1735689600000,1735689660000,1\nb,1735689601000,1735689603500,1\n")
    m = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, num_gpus: gpus}\n"
        "computed: {duration: {diff: [end, start]}}\nunits: {submit_time: ms, duration: ms}\n",
    )
    with mapped(m):
        jobs = load(str(f), expect="JOBS").frame
    assert jobs["duration"].to_list() == [60.0, 2.5] and jobs["submit_time"].to_list() == [1735689600.0, 1735689601.0]
    # --time-unit says the same for every time column the map gives no unit
    m2 = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, num_gpus: gpus}\ncomputed: {duration: {diff: [end, start]}}\n",
    )
    with mapped(m2, "ms"):
        assert load(str(f), expect="JOBS").frame["duration"].to_list() == [60.0, 2.5]
    # without either, epoch milliseconds are refused, naming the unit that fits
    with mapped(m2), pytest.raises(GpufleetError, match="--time-unit ms"):
        load(str(f), expect="JOBS")


def test_sum_and_first(tmp_path: Path) -> None:
    f = _jobs_file(tmp_path, "a,0,60,1,,4\nb,5,65,,2,\nc,9,70,,,\n", header="id,start,run,gpus,gpus_b,cpu")
    m = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, duration: run}\n"
        "computed: {num_gpus: {first: [gpus, gpus_b]}, num_cpus: {sum: [cpu, gpus_b]}}\nfill: {num_gpus: 0}\n",
    )
    with mapped(m) as notes:
        jobs = load(str(f), expect="JOBS").frame
    assert jobs["num_gpus"].to_list() == [1.0, 2.0, 0.0]
    assert jobs["num_cpus"].to_list() == [4.0, 2.0, None]  # an empty cell counts as 0; all empty stays empty
    assert any("num_gpus 1 with 0" in n for n in notes)


def test_series_time_in_seconds_or_milliseconds(tmp_path: Path) -> None:
    t = [1_735_689_600 + 3600 * k for k in range(48)]
    f = tmp_path / "s.csv"
    pl.DataFrame(
        {"pod": ["a"] * 48, "t": t, "t_ms": [x * 1000 for x in t], "qps": [float(k % 5) for k in range(48)]}
    ).write_csv(f)
    frames = []
    for text in (
        "columns: {unique_id: pod, ds: t, y: qps}\n",
        "columns: {unique_id: pod, ds: t_ms, y: qps}\nunits: {ds: ms}\n",
    ):
        m = tmp_path / "sm.yaml"
        m.write_text("SERIES:\n  " + text.replace("\n", "\n  "))
        with mapped(m):
            frames.append(load(str(f), expect="SERIES").frame)
    assert frames[0].equals(frames[1]) and str(frames[0]["ds"][0]) == "2025-01-01 00:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("computed: {duration: {mul: [end, start]}}", ["computed.duration.mul"]),
        ("computed: {duration: {diff: [end, start, id]}}", ["computed.duration", "diff takes two columns"]),
        ("computed: {duration: {diff: [end, start], sum: [end, start]}}", ["exactly one of"]),
        ("computed: {duration: {diff: [gone, start]}}", ["computed.duration", "diff(gone, start)", "'gone'"]),
        ("computed: {duration: {diff: [end, start]}}\nconstants: {duration: 5}", ["also given in constants"]),
        ("fill: {num_gpus: lots}", ["fill.num_gpus", "'lots' is not a number"]),
        ("fill: {rdma: 0}", ["fill.rdma", "no column 'rdma'"]),
        ("units: {mem_bytes: ms}", ["units.mem_bytes", "'ms' is not a size unit"]),
        ("units: {duration: GiB}", ["units.duration", "not a time unit"]),
        ("units: {pool: '%'}", ["units.pool", "takes no unit"]),
        ("computed: {duration: {diff: [when, start]}}", ["'when' holds dates, 'start' numbers"]),
        ("timestamps: {duration: {}}\ncomputed: {duration: {diff: [end, start]}}", ["also given in timestamps"]),
    ],
)
def test_bad_maps_name_the_map_and_the_field(tmp_path: Path, text: str, words: list[str]) -> None:
    f = _jobs_file(tmp_path, "a,0,60,1,2025-01-01\n", header="id,start,end,gpus,when")
    m = _map(tmp_path, "columns: {job_id: id, submit_time: start, num_gpus: gpus}\n" + text + "\n")
    with mapped(m), pytest.raises(GpufleetError) as e:
        load(str(f), expect="JOBS")
    assert "m.yaml" in str(e.value), str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_unknown_section_and_dates_diff_with_a_unit(tmp_path: Path) -> None:
    f = _jobs_file(tmp_path, "a,2025-01-01T00:00:00,2025-01-01T00:01:00,1\n")
    bad = tmp_path / "b.yaml"
    bad.write_text("JOBS: {}\nJOB: {}\n")
    with mapped(bad), pytest.raises(GpufleetError, match="JOB: not a setting"):
        load(str(f), expect="JOBS")
    m = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, num_gpus: gpus}\ntimestamps: {submit_time: {}}\n"
        "computed: {duration: {diff: [end, start]}}\nunits: {duration: s}\n",
    )
    with mapped(m), pytest.raises(GpufleetError, match="subtracts dates"):
        load(str(f), expect="JOBS")


def test_an_operand_that_does_not_parse_names_file_line_and_column(tmp_path: Path) -> None:
    f = _jobs_file(tmp_path, "a,0,60,1\nb,5,soon,1\n")
    m = _map(
        tmp_path,
        "columns: {job_id: id, submit_time: start, num_gpus: gpus}\ncomputed: {duration: {diff: [end, start]}}\n",
    )
    with mapped(m), pytest.raises(GpufleetError, match=r"x\.csv: line 3, column 'end': cannot read 'soon'"):
        load(str(f), expect="JOBS")
    with mapped(m):  # --skip-bad-rows drops and counts it
        tr = load(str(f), expect="JOBS", on_bad_row="skip")
    assert tr.frame["job_id"].to_list() == ["a"] and tr.meta.skipped == {"x.csv: bad end": 1}
