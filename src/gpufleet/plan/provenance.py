"""What made a run: provenance.json in every run directory, and checking a run's inputs before it is rerun.

It records the gpufleet version and, installed from a checkout, the commit and whether tracked files were
changed (plan/gitinfo.py); Python, the platform and the version of each installed dependency gpufleet declares;
every trace reference read with the sha256 of each file it opened (traces.base.READS) and of each file an
option named (a tenancy YAML, a price table, a --map file); the command with every option resolved (defaults
included) and the seeds. `gpufleet rerun DIR` replays the command from it (commands/rerun.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import platform
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpufleet.core.errors import GpufleetError
from gpufleet.plan import gitinfo
from gpufleet.report.rundir import PROVENANCE, dumps, read_provenance, write_text_atomic
from gpufleet.traces.base import TraceRead

FORMAT = 1  # of provenance.json; a reader refuses a newer one

# sha256 of a file by (resolved path, size, mtime in ns): a file read by several commands of one process (a
# test session, a sweep) is hashed once; any change to it changes its size or its mtime
_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), streamed; cached within the process while its size and mtime stay."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    found = _HASHES.get(key)
    if found is None:
        with open(path, "rb") as f:
            found = _HASHES[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return found


def file_entry(path: Path, data_root: Path | None, role: str) -> dict[str, Any]:
    """One input file: absolute path, its path under the data root (so a rerun on another machine finds it
    there), size and sha256."""
    p = path.resolve()
    under = None
    if data_root is not None:
        with contextlib.suppress(ValueError):  # not under it
            under = str(p.relative_to(data_root.resolve()))
    return {"path": str(p), "data_path": under, "role": role, "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def trace_entries(reads: Iterable[TraceRead], data_root: Path | None) -> list[dict[str, Any]]:
    """Each reference read: its name, rows, a generator's full settings, and its files hashed."""
    out = []
    for r in reads:
        files = [file_entry(f, data_root, "trace") for f in r.files if f.is_file()]
        out.append({"ref": r.ref, "rows": r.rows, "settings": r.settings, "files": files})
    return out


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
_DEV = re.compile(r"""extra\s*==\s*["']dev["']""")


@functools.cache
def packages() -> dict[str, str]:
    """Version of each installed distribution gpufleet declares (base and extras, not the dev tools)."""
    from importlib.metadata import PackageNotFoundError, requires, version

    try:
        declared = requires("gpufleet") or []
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return {}
    names = []
    for req in declared:
        m = _NAME.match(req)
        if m is None or _DEV.search(req) or m.group(0).lower() == "gpufleet":
            continue
        names.append(m.group(0))
    found = {}
    for n in sorted(set(names), key=str.lower):
        try:
            found[n] = version(n)
        except PackageNotFoundError:
            continue  # an extra this install does not have
    return found


def gpufleet_version() -> str:
    """The installed gpufleet's version (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpufleet")
    except PackageNotFoundError:
        from gpufleet import __version__

        return __version__


def environment() -> dict[str, Any]:
    """gpufleet (version, checkout, commit, dirty), Python, the platform and the declared packages' versions."""
    import gpufleet

    return {
        "gpufleet": {"version": gpufleet_version(), **gitinfo.describe(Path(gpufleet.__file__).resolve().parent)},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "packages": packages(),
    }


def build(
    command: dict[str, Any],
    traces: list[dict[str, Any]],
    files: list[dict[str, Any]],
    seeds: dict[str, Any],
) -> dict[str, Any]:
    """A provenance record: `command` {name, argv, options, data_root, out}, the traces and option files read
    (hashed), the seeds, and the environment."""
    return {
        "format": FORMAT,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "traces": traces,
        "files": files,
        "seeds": seeds,
        **environment(),
    }


def write(out: Path, record: dict[str, Any], parts: Iterable[str] = ()) -> list[Path]:
    """provenance.json in `out`, and in each sub-run `out/PART` with `part` naming it (a rerun of a sub-run
    replays the whole command and compares that part)."""
    written = [write_text_atomic(out / PROVENANCE, dumps(record) + "\n")]
    for part in parts:
        written.append(write_text_atomic(out / part / PROVENANCE, dumps(record | {"part": part}) + "\n"))
    return written


def load(run: Path) -> dict[str, Any]:
    """A run directory's provenance; one line when it has none, or one this version cannot read."""
    if not run.is_dir():
        raise GpufleetError(f"{run}: not a run directory")
    record = read_provenance(run)
    if record is None:
        raise GpufleetError(f"{run}: no {PROVENANCE} (a run written before gpufleet recorded one cannot be rerun)")
    fmt = record.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise GpufleetError(f"{run / PROVENANCE}: format {fmt!r} is not one this gpufleet reads (<= {FORMAT})")
    if not isinstance(record.get("command"), dict) or not isinstance(record["command"].get("options"), dict):
        raise GpufleetError(f"{run / PROVENANCE}: command.options: missing; not a run's provenance")
    return record


def inputs_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file a run read: each trace's files, then the files its options named."""
    files = [f for t in record.get("traces") or [] for f in t.get("files") or []]
    return files + list(record.get("files") or [])


def locate(entry: dict[str, Any], data_root: Path | None) -> Path:
    """Where an input file is now: under today's data root when it was under the run's, else where it was."""
    if entry.get("data_path") and data_root is not None:
        return data_root / entry["data_path"]
    return Path(entry["path"])


def check_inputs(record: dict[str, Any], data_root: Path | None) -> list[str]:
    """One line per input file that is missing or whose content changed since the run (empty: all as read)."""
    problems = []
    for entry in inputs_of(record):
        where = locate(entry, data_root)
        if not where.is_file():
            problems.append(f"{where}: missing (the run read it; sha256 {entry.get('sha256', '?')[:12]}…)")
            continue
        now = sha256_file(where)
        if now != entry.get("sha256"):
            problems.append(
                f"{where}: changed since the run (sha256 {now[:12]}…, recorded {str(entry.get('sha256'))[:12]}…)"
            )
    return problems
