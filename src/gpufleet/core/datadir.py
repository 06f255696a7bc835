"""Where the real traces are: one rule for the CLI, the dashboard and the tests. `--data-dir` when given, else
$GPUFLEET_DATA, else `shared/traces` beside the source checkout this package runs from (the layout of the
project's machines: `make` used to be the only thing that found it)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "GPUFLEET_DATA"
# How to point gpufleet at the traces, for messages that say it is missing.
HOW_TO_SET = f"set {DATA_ENV}=/path/to/traces or pass --data-dir (e.g. `gpufleet --data-dir ../shared/traces ...`)"


def checkout_traces() -> Path | None:
    """`shared/traces` next to the checkout (src layout: the folder holding pyproject.toml), when both exist."""
    root = Path(__file__).resolve().parents[3]
    guess = root.parent / "shared" / "traces"
    return guess if (root / "pyproject.toml").is_file() and guess.is_dir() else None


def find_data_dir(explicit: str | Path | None = None) -> tuple[Path | None, str]:
    """(the data root, where it came from): `explicit` (--data-dir), else $GPUFLEET_DATA, else the checkout's
    shared/traces; (None, "") when none is set. A given path is returned whether or not it exists: the
    caller says so in its own words."""
    if explicit:
        return Path(explicit).expanduser(), "--data-dir"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser(), DATA_ENV
    found = checkout_traces()
    return (found, "the checkout's ../shared/traces") if found else (None, "")
