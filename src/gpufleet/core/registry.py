"""Registry[T]: explicit, named registration of policies and readers (one per policy kind).

PolicyRegistry is the one recipe every policy kind follows (docs/architecture.md, "The policy recipe"): a
member is a class that declares a pydantic `Settings` model and whether it is `learned`, and is built by
`build(name, settings)` and nothing else. Third-party members join through an entry-point group
(docs/plugins.md): they are loaded the first time the registry is read, so importing gpufleet costs nothing
for them and a broken plugin is reported by name instead of breaking every command.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpufleet.core.errors import RegistryError, SettingsError, validation_line

T = TypeVar("T")
P = TypeVar("P")

BUILTIN = "gpufleet"  # the origin of members that ship with gpufleet


class Registry(Generic[T]):
    """A named collection of implementations; duplicates raise, misses list the valid names.

    `plugins` names an entry-point group (e.g. `gpufleet.schedulers`) whose entries are added, once, the first
    time the registry is read."""

    def __init__(self, kind: str, plugins: str | None = None) -> None:
        self.kind = kind
        self.plugins = plugins
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._broken: dict[str, str] = {}  # plugin name -> why it could not be added
        self._loaded = plugins is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its target under `name`; a second use of the same name raises."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T, origin: str = BUILTIN) -> None:
        """Register `obj` under `name` without a decorator; `origin` is the distribution it comes from."""
        if not name or name != name.strip():
            raise RegistryError(f"{self.kind}: invalid name {name!r}")
        if name in self._items:
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {self._origin[name]})")
        self.check(name, obj)
        self._items[name] = obj
        self._origin[name] = origin

    def check(self, name: str, obj: T) -> None:
        """What a member must be to join; nothing for a plain registry."""

    def _load_plugins(self) -> None:
        """Add the entry points of this registry's group once; a plugin that fails is kept out and reported."""
        if self._loaded:
            return
        self._loaded = True  # first: a plugin that reads the registry while loading must not recurse
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.plugins or ""):
            dist = ep.dist.name if ep.dist is not None else "?"
            try:
                self.add(ep.name, ep.load(), origin=dist)
            except Exception as e:  # a third party's bug: say whose, keep every other member usable
                self._broken[ep.name] = f"plugin {ep.name!r} ({ep.value}, from {dist}) was not loaded: {_one(e)}"

    def get(self, name: str) -> T:
        """Return the member called `name`, or raise with the valid names and a close match."""
        self._load_plugins()
        try:
            return self._items[name]
        except KeyError:
            if name in self._broken:
                raise RegistryError(f"{self.kind} {self._broken[name]}") from None
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}; valid: {valid}{hint}") from None

    def origin(self, name: str) -> str:
        """The distribution a member comes from (`gpufleet` for the built-ins)."""
        self.get(name)
        return self._origin[name]

    def broken(self) -> dict[str, str]:
        """Plugins of this group that could not be added, with the reason (one line each)."""
        self._load_plugins()
        return dict(self._broken)

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first, then plugins)."""
        self._load_plugins()
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, member) pairs in registration order."""
        self._load_plugins()
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._items)


class PolicySettings(BaseModel):
    """Base of every member's settings: declared fields only (an attribute of the object is not a setting),
    finite numbers; each field's description is its help in the CLI, the dashboard and the docs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PolicyChoice(BaseModel):
    """One member of a policy kind as a config file names it: its registry name and its settings (a plain name:
    the member with its default settings). Checked against the member when it is built."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the member's registry name")
    settings: dict[str, Any] = Field(default_factory=dict, description="the member's settings (its Settings model)")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v


class Policy(Protocol):
    """What every member of every policy kind declares, beyond its kind's own Protocol."""

    Settings: ClassVar[type[PolicySettings]]
    learned: ClassVar[bool]  # True: it is fitted on data before it decides (a model, not a rule)


class PolicyRegistry(Registry[type[P]]):
    """The registry of one policy kind: members declare `Settings` and `learned`; `build` is the one factory.

    A member's constructor takes its validated settings first, then the run's context by keyword (a seed,
    guardrails) that is not the policy's to choose. `flags` names further class-level booleans the kind's
    Protocol declares (e.g. `sees_future`): every member declares them, `describe` lists them."""

    def __init__(
        self,
        kind: str,
        plugins: str | None = None,
        flags: tuple[str, ...] = (),
        complete: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(kind, plugins)
        self.flags = flags
        # gives a built member what the kind's Protocol gained after plugins were written against it (the
        # kind's defaults), so an older plugin keeps working: e.g. sim/schedulers/base.py:completed
        self.complete = complete

    def check(self, name: str, obj: type[P]) -> None:
        """A member is a class with a pydantic Settings model, a declared `learned` and the kind's flags."""
        settings = getattr(obj, "Settings", None)
        if not inspect.isclass(obj) or not (inspect.isclass(settings) and issubclass(settings, BaseModel)):
            raise RegistryError(f"{self.kind} {name!r}: a member is a class with a pydantic `Settings` model")
        for flag in ("learned", *self.flags):
            if not isinstance(getattr(obj, flag, None), bool):
                raise RegistryError(f"{self.kind} {name!r}: a member declares `{flag}: bool`")

    def having(self, flag: str) -> list[str]:
        """The members whose declared boolean `flag` (`learned` or one of `flags`) is true, in registration order."""
        if flag != "learned" and flag not in self.flags:
            declared = ", ".join(("learned", *self.flags))
            raise RegistryError(f"{self.kind}: members declare no {flag!r} (declared: {declared})")
        return [n for n, cls in self.items() if getattr(cls, flag)]

    def settings_model(self, name: str) -> type[PolicySettings]:
        """The member's settings model."""
        model: type[PolicySettings] = self.get(name).Settings  # type: ignore[attr-defined]
        return model

    def settings(self, name: str, values: BaseModel | Mapping[str, Any] | None = None) -> PolicySettings:
        """`values` validated by the member's model; SettingsError (one line naming the field) when they are not."""
        model = self.settings_model(name)
        if isinstance(values, model):
            return values
        if isinstance(values, BaseModel):
            values = values.model_dump(exclude_unset=True)
        try:
            return model.model_validate(dict(values or {}))
        except ValidationError as e:
            raise SettingsError(validation_line(e, f"{self.kind} {name!r}", valid=list(model.model_fields))) from None

    def build(self, name: str, settings: BaseModel | Mapping[str, Any] | None = None, **context: Any) -> P:
        """A fresh member (no state shared between runs), its settings validated by its own model."""
        cls = self.get(name)
        member = cls(self.settings(name, settings), **context)  # type: ignore[call-arg]
        return self.complete(member) if self.complete is not None else member

    def describe(self, name: str) -> dict[str, Any]:
        """One member as JSON: kind, name, one-line summary, learned, origin and the settings' JSON schema."""
        cls = self.get(name)
        doc = inspect.getdoc(cls) or ""
        return {
            "kind": self.kind,
            "name": name,
            "summary": doc.split("\n\n")[0].replace("\n", " ").strip(),
            "learned": bool(cls.learned),  # type: ignore[attr-defined]
            **{flag: bool(getattr(cls, flag)) for flag in self.flags},
            "origin": self._origin[name],
            "settings": self.settings_model(name).model_json_schema(),
        }


def _one(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
