"""`gpufleet policies`: every member of every policy kind with its settings, read from the registries themselves.

The same rows make docs/policies.md (`python -m gpufleet.commands.policies docs/policies.md`), so the docs'
policy tables cannot drift from the code: a test regenerates the file and compares.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpufleet.commands.common import JsonOpt, emit_json, err, handles_errors, out
from gpufleet.core.errors import GpufleetError

if TYPE_CHECKING:
    from rich.table import Table

    from gpufleet.core.registry import Registry

# The one map from a kind's name to its registry ("module:ATTRIBUTE"), imported only when a kind is read, so
# that `gpufleet --help` loads none of the policy modules (and their numpy/polars).
KINDS: dict[str, str] = {
    "scheduler": "gpufleet.sim.schedulers:SCHEDULERS",
    "placer": "gpufleet.optimizer.packing:PLACERS",
    "predictor": "gpufleet.forecasting.runtime:PREDICTORS",
    "pool-scaler": "gpufleet.optimizer.autoscaling.pools:POOL_SCALERS",
    "forecaster": "gpufleet.forecasting.series:FORECASTERS",
    "autoscaler": "gpufleet.optimizer.autoscaling:AUTOSCALERS",
    "rightsizer": "gpufleet.optimizer.rightsizing:RIGHTSIZERS",
}

BUILTIN = "gpufleet"  # core.registry.BUILTIN, repeated here so that this module's import stays light


def kind_name(text: str) -> str:
    """The KINDS key `text` names (`pool scaler`, `pool_scaler` and plurals accepted); one line if none."""
    key = text.strip().lower().replace("_", "-").replace(" ", "-")
    for k in (key, key.removesuffix("s")):
        if k in KINDS:
            return k
    raise GpufleetError(f"--kind {text!r}: unknown kind; valid: {', '.join(KINDS)}")


def registry(kind: str) -> Registry[Any]:
    """The registry of `kind` (a KINDS key), imported now."""
    module, attr = KINDS[kind].split(":")
    reg: Registry[Any] = getattr(importlib.import_module(module), attr)
    return reg


def describe(kind: str, name: str) -> dict[str, Any]:
    """One member as `PolicyRegistry.describe` gives it (a kind not yet on PolicyRegistry: no settings schema)."""
    import inspect

    from gpufleet.core.registry import PolicyRegistry

    reg = registry(kind)
    if isinstance(reg, PolicyRegistry):
        return reg.describe(name)
    doc = inspect.getdoc(reg.get(name)) or ""
    learned = getattr(reg.get(name), "learned", None)
    return {
        "kind": reg.kind,
        "name": name,
        "summary": doc.split("\n\n")[0].replace("\n", " ").strip(),
        "learned": learned if isinstance(learned, bool) else None,
        "origin": reg.origin(name),
        "settings": None,
    }


def members(kinds: list[str], builtin_only: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Every member of `kinds` described, and one line per plugin that could not be loaded."""
    rows: list[dict[str, Any]] = []
    broken: list[str] = []
    for kind in kinds:
        reg = registry(kind)
        broken += [f"{reg.kind} {why}" for why in reg.broken().values()]
        for name in reg.names():
            row = describe(kind, name)
            if not builtin_only or row["origin"] == BUILTIN:
                rows.append(row)
    return rows, broken


def settings_rows(schema: dict[str, Any] | None) -> list[dict[str, str]]:
    """A settings JSON schema as one row per setting: name, type, default, bounds, description (all text)."""
    if not schema:
        return []
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        default = "(required)" if name in required else json.dumps(prop.get("default"))
        rows.append(
            {
                "name": name,
                "type": _type(prop, defs),
                "default": default,
                "bounds": _bounds(prop, defs),
                "description": " ".join(str(prop.get("description", "")).split()),
            }
        )
    return rows


_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "none", "object": "map"}


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    return defs.get(str(ref).rsplit("/", 1)[-1], {}) if ref else prop


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    prop = _resolve(prop, defs)
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        return " | ".join(_type(p, defs) for p in prop["anyOf"])
    t = prop.get("type")
    if t == "array":
        return f"list[{_type(prop.get('items', {}), defs)}]"
    if t == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map[str, {_type(prop['additionalProperties'], defs)}]"
    if isinstance(t, list):
        return " | ".join(_TYPES.get(str(x), str(x)) for x in t)
    return _TYPES.get(str(t), "any") if t else "any"


