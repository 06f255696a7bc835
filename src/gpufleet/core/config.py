"""Reading users' settings files: YAML checked as a pydantic model, JSON objects, text, each error one line
naming the file and the field. (The synthetic generators' settings live in traces/synthetic/config.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def read_yaml_model(path: str | Path, model: type[M], option: str = "") -> M:
    """A settings file (collector.yaml, hook.yaml, a tenancy file) read and checked as `model`; errors are
    one line naming the file (after `option`, the flag that gave it, when there is one) and the field.
    A local file read with pathlib: no I/O library, as core's rule asks."""
    p = Path(path)
    return parse_yaml_model(read_user_text(p, option), model, f"{option + ' ' if option else ''}{p}")


def read_user_text(path: Path, option: str = "") -> str:
    """A user's text file (UTF-8); a missing, unreadable or binary one is one line naming the file (after
    `option`, the flag that gave it) and, for bytes that are not UTF-8, the line they are on."""
    from gpufleet.core.errors import GpufleetError, brief

    where = f"{option + ' ' if option else ''}{path}"
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise GpufleetError(f"{where}: is a directory, not a file") from None
    except OSError as e:
        raise GpufleetError(f"{where}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise GpufleetError(f"{where}: {brief(e)}") from None


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold one object (a run's summary, a saved model); a damaged one is one line
    naming the file and saying it is not `what`."""
    import json

    from gpufleet.core.errors import GpufleetError

    text = read_user_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise GpufleetError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); not {what}") from None
    if not isinstance(doc, dict):
        raise GpufleetError(f"{path}: not {what} (a JSON object is expected)")
    return doc


def parse_yaml_model(text: str, model: type[M], where: str) -> M:
    """A YAML document checked as `model`; errors are one line naming `where` (the file) and the field."""
    import yaml

    from gpufleet.core.errors import GpufleetError, brief

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GpufleetError(f"{where}: not valid YAML ({brief(e)})") from None
    return validate_model(raw, model, where)


def validate_model(raw: Any, model: type[M], where: str) -> M:
    """Parsed settings checked as `model`; errors are one line naming `where` and the first bad field."""
    from pydantic import ValidationError

    from gpufleet.core.errors import SettingsError, validation_line

    try:
        return model.model_validate(raw or {})
    except ValidationError as e:
        raise SettingsError(validation_line(e, where)) from None
