"""pyproject.toml's dependency lists, read as the packaging tests need them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_SELF = re.compile(r"^gpufleet\[(.+)\]$")


def dist_name(requirement: str) -> str:
    """The normalized distribution name of a requirement string."""
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def base_dists() -> set[str]:
    """What every install gets."""
    return {dist_name(r) for r in PROJECT["dependencies"]}


def extra_dists(extra: str) -> set[str]:
    """The distributions an extra installs beyond the base, its `gpufleet[...]` references followed."""
    out: set[str] = set()
    for req in PROJECT["optional-dependencies"][extra]:
        m = _SELF.match(req)
        if m:
            for sub in m.group(1).split(","):
                out |= extra_dists(sub.strip())
        else:
            out.add(dist_name(req))
    return out
