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
