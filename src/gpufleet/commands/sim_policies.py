"""The training-side policy options of `simulate`, `compare`, `tenancy` and `pack`: one `--set KIND.KEY=VALUE`.

A command that chooses several policy kinds takes their settings through one repeatable option, the key
prefixed with the kind's option (`--set scheduler.blocking=true`, `--set pool.target_wait_s=300`); each value
is JSON where it parses (numbers, true/false, lists), else text, and is validated by the chosen member's own
settings model. The option help names the members through PolicyHelp (`{policies:KIND}`), filled from the
registries when the help is shown.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gpufleet.commands.common import _json_or_text, checked_settings, key_values
from gpufleet.core.errors import GpufleetError

# The policy options' names (also SimConfig's fields) and the `gpufleet policies` kind each chooses from.
KIND_OF = {"scheduler": "scheduler", "placement": "placer", "predictor": "predictor", "pool": "pool-scaler"}

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KIND.KEY=VALUE",
        help="A setting of the chosen scheduler, placement, predictor or pool (KIND), e.g. scheduler.blocking=true"
        " or pool.target_wait_s=300; repeatable. `gpufleet policies --kind KIND` lists each member's settings.",
    ),
]


def sim_settings(items: list[str] | None, kinds: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """`--set KIND.KEY=VALUE` items as {kind: {key: value}} for the kinds this command chooses (`kinds`, a
    subset of KIND_OF); a missing or foreign kind is one line naming the item."""
    expected = "KIND.KEY=VALUE, e.g. scheduler.blocking=true"
    out: dict[str, dict[str, Any]] = {}
    for key, value in key_values(items, "--set", _json_or_text, expected).items():
        kind, dot, field = key.partition(".")
        if not dot or not field or kind not in kinds:
            raise GpufleetError(f"--set {key}=...: expected KIND.KEY=VALUE with KIND one of {', '.join(kinds)}")
        out.setdefault(kind, {})[field] = value
    return out


def checked(kind: str, name: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """{name, settings} of one member, its name and settings validated now (before any data is read): an unknown
    name or a bad setting is one line naming the kind, the member and the `--set` item."""
    given = dict(settings or {})
    typed = {k: f"--set {kind}.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in given.items()}
    return {"name": name, "settings": checked_settings(KIND_OF[kind], name, given, typed)}