def _bounds(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    parts = []
    for p in [prop, *prop.get("anyOf", [])]:
        p = _resolve(p, defs)
        for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if key in p:
                parts.append(f"{op} {p[key]:g}" if isinstance(p[key], int | float) else f"{op} {p[key]}")
    return ", ".join(parts)


def table(kind: str, rows: list[dict[str, Any]]) -> Table:
    """One kind's members as a rich table that reads at 80 columns (settings listed under each summary)."""
    from rich.markup import escape
    from rich.table import Table

    reg = registry(kind)
    t = Table(title=f"{kind}s (plugins: {reg.plugins or 'none'})", show_lines=True, expand=False)
    t.add_column("name", no_wrap=True)
    t.add_column("learned", no_wrap=True)
    t.add_column("what it does; settings")
    for row in rows:
        name = f"[bold]{escape(row['name'])}[/bold]"
        lines = [escape(row["summary"])]
        if row["origin"] != BUILTIN:  # under the summary: a distribution's name would widen the name column
            lines.append(f"[magenta]plugin from {escape(row['origin'])}[/magenta]")
        if row["settings"] is None:
            lines.append("[dim](settings not declared yet)[/dim]")
        for s in settings_rows(row["settings"]):
            bounds = f", {s['bounds']}" if s["bounds"] else ""
            lines.append(f"[cyan]{escape(s['name'])}[/cyan]: {escape(s['type'])} = {escape(s['default'])}{bounds}")
            if s["description"]:
                lines.append(f"[dim]{escape(s['description'])}[/dim]")
        learned = {True: "yes", False: "no", None: "?"}[row["learned"]]
        t.add_row(name, learned, "\n".join(lines))
    return t


def markdown(rows: list[dict[str, Any]]) -> str:
    """docs/policies.md: one table per kind (name, summary, learned, settings with defaults), from `rows`."""
    head = [
        "# Policies",
        "",
        "<!-- Generated by `python -m gpufleet.commands.policies docs/policies.md` from the registries; a test"
        " fails when this file is stale. Do not edit by hand. -->",
        "",
        "Every member of every policy kind that ships with gpufleet, with its settings (name: type = default,"
        " bounds). `gpufleet policies [--kind K] [--json]` prints the same, plugins included; docs/plugins.md"
        " shows how to add a member of your own.",
    ]
    body: list[str] = []
    for kind in KINDS:
        mine = [r for r in rows if kind_name(r["kind"]) == kind]
        if not mine:
            continue
        body += [
            "",
            f"## {kind}s",
            "",
            f"Registry `{KINDS[kind]}`, plugin entry-point group `{registry(kind).plugins}`.",
            "",
        ]
        body += ["| name | what it does | learned | settings |", "|---|---|---|---|"]
        for r in mine:
            settings = "<br>".join(
                f"`{s['name']}`: {s['type']} = `{s['default']}`"
                + (f" ({s['bounds']})" if s["bounds"] else "")
                + (f" — {s['description']}" if s["description"] else "")
                for s in settings_rows(r["settings"])
            )
            cells = [f"`{r['name']}`", r["summary"], "yes" if r["learned"] else "no", settings or "—"]
            body.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(head + body) + "\n"


@handles_errors
def policies_cmd(
    kind: Annotated[
        str | None, typer.Option("--kind", help=f"Only this kind: {', '.join(KINDS)}.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List every member of every policy kind (plugins included) with its settings: name, type, default,
    bounds and help."""
    kinds = [kind_name(kind)] if kind is not None else list(KINDS)
    rows, broken = members(kinds)
    for line in broken:  # a broken plugin is reported, never fatal: every other member stays usable
        err.print(f"[yellow]warning:[/yellow] {line}", markup=True, soft_wrap=True, highlight=False)
    if as_json:
        emit_json(rows)
        return
    for k in kinds:
        out.print(table(k, [r for r in rows if kind_name(r["kind"]) == k]))


def write_markdown(path: Path) -> None:
    """Write docs/policies.md for the built-in members (atomically: the old file or the new one)."""
    import os
    import tempfile

    rows, _ = members(list(KINDS), builtin_only=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(markdown(rows))
    os.replace(tmp, path)


if __name__ == "__main__":
    write_markdown(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/policies.md"))
