"""The one duration parser (core/durations.py) every option and config file goes through."""

from __future__ import annotations

import pytest

from gpufleet.core.durations import parse_duration
from gpufleet.core.errors import GpufleetError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2m30s", 150),
        ("500ms", 0.5),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5h", 5400),
        ("45", 45),
        (" 10 m ", 600),
        (30, 30),
        ("1H", 3600),
    ],
)
def test_durations_in_every_spelling(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "5x", "h", "1h 30", "-5m", "inf", "nan", "0", "0s"])
def test_bad_or_empty_durations_are_one_line_naming_the_option(text: str) -> None:
    with pytest.raises(GpufleetError, match=r"^--every "):
        parse_duration(text, "--every")


def test_zero_when_allowed() -> None:
    assert parse_duration("0", positive=False) == 0.0
    with pytest.raises(GpufleetError, match="zero or more"):
        parse_duration("-1", positive=False)
