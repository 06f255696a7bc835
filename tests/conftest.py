"""Shared fixtures: the real-trace root (tests that need it skip with a reason when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _data_dir() -> Path | None:
    raw = os.environ.get("GPUFLEET_DATA")
    if raw and Path(raw).is_dir():
        return Path(raw)
    guess = Path(__file__).resolve().parents[1].parent / "shared" / "traces"
    return guess if guess.is_dir() else None


DATA_DIR = _data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of ../shared/traces; skips the test when it is not on this machine."""
    if DATA_DIR is None:
        pytest.skip("real traces not found: set GPUFLEET_DATA to the shared/traces folder")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Readers resolve the root from GPUFLEET_DATA; pin it so tests do not depend on the caller's shell.
    if DATA_DIR is not None:
        monkeypatch.setenv("GPUFLEET_DATA", str(DATA_DIR))
