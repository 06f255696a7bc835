"""Registry[T] and the clocks."""

from __future__ import annotations

import pytest

from gpufleet.core.clock import Clock, SimClock, WallClock
from gpufleet.core.errors import RegistryError
from gpufleet.core.registry import Registry


def test_register_get_and_order() -> None:
    reg: Registry[type] = Registry("placer")

    @reg.register("best-fit")
    class BestFit: ...

    reg.add("first-fit", int)
    assert reg.get("best-fit") is BestFit
    assert reg.names() == ["best-fit", "first-fit"]
    assert "first-fit" in reg and len(reg) == 2 and list(reg) == ["best-fit", "first-fit"]


def test_duplicate_name_raises() -> None:
    reg: Registry[int] = Registry("scheduler")
    reg.add("fifo", 1)
    with pytest.raises(RegistryError, match="scheduler 'fifo' is already registered"):
        reg.add("fifo", 2)
    assert reg.get("fifo") == 1


def test_miss_lists_valid_names_and_suggests() -> None:
    reg: Registry[int] = Registry("placer")
    reg.add("best-fit", 1)
    reg.add("worst-fit", 2)
    with pytest.raises(RegistryError) as e:
        reg.get("bst-fit")
    assert str(e.value) == "unknown placer 'bst-fit'; valid: best-fit, worst-fit; did you mean 'best-fit'?"


def test_bad_names_are_refused() -> None:
    reg: Registry[int] = Registry("x")
    for bad in ("", " a", "b "):
        with pytest.raises(RegistryError):
            reg.add(bad, 1)


def test_sim_clock_never_goes_back() -> None:
    c = SimClock(5.0)
    c.advance_to(5.0)
    c.advance_to(7.5)
    assert c.now() == 7.5
    with pytest.raises(ValueError, match="cannot go back"):
        c.advance_to(7.0)
    assert isinstance(c, Clock) and isinstance(WallClock(), Clock)
    assert WallClock().now() > 1.7e9
