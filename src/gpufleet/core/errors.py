"""Errors meant for people: each one renders as a single line that says what was wrong and where."""

from __future__ import annotations


class GpufleetError(Exception):
    """Base of every error the CLI shows as one line with exit code 2 (bad input, unknown names)."""

    exit_code = 2


class SchemaError(GpufleetError):
    """A frame does not match its canonical table: names the table, the column and offending rows."""

    def __init__(
        self,
        table: str,
        column: str,
        problem: str,
        rows: list[int] | None = None,
        values: list[object] | None = None,
    ) -> None:
        self.table, self.column, self.problem = table, column, problem
        self.rows = rows or []
        self.values = values or []
        where = ""
        if self.rows:
            shown = ", ".join(
                f"{r}={v!r}" if i < len(self.values) else str(r)
                for i, (r, v) in enumerate(zip(self.rows, self.values + [None] * len(self.rows), strict=False))
            )
            where = f" (first offending rows: {shown})"
        super().__init__(f"{table}.{column}: {problem}{where}")


class TraceError(GpufleetError):
    """A trace file is missing, unreadable or malformed; the message names the file, row and column."""


class UnknownReferenceError(GpufleetError):
    """A dataset reference or part does not exist; the message lists the valid ones."""


class RegistryError(GpufleetError):
    """A registry lookup missed or a name was registered twice."""


def brief(e: BaseException) -> str:
    """One line for a parser's exception: YAML errors as `line L, column C: problem`, undecodable bytes by
    their offset, anything else its first line (parsers' messages often run over several lines)."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:  # yaml.MarkedYAMLError, duck-typed: core imports no parser
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}, line {text_line(e)})"
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def text_line(e: UnicodeDecodeError) -> int:
    """The 1-based line of the byte that did not decode."""
    return bytes(e.object[: e.start]).count(b"\n") + 1


class SettingsError(GpufleetError):
    """Settings (a policy's, a config file's, an option's) failed validation; one line naming the field."""


def validation_line(
    e: Exception,
    where: str = "",
    option_of: dict[str, str] | None = None,
    valid: list[str] | None = None,
    show_input: bool = False,
) -> str:
    """The one formatter of a pydantic ValidationError (or any parser error) as one line: `where: field: problem`.

    `option_of` renames a field to what the user typed (a CLI option) when that differs; `valid` lists the
    accepted fields when the problem is an unknown one; `show_input` writes the field as `field=value` (for
    values the user typed as text, such as `-p n_jobs=-1`)."""
    from pydantic import ValidationError  # here: the module stays importable without pydantic loaded

    if not isinstance(e, ValidationError):
        return f"{where}: {brief(e)}" if where else brief(e)
    first = e.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    field = (option_of or {}).get(loc, loc)
    if show_input and field and first["type"] != "extra_forbidden" and "input" in first:
        field = f"{field}={first['input']!r}"
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = f"not a setting (valid: {', '.join(valid) or 'none'})" if valid is not None else "not a setting"
    return ": ".join(p for p in (where, field, msg) if p)
