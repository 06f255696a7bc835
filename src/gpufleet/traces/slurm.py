"""Slurm accounting: `sacct --parsable2` exports (pipe-separated, header line) into JOBS.

Columns used (sacct's names): JobID, User, Account, Partition, Submit, Start, End, Elapsed, State,
AllocTRES, NodeList (JobName when present). Per Slurm's documentation:
- JobID: `1234` a job, `1234_7` an element of array job 1234 (each element is a job), `1234+0` a component
  of heterogeneous job 1234 (each component is a job), `1234.batch` / `1234.extern` / `1234.0` job steps
  (accounting detail of their job: skipped and counted).
- State: COMPLETED, FAILED, CANCELLED (sacct writes `CANCELLED by <uid>`), TIMEOUT, OUT_OF_MEMORY,
  NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, and RUNNING / PENDING for jobs not finished at export time.
- AllocTRES: `cpu=8,mem=64G,node=1,billing=8,gres/gpu=4`, possibly `gres/gpu:a100=4` (typed GPUs); memory
  with K/M/G/T suffixes (powers of 1024).
- Submit/Start/End: `2024-03-01T09:30:00` (local time of the cluster, taken as UTC), `Unknown` or `None`
  when not reached.
Mapping: Account -> group, Partition -> pool, State -> status (lower case, `cancelled` without the uid),
submit_time = seconds since the earliest Submit (the trace epoch), duration = End - Start (Elapsed when
End is missing), kind = train for jobs with GPUs, other without.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from gpufleet.core.errors import TraceError
from gpufleet.traces.base import ReadContext

NEEDED = ("JobID", "User", "Account", "Partition", "Submit", "Start", "End", "State", "AllocTRES")
_JOB = re.compile(r"^(\d+)(?:_(\d+|\[[^\]]*\]))?(?:\+(\d+))?$")
_STEP = re.compile(r"^\d+(?:_\d+)?(?:\+\d+)?\.\S+$")
_MEM = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def looks_like_sacct(path: Path) -> bool:
    try:
        with open(path, errors="replace") as f:
            head = f.readline()
    except OSError:
        return False
    return head.startswith("JobID|") or "|JobID|" in head


def _time(text: str | None) -> float | None:
    if text is None or text in ("", "Unknown", "None", "N/A"):
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _elapsed(text: str | None) -> float | None:
    """[D-]HH:MM:SS or MM:SS (sacct's Elapsed)."""
    if not text:
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    h, m, s = parts
    return days * 86400 + h * 3600 + m * 60 + s


def _tres(text: str | None) -> tuple[float, str | None, float | None, int | None]:
    """(GPUs, GPU type, CPUs, memory bytes) from AllocTRES."""
    gpus, gtype, cpus, mem = 0.0, None, None, None
    for item in filter(None, (text or "").split(",")):
        key, _, val = item.partition("=")
        if key == "cpu":
            cpus = float(val)
        elif key == "mem":
            unit = val[-1:].upper()
            mem = int(float(val[:-1]) * _MEM[unit]) if unit in _MEM else int(float(val))
        elif key == "gres/gpu":
            gpus = max(gpus, float(val))
        elif key.startswith("gres/gpu:"):
            gpus = max(gpus, float(val))
            gtype = key.split(":", 1)[1]
    return gpus, gtype, cpus, mem


def read_sacct(path: Path, ctx: ReadContext) -> pl.DataFrame:
    """JOBS from a `sacct --parsable2` export; errors name the file, line and column."""
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    lines = path.read_text(errors="replace").splitlines()
    if not lines or not lines[0].strip():
        raise TraceError(f"{path}: file is empty")
    header = lines[0].split("|")
    if header[-1] == "":  # `--parsable` (not parsable2) ends every line with a delimiter
        header = header[:-1]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise TraceError(
            f"{path}: line 1: missing column {missing[0]!r} (sacct --parsable2 --format=... with {', '.join(NEEDED)})"
        )
    ctx.files.append(str(path))
    rows = []
    steps = 0
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        vals = line.split("|")
        if len(vals) == len(header) + 1 and vals[-1] == "":
            vals = vals[:-1]
        if len(vals) != len(header):
            raise TraceError(f"{path}: line {n}: {len(vals)} fields, header has {len(header)}")
        r = dict(zip(header, vals, strict=True))
        jid = r["JobID"]
        if _STEP.match(jid):
            steps += 1
            continue
        if not _JOB.match(jid):
            raise TraceError(f"{path}: line {n}, column 'JobID': cannot read {jid!r} as a Slurm job id")
        try:
            submit, start, end = _time(r["Submit"]), _time(r["Start"]), _time(r["End"])
        except ValueError as e:
            raise TraceError(f"{path}: line {n}: a time column cannot be read ({e})") from None
        if submit is None:
            raise TraceError(f"{path}: line {n}, column 'Submit': {r['Submit']!r} is not a time")
        try:
            # a job that never ran has no allocation: what it asked for (ReqTRES) stands in when exported
            gpus, gtype, cpus, mem = _tres(r["AllocTRES"] or r.get("ReqTRES"))
        except (ValueError, KeyError):
            raise TraceError(f"{path}: line {n}, column 'AllocTRES': cannot read {r['AllocTRES']!r}") from None
        duration = end - start if start is not None and end is not None else None
        if duration is None and start is not None and r.get("Elapsed"):
            duration = _elapsed(r["Elapsed"]) if r["State"].split()[0] not in ("RUNNING", "PENDING") else None
        rows.append(
            {
                "job_id": jid,
                "submit_time": submit,
                "duration": duration,
                "num_gpus": gpus,
                "gpu_type": gtype,
                "num_cpus": cpus,
                "mem_bytes": mem,
                "user": r["User"] or None,
                "group": r["Account"] or None,
                "pool": r["Partition"] or None,
                "name": r.get("JobName") or None,
                "status": r["State"].split()[0].lower(),
                "kind": "train" if gpus > 0 else "other",
                "nodes": r.get("NodeList") or None,
            }
        )
    if not rows:
        raise TraceError(f"{path}: no jobs (only job steps or empty)")
    ctx.skip("job steps (accounting detail of their job)", steps)
    f = pl.DataFrame(rows, infer_schema_length=None)
    t0 = float(f["submit_time"].min())  # type: ignore[arg-type]
    ctx.epoch = datetime.fromtimestamp(t0, UTC).isoformat()
    return f.with_columns(pl.col("submit_time") - t0)
