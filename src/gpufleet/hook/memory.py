"""What the policies remember between decisions (HPA stabilization windows, KPA panic, predictive calibration),
kept in one JSON file next to the decisions so that a restarted hook (a crash, `kill -9`, a rescheduled pod)
holds exactly what it held before instead of starting from a blank policy.

The file is replaced atomically (a temporary file in the same directory, fsync, rename, fsync of the
directory): a crash leaves the old file or the new one, never half of one. A workload's memory is taken back
only when its policy and settings are the ones it was written with.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

FILE = "hook-memory.json"
VERSION = 1
log = logging.getLogger(__name__)


def save(root: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Write {workload key: {policy, settings, memory}} atomically."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / FILE
    tmp = root / f".{FILE}.{os.getpid()}.tmp"
    data = json.dumps({"version": VERSION, "workloads": entries}, separators=(",", ":"))
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def load(root: Path) -> dict[str, dict[str, Any]]:
    """The saved entries; {} when there is no file or it cannot be read (logged: the policies start blank)."""
    for stale in root.glob(f".{FILE}.*.tmp"):  # a crash between write and rename
        stale.unlink(missing_ok=True)
    path = root / FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION or not isinstance(data.get("workloads"), dict):
            raise ValueError(f"unknown layout (version {data.get('version')!r})")
        return {k: v for k, v in data["workloads"].items() if isinstance(v, dict)}
    except (OSError, ValueError) as e:
        log.warning("%s: not read (%s); the policies start without memory", path, e)
        return {}
