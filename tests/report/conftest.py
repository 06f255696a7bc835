"""One demo run shared by the report tests of a worker (the dashboard tests have their own: a run takes ~40 s,
and only a session that runs both folders pays it twice)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gpufleet.plan.demo import run_demo

    out = tmp_path_factory.mktemp("runs") / "demo"
    run_demo(out, progress=False)
    return out
