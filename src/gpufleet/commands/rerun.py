"""`gpufleet rerun DIR`: make a run again from its provenance.json and say whether it came out byte for byte.

First every input file the run read is hashed and compared with the recorded sha256 (a changed or missing one
stops the rerun: one line naming it, exit 2, unless --force). Then the recorded command runs with the recorded
options (every one spelled out, defaults included, so a later gpufleet with other defaults runs the same
configuration) in a fresh process, writing into --out (default: a temporary directory, removed after), and
every file of the run directory except provenance.json and timing.json is compared with the rerun's. A
sub-run of compare or tenancy (its provenance names its `part`) reruns the whole command and compares that
part. Exit 0: identical; 1: a file differs (each named, with what differs); 2: bad input.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from gpufleet.commands.common import JsonOpt, _root_opt, check_out_dir, emit_json, err, handles_errors, out
from gpufleet.commands.runinfo import OUT, argv_for
from gpufleet.core.errors import GpufleetError


def _command(root: Any, words: list[str], where: Path) -> Any:
    """The click command the run was made by, found under the running app's root."""
    cmd = root
    for w in words:
        sub = getattr(cmd, "commands", {}).get(w)
        if sub is None:
            raise GpufleetError(f"{where}: command {' '.join(words)!r} is not one this gpufleet has")
        cmd = sub
    return cmd


def _data_root(recorded: str | None) -> Path | None:
    """Today's data root (--data-dir, $GPUFLEET_DATA, the checkout's), else the run's when it is still there."""
    from gpufleet.core.datadir import find_data_dir

    found = find_data_dir(_root_opt("data_dir"))[0]
    if found is not None and found.is_dir():
        return found.resolve()
    return Path(recorded) if recorded and Path(recorded).is_dir() else None


def _absolute_files(options: dict[str, Any], record: dict[str, Any], cmd: Any) -> dict[str, Any]:
    """The options with each file they named at its recorded absolute path (the run's working directory is gone,
    so a path relative to it would not be found)."""
    from gpufleet.commands.runinfo import long_flag

    where = {(f.get("role"), f.get("given")): f["path"] for f in record.get("files") or [] if f.get("given")}
    err.print(
        f"note: the run's working directory {record['command'].get('cwd')} is gone; files its options named are"
        " read at their recorded absolute paths",
        markup=False,
        soft_wrap=True,
    )
    return {
        p.name: where.get((long_flag(p), options.get(p.name)), options.get(p.name))
        for p in cmd.params
        if p.name in options
    }


@contextlib.contextmanager
def _target(given: Path | None) -> Iterator[Path]:
    """Where the rerun writes: `given` (new or empty), else a temporary directory removed afterwards."""
    if given is not None:
        check_out_dir(given)
        if given.is_dir() and any(given.iterdir()):
            raise GpufleetError(f"--out {given}: not empty; give a new or empty directory for the rerun")
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="gpufleet-rerun-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@handles_errors
def rerun_cmd(
    run: Annotated[Path, typer.Argument(metavar="DIR", help="A run directory holding a provenance.json.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write the rerun here (a new or empty directory; default: a temporary one)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even when an input file changed or is gone.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a run again from its provenance.json: check its input files' sha256, rerun its command with the
    recorded options, compare every output file byte for byte (exit 0 identical, 1 a file differs)."""
    from gpufleet.commands.runinfo import current_context
    from gpufleet.plan import provenance
    from gpufleet.plan.rerun import compare_trees

    record = provenance.load(run)
    command = record["command"]
    part = record.get("part")
    data_root = _data_root(command.get("data_root"))
    problems = provenance.check_inputs(record, data_root)
    if problems and not force:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GpufleetError(f"{problems[0]}{more}; --force reruns anyway")
    for line in problems:
        err.print(f"warning: {line}", markup=False, soft_wrap=True)
    words = str(command.get("name", "")).split()
    cmd = _command(current_context().find_root().command, words, run / provenance.PROVENANCE)
    options = dict(command["options"])
    unknown = sorted(set(options) - {p.name for p in cmd.params})
    if unknown:
        raise GpufleetError(
            f"{run / provenance.PROVENANCE}: option {unknown[0]!r} of the run is unknown to this gpufleet"
        )
    cwd = command.get("cwd")
    if not (cwd and Path(cwd).is_dir()):
        cwd = None
        options = _absolute_files(options, record, cmd)
    recorded_out = options.get(OUT)
    with _target(out_dir) as where:
        options[OUT] = str(where.resolve())
        argv = (["--data-dir", str(data_root)] if data_root else []) + argv_for(words, cmd, options)
        if not as_json:
            err.print(f"rerunning: gpufleet {shlex.join(argv)}", markup=False, soft_wrap=True)
        # the run's own tables are not shown again (stdout is the comparison); its notes and errors are (stderr)
        done = subprocess.run(
            [sys.executable, "-m", "gpufleet.cli", *argv], stdout=subprocess.DEVNULL, cwd=cwd, check=False
        )
        if done.returncode != 0:  # its own error line is above; this one says it was the rerun's
            err.print(f"error: the rerun's command failed (exit {done.returncode}): nothing compared", markup=False)
            raise typer.Exit(done.returncode if done.returncode == 2 else 1)
        original, again = run, where / part if part else where
        renamed = (str(recorded_out), options[OUT]) if recorded_out else None
        compared, diffs = compare_trees(original, again, renamed)
        kept = None if out_dir is None else str(again)
    if as_json:
        emit_json(
            {
                "run": str(run),
                "rerun": kept,
                "identical": not diffs,
                "compared": compared,
                "differ": [{"file": d.file, "reason": d.reason} for d in diffs],
                "inputs_changed": problems,
            }
        )
    elif diffs:
        for d in diffs:
            out.print(f"differs: {d.file}: {d.reason}", markup=False)
        out.print(f"{len(diffs)} of {len(compared)} files differ from {run}", markup=False)
    else:
        out.print(
            f"identical: all {len(compared)} files of {run} (provenance.json and timing.json are not compared)",
            markup=False,
        )
    if diffs:
        raise typer.Exit(1)
