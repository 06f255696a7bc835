"""The store under real crashes: SIGKILL at every step of a write, an upsert, a compaction, a retention and
an upgrade from the old layout, at random moments from outside, a second writer, and a full disk.

After each kill, readers work on what was left (a consistent subset: nothing twice, nothing invented);
after a re-run the store equals the source exactly. See tests/collector/store_faults.py.
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from tests.collector.store_faults import (
    diff,
    expected,
    kill_after,
    kill_when_data_files_appear,
    make_big,
    make_source,
    parse_done,
    run,
    visible_is_consistent,
)
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError
from gpufleet.core.schemas import validate

pytestmark = [pytest.mark.integration]

# (mode, crash point): every step our code takes between library calls, several occurrences of the
# repeated ones (the 1st, 3rd, 6th window...). The library's own steps are hit by the timed kills below.
CRASH_POINTS = [
    ("collect", "store.open.locked"),
    ("collect", "store.append.before-commit:1"),
    ("collect", "store.append.before-commit:2"),
    ("collect", "store.append.before-commit:4"),
    ("collect", "store.append.before-commit:6"),
    ("collect", "store.append.committed:1"),
    ("collect", "store.append.committed:3"),
    ("collect", "store.append.committed:6"),
    ("collect", "store.upsert.before-commit:1"),
    ("collect", "store.upsert.before-commit:4"),
    ("compact", "store.open.locked"),
    ("compact", "store.compact.before-commit:1"),
    ("compact", "store.compact.before-commit:2"),
    ("compact", "store.compact.committed:1"),
    ("compact", "store.compact.committed:2"),
    ("compact", "store.compact.vacuumed:1"),
    ("retention", "store.retention.floor-set:1"),
    ("retention", "store.retention.deleted:1"),
    ("upgrade", "store.upgrade.committed:1"),
    ("upgrade", "store.upgrade.remove-old:1"),
    ("upgrade", "store.upgrade.committed:2"),
]


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("source"))


def _prepare(store: Path, src: Path, mode: str) -> None:
    """The state a mode starts from: a collected store (compact, retention) or an old-layout one (upgrade)."""
    if mode in ("compact", "retention"):
        assert run(store, src, "collect").returncode == 0
    if mode == "upgrade":
        assert run(store, src, "legacy").returncode == 0


def _want(src: Path, mode: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    samples, jobs = expected(src, mode)
    if mode == "upgrade":  # the old store held the jobs' final records
        jobs = validate(pl.read_parquet(src / "jobs.parquet"), "JOBS").sort("job_id")
    return samples, jobs


def _jobs_equal(store: Path, want: pl.DataFrame) -> bool:
    got = Store(store).read("JOBS").select(want.columns).sort("job_id")
    return got.equals(want)


@pytest.mark.parametrize(("mode", "point"), CRASH_POINTS, ids=[f"{m}-{p}" for m, p in CRASH_POINTS])
def test_sigkill_at_a_crash_point_then_rerun_is_exact(src: Path, tmp_path: Path, mode: str, point: str) -> None:
    store = tmp_path / "store"
    _prepare(store, src, mode)
    full, _ = expected(src, "collect")
    want, jobs = _want(src, mode)
    crashed = run(store, src, mode, crash=point)
    assert crashed.returncode == -9, f"the crash point was not reached: {crashed.stdout} {crashed.stderr}"
    # readers work on what the kill left, and it is consistent
    try:
        assert visible_is_consistent(store, full)
    except GpufleetError as e:  # killed before the first table was upgraded: the old layout, said plainly
        assert mode == "upgrade" and "pre-Delta layout" in str(e)
    if mode == "compact":  # a reader sees the old files or the merged ones, never neither
        assert diff(store, full).exact
    again = run(store, src, mode)
    assert again.returncode == 0, again.stderr
    d = diff(store, want)
    assert d.exact, d
    assert _jobs_equal(store, jobs)
    assert not list(store.rglob("source=*")), "old-layout folders left behind"


def test_sigkill_at_random_moments_then_rerun_is_exact(src: Path, tmp_path: Path) -> None:
    """Kills from outside at random times inside the writes: the library's steps (data files written, the
    commit not yet) are hit too; the files they leave are cleaned at the next start and counted."""
    want, jobs = _want(src, "collect")
    rng = random.Random(20261206)
    cleaned = 0
    for k in range(6):
        store = tmp_path / f"store{k}"
        for _ in range(2):  # two kills in a row on the same store, then the re-run
            assert kill_after(store, src, "collect", rng.uniform(0.0, 0.6)) in (-9, 0)
            assert visible_is_consistent(store, want)
        done = run(store, src, "collect")
        assert done.returncode == 0, done.stderr
        cleaned += int(parse_done(done.stdout)["cleaned_files"])  # type: ignore[call-overload]
        assert diff(store, want).exact and _jobs_equal(store, jobs)
    print(f"files left by interrupted writes, cleaned at start-up: {cleaned}")


@pytest.mark.parametrize("table_exists", [False, True], ids=["first-write", "later-write"])
def test_a_kill_inside_the_librarys_write_leaves_files_that_are_never_read_and_are_cleaned(
    src: Path, tmp_path: Path, table_exists: bool
) -> None:
    """A million rows over twelve day partitions, killed as soon as the library has put the first data file on
    disk, before the commit; into a table with no commit yet, and into one with several. Readers see nothing
    of it; the next writer removes and counts what it left; the re-run stores everything once."""
    big = make_big(src)
    store = tmp_path / "store"
    if table_exists:
        assert run(store, src, "collect").returncode == 0
    before = Store(store).read("GPU_SAMPLES").height
    assert kill_when_data_files_appear(store, src, "big") == -9
    assert list((store / "gpu_samples").glob("_source=big/*/*.parquet")), "the interrupted write left files"
    assert Store(store).read("GPU_SAMPLES").height == before  # no commit landed: nothing of it is visible
    Store(store).info()
    again = run(store, src, "big")
    assert again.returncode == 0, again.stderr
    assert int(parse_done(again.stdout)["cleaned_files"]) >= 1  # type: ignore[call-overload]
    want = big if not table_exists else pl.concat([expected(src, "collect")[0], big], how="diagonal_relaxed")
    assert diff(store, want.select(big.columns)).exact


def test_a_second_writer_is_refused_until_the_first_dies(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("store_driver.py")), str(store), str(src), "hold", "120"],
        env=__import__("tests.collector.store_faults", fromlist=["env"]).env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        assert '"holding"' in holder.stdout.readline()
        second = run(store, src, "collect")
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0] and "one writer at a time" in lines[0]
        assert Store(store).read("GPU_SAMPLES").height == 0  # the refused writer wrote nothing
        # a second `collect run` loop on the same store stops at once with the same line, exit 2
        (tmp_path / "c.yaml").write_text(
            f"store: {store}\nmetrics_port: 0\nsources:\n  - kind: prometheus\n    url: http://127.0.0.1:9\n"
        )
        res = CliRunner().invoke(app, ["collect", "run", "--config", str(tmp_path / "c.yaml"), "--duration", "5s"])
        assert res.exit_code == 2 and f"pid {holder.pid}" in res.stderr, res.output
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the dead holder's lock: the next writer works
    assert run(store, src, "collect").returncode == 0
    assert diff(store, expected(src, "collect")[0]).exact


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_is_one_line_and_nothing_half_visible(src: Path, tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every file past a few KB fail to grow, as a full disk does (EFBIG vs ENOSPC)."""
    store = tmp_path / "store"
    failed = run(store, src, "collect", preexec_fn=lambda: _limit_file_size(4096))
    assert failed.returncode == 2, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing of this write is visible" in lines[0], failed.stderr
    assert Store(store).read("GPU_SAMPLES").height == 0
    # with room again the same run stores everything once; then the real CLI's compaction on a full disk
    assert run(store, src, "collect").returncode == 0
    want = expected(src, "collect")[0]
    cli = subprocess.run(
        [sys.executable, "-m", "gpufleet.cli", "store", "compact", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        env=__import__("tests.collector.store_faults", fromlist=["env"]).env(),
        preexec_fn=lambda: _limit_file_size(4096),
    )
    assert cli.returncode == 2, cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and "compacting" in cli.stderr, cli.stderr
    assert diff(store, want).exact  # the old files are still what readers see
