"""Logging for the long-running commands (hook serve, collect run, exporter, dashboard): the library modules log
through stdlib `logging` (`logging.getLogger(__name__)`, with `extra={"workload": ..., "decision_id": ...}`
where they apply); this module, at the edge, decides how the lines look.

- `json`: one JSON object per line on stderr (python-json-logger): `time` (ISO 8601, UTC), `level`, `logger`,
  `message`, then any extra fields (`workload`, `decision_id`, ...); a traceback is one `exc_info` string
  field, so a line is always one object. What a log pipeline in a cluster parses.
- `text`: `HH:MM:SS LEVEL message [key=value ...]`, one line per event, for a person at a terminal.
Default: $GPUFLEET_LOG_FORMAT, else `text` when stderr is a terminal and `json` otherwise (a pod, a pipe).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer

from gpufleet.core.errors import GpufleetError
from gpufleet.core.redact import redact

ENV = "GPUFLEET_LOG_FORMAT"
FORMATS = ("json", "text")
# LogRecord's own attributes: whatever else a record carries came in through `extra`
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_active: dict[str, Any] = {}  # what setup() installed in this process: format, and the root level it replaced

LogFormatOpt = Annotated[
    Literal["json", "text"] | None,
    typer.Option(
        "--log-format",
        help=f"Log lines on stderr: json (one object per line) or text. Default: ${ENV}, else text on a terminal"
        " and json otherwise.",
    ),
]


def _utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    class Formatter(JsonFormatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
            return _utc(record)

        def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
            # no credential reaches a log, whoever wrote the message (#21)
            for k in ("message", "exc_info"):
                if isinstance(log_record.get(k), str):
                    log_record[k] = redact(log_record[k])
            return log_record

    return Formatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


class TextFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL message [workload=... decision_id=...]` (UTC), one line per event."""

    def format(self, record: logging.LogRecord) -> str:
        """One line (a traceback, when there is one, follows on its own lines)."""
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        line = f"{datetime.fromtimestamp(record.created, UTC):%H:%M:%S} {record.levelname} {record.getMessage()}"
        line = redact(line + (f" [{extra}]" if extra else ""))
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a test runner swaps it; a closed one is never kept)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        """The current sys.stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def resolve(fmt: str | None) -> str:
    """The format to use: the option, else $GPUFLEET_LOG_FORMAT, else text on a terminal and json otherwise."""
    if fmt is None:
        env = os.environ.get(ENV, "").strip().lower()
        if env and env not in FORMATS:
            raise GpufleetError(f"${ENV}={env!r}: give json or text")
        fmt = env or ("text" if sys.stderr.isatty() else "json")
    return fmt


def setup(fmt: str | None, level: int = logging.INFO) -> str:
    """Route every logger (ours, uvicorn's, warnings) to one stderr handler in the chosen format; returns it."""
    chosen = resolve(fmt)
    handler = StderrHandler()
    handler.setFormatter(_json_formatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):  # a second call (tests in one process) replaces ours, never doubles the lines
        if isinstance(h, StderrHandler):
            root.removeHandler(h)
    root.addHandler(handler)
    _active.setdefault("level", root.level)
    _active["format"] = chosen
    root.setLevel(level)
    logging.captureWarnings(True)  # urllib3's and the kubernetes client's warnings as log lines too
    return chosen


def teardown() -> None:
    """Remove what setup() installed (a no-op when it did not run)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, StderrHandler):
            root.removeHandler(h)
    if _active:
        root.setLevel(_active["level"])
        logging.captureWarnings(False)
    _active.clear()


def json_active() -> bool:
    """Whether this process logs JSON lines (then a command's error line is one of them too)."""
    return _active.get("format") == "json"
