"""The policy recipe every member of every kind keeps (docs/architecture.md, "The policy recipe"), checked the
same way for each kind's contract module: a class with a strict pydantic `Settings` whose JSON schema is valid
and documents every field, a declared `learned`, every member of its kind's Protocol declared (never probed),
and `build(name)` with the default settings giving a fresh object each time.

Members are read from the registries when the tests are collected, so an installed plugin is covered too."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gpufleet.core.errors import SettingsError
from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.plan.policies import KINDS, registry


def members(kind: str) -> list[Any]:
    """pytest params, one per member of `kind`, with the member's name as the test id (`-k ljf` selects it)."""
    return [pytest.param(name, id=name) for name in registry(kind).names()]


def protocol_members(proto: type) -> set[str]:
    """The attributes and methods a Protocol declares (what a member must have, optional ones included)."""
    names = set(getattr(proto, "__annotations__", {}))
    names |= {n for n, v in vars(proto).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    return names | {"Settings", "learned"}


def check_recipe(kind: str, name: str, protocol: type, **context: Any) -> Any:
    """Assert the recipe for one member and return it built with its defaults (and the kind's `context`)."""
    assert kind in KINDS
    reg = registry(kind)
    assert isinstance(reg, PolicyRegistry), f"the {kind} registry is not a PolicyRegistry"
    cls = reg.get(name)
    assert inspect.isclass(cls)
    assert issubclass(cls.Settings, PolicySettings), "Settings derives from PolicySettings (strict, finite)"
    assert isinstance(cls.learned, bool)
    schema = cls.Settings.model_json_schema()
    Draft202012Validator.check_schema(schema)
    defaults = reg.settings(name)
    Draft202012Validator(schema).validate(defaults.model_dump(mode="json"))  # the defaults obey the schema
    for field, info in cls.Settings.model_fields.items():
        assert info.description, f"{name}: setting {field!r} has no description (it is the CLI/docs help)"
    with pytest.raises(SettingsError, match="no_such_setting"):
        reg.settings(name, {"no_such_setting": 1})
    a, b = reg.build(name, **context), reg.build(name, **context)
    assert a is not b and type(a) is cls
    # every Protocol member, optional ones included, is there: callers never probe with getattr
    missing = sorted(m for m in protocol_members(protocol) if not hasattr(a, m))
    assert not missing, f"{name} does not declare {missing} of the {kind} Protocol"
    described = reg.describe(name)
    assert described["name"] == name and described["settings"] == schema and described["summary"]
    return a
