"""The data root is found the same way by the CLI, the dashboard and the tests: --data-dir, else $GPUFLEET_DATA,
else shared/traces beside the checkout; with none of them, the message says how to set it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.core import datadir
from gpufleet.core.errors import TraceError
from gpufleet.traces import resolve_data_dir


def test_explicit_then_environment_then_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beside = tmp_path / "beside"
    beside.mkdir()
    monkeypatch.setattr(datadir, "checkout_traces", lambda: beside)
    monkeypatch.setenv("GPUFLEET_DATA", str(tmp_path / "env"))
    assert datadir.find_data_dir(tmp_path / "flag") == (tmp_path / "flag", "--data-dir")
    assert datadir.find_data_dir() == (tmp_path / "env", "GPUFLEET_DATA")
    monkeypatch.delenv("GPUFLEET_DATA")
    assert datadir.find_data_dir() == (beside, "the checkout's ../shared/traces")
    assert resolve_data_dir() == beside  # the CLI's loaders use the same rule
    monkeypatch.setattr(datadir, "checkout_traces", lambda: None)
    assert datadir.find_data_dir() == (None, "")
    with pytest.raises(TraceError, match="set GPUFLEET_DATA=/path/to/traces or pass --data-dir"):
        resolve_data_dir()


def test_a_named_folder_that_is_missing_is_named(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=f"data directory {tmp_path / 'nope'} does not exist \\(from --data-dir\\)"):
        resolve_data_dir(tmp_path / "nope")


def test_the_checkout_folder_is_shared_traces_beside_the_source_tree() -> None:
    root = Path(datadir.__file__).resolve().parents[3]
    found = datadir.checkout_traces()
    if (root.parent / "shared" / "traces").is_dir():
        assert found == root.parent / "shared" / "traces"
    else:
        assert found is None
