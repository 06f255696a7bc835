"""PromQL text built from values a user or a cluster supplies: quoted, never spliced."""

from __future__ import annotations

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """`value` as a PromQL double-quoted string literal (Go escaping rules: backslash, quote, newlines).

    Inside the quotes braces, commas and `#` are plain characters, so a label value such as
    `a"} or vector(1) #` stays one value instead of ending the selector."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def matchers(labels: dict[str, str]) -> str:
    """`name="value",...` for a selector's braces, every value quoted."""
    for name in labels:
        if not (name.replace("_", "a").isalnum() and not name[0].isdigit()):
            raise ValueError(f"not a Prometheus label name: {name!r}")
    return ",".join(f"{name}={quote(v)}" for name, v in labels.items())
