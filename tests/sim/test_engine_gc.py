"""The event loop pauses the cyclic garbage collector and always switches it back on (decision 22)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from gpufleet.sim.engine import Engine


def test_gc_is_paused_during_the_loop_and_restored_after_it() -> None:
    seen: list[bool] = []

    def handle(t: float, payload: Any) -> list[tuple[float, int, Any]]:
        seen.append(gc.isenabled())
        return [(t + 1.0, 0, None)] if t < 3 else []

    assert gc.isenabled()
    engine = Engine({0: handle}, {0: 0})
    engine.push(0.0, 0)
    assert engine.run() == 3.0
    assert seen == [False, False, False, False] and gc.isenabled()


def test_gc_is_switched_back_on_when_a_handler_raises() -> None:
    def boom(t: float, payload: Any) -> list[tuple[float, int, Any]]:
        raise RuntimeError("handler failed")

    engine = Engine({0: boom}, {0: 0})
    engine.push(0.0, 0)
    with pytest.raises(RuntimeError):
        engine.run()
    assert gc.isenabled()


def test_a_loop_started_with_gc_off_leaves_it_off() -> None:
    engine = Engine({0: lambda t, p: []}, {0: 0})
    engine.push(0.0, 0)
    gc.disable()
    try:
        engine.run()
        assert not gc.isenabled()
    finally:
        gc.enable()
