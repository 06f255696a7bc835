"""`gpufleet policies` (issue #22 point 2): every member of every kind with its settings, a table that reads at
80 columns, --json as PolicyRegistry.describe objects, and docs/policies.md generated from the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.commands.policies import kind_name, markdown, settings_rows, table
from gpufleet.plan.policies import KINDS, members, registry

runner = CliRunner()
DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def test_json_lists_every_member_of_every_kind() -> None:
    res = runner.invoke(app, ["policies", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    expected = {(registry(k).kind, name) for k in KINDS for name in registry(k).names()}
    assert {(r["kind"], r["name"]) for r in rows} == expected
    assert len(rows) == len(expected)
    for r in rows:
        flags = set(getattr(registry(kind_name(r["kind"])), "flags", ()))  # a kind's declared booleans
        assert set(r) == {"kind", "name", "summary", "learned", "origin", "settings"} | flags
        assert all(isinstance(r[f], bool) for f in flags)
        assert r["summary"] and "\n" not in r["summary"]
    assert {r["name"] for r in rows if r.get("sees_future")} == {"oracle"}  # the predictor and the autoscaler


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_filter_lists_that_kind_only(kind: str) -> None:
    res = runner.invoke(app, ["policies", "--kind", kind, "--json"])
    assert res.exit_code == 0, res.output
    assert [r["name"] for r in json.loads(res.stdout)] == registry(kind).names()


def test_kind_spellings() -> None:
    for spelling in ("pool scaler", "pool_scaler", "pool-scalers", "Schedulers"):
        assert runner.invoke(app, ["policies", "--kind", spelling, "--json"]).exit_code == 0, spelling


def test_unknown_kind_is_one_line_listing_the_kinds() -> None:
    res = runner.invoke(app, ["policies", "--kind", "schedular"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "'schedular'" in lines[0]
    assert all(k in lines[0] for k in KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
def test_table_reads_at_80_columns(kind: str) -> None:
    rows, _ = members([kind])
    console = Console(width=80, record=True, color_system=None)
    console.print(table(kind, rows))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for r in rows:  # every name and setting name whole
        assert r["name"] in text
        for s in settings_rows(r["settings"]):
            assert s["name"] in text


def test_settings_rows_read_types_defaults_and_bounds() -> None:
    from typing import Literal

    from pydantic import Field

    from gpufleet.core.registry import PolicySettings

    class S(PolicySettings):
        rate: float = Field(0.5, gt=0, le=1, description="a share\n  of something")
        mode: Literal["a", "b"] = Field("a", description="which")
        cap: int | None = Field(None, ge=1, description="optional cap")
        tags: list[str] = Field(default_factory=list, description="labels")

    rows = {r["name"]: r for r in settings_rows(S.model_json_schema())}
    assert rows["rate"] == {
        "name": "rate",
        "type": "float",
        "default": "0.5",
        "bounds": "> 0, <= 1",
        "description": "a share of something",
    }
    assert rows["mode"]["type"] == '"a" | "b"' and rows["mode"]["default"] == '"a"'
    assert rows["cap"]["type"] == "int | none" and rows["cap"]["bounds"] == ">= 1" and rows["cap"]["default"] == "null"
    assert rows["tags"]["type"] == "list[str]"


def test_docs_policies_md_is_generated_from_the_registries() -> None:
    """Fails when a member, a summary or a setting changed and docs/policies.md was not regenerated
    (`python -m gpufleet.commands.policies docs/policies.md`)."""
    rows, _ = members(list(KINDS), builtin_only=True)
    assert DOC.read_text(encoding="utf-8") == markdown(rows), (
        "docs/policies.md is stale: run `python -m gpufleet.commands.policies docs/policies.md`"
    )


def test_docs_policies_md_names_every_builtin_member() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in KINDS:
        reg = registry(kind)
        for name in reg.names():
            if reg.origin(name) == "gpufleet":
                assert f"| `{name}` |" in text, (kind, name)


def test_every_kind_is_on_the_recipe_and_listed_with_its_settings_schema() -> None:
    """Each kind's registry is a PolicyRegistry, and `policies --json` gives every member its settings' JSON
    schema (the expectations come from the registries, not from a list written here)."""
    from gpufleet.core.registry import PolicyRegistry

    res = runner.invoke(app, ["policies", "--json"])
    assert res.exit_code == 0, res.output
    listed = {(r["kind"], r["name"]): r for r in json.loads(res.stdout)}
    for kind in KINDS:
        reg = registry(kind)
        assert isinstance(reg, PolicyRegistry), f"{kind}: {type(reg).__name__}, not a PolicyRegistry"
        assert reg.plugins == f"gpufleet.{kind.replace('-', '_')}s", f"{kind}: entry-point group {reg.plugins}"
        assert reg.names(), kind
        for name in reg.names():
            row = listed[reg.kind, name]
            assert row["settings"] == reg.settings_model(name).model_json_schema()
            assert row["settings"]["type"] == "object" and isinstance(row["learned"], bool)
