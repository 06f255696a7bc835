"""The one duration parser: '90s', '5m', '1h30m', '500ms', '2d', '1w' or plain seconds, to seconds."""

from __future__ import annotations

import math
import re

from gpufleet.core.errors import GpufleetError

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"\s*(?:(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ms|s|m|h|d|w)\s*)+")


def parse_duration(text: str | float, what: str = "duration", *, positive: bool = True) -> float:
    """Seconds in `text`: a number, or number-unit pairs added up (`1h30m`, `2m30s`, `500ms`). Errors are one
    line naming `what` (the option or field) and the text; `positive` also refuses zero."""
    if isinstance(text, int | float):
        v = float(text)
    else:
        t = text.strip().lower()
        try:
            v = float(t)
        except ValueError:
            if not t or not _WHOLE.fullmatch(t):
                raise GpufleetError(
                    f"{what} {text!r}: give seconds or a duration like 90s, 5m, 1h30m, 500ms, 2d"
                ) from None
            v = sum(float(n) * UNITS[u] for n, u in _PART.findall(t))
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise GpufleetError(f"{what} {text!r}: must be {'longer than zero' if positive else 'zero or more'}")
    return v
