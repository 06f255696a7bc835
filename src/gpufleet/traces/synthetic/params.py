"""Turn a reader's loose overrides (`ctx.params`) into a validated synthetic config, or one clear error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ValidationError

from gpufleet.core.errors import TraceError, validation_line

M = TypeVar("M", bound=BaseModel)
_STRUCTURED = (dict, list, tuple)


def _parse_text(model: type[BaseModel], name: str, value: Any) -> Any:
    """CLI values arrive as text: read JSON for dict/list fields, and 'a,b' as a list of strings."""
    field = model.model_fields.get(name)
    if not isinstance(value, str) or field is None or get_origin(field.annotation) not in _STRUCTURED:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return [v.strip() for v in value.split(",") if v.strip()]


def config_from_params(
    model: type[M], params: Mapping[str, Any], ref: str, aliases: Mapping[str, str] | None = None
) -> M:
    """Build `model` from `params` (after renaming aliases such as n -> n_jobs); bad values raise TraceError."""
    aliases = aliases or {}
    values: dict[str, Any] = {}
    for key, value in params.items():
        name = aliases.get(key, key)
        if name in values:
            raise TraceError(f"{ref}: parameter {name!r} given twice (as {key!r} and as {name!r})")
        values[name] = _parse_text(model, name, value)
    try:
        return model.model_validate(values)
    except ValidationError as e:  # a check across parameters (a size bound) has no field: its message names them
        valid = list(model.model_fields) + list(aliases)
        raise TraceError(validation_line(e, ref, valid=valid, show_input=True)) from None
