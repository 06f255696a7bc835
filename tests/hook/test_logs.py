"""The log setup of the long-running commands (commands/logs.py, #24 point 6) and stderr without Rich wrapping:
- JSON: one object per line with time/level/logger/message and the extra fields; a traceback stays inside its
  line; credentials in a message are redacted; text: one plain line with the extra fields after it;
- the default follows $GPUFLEET_LOG_FORMAT, else the terminal; a bad value is one line and exit 2;
- a command's error, once it logs JSON, is a JSON line too; the setup ends with the command (the next one in
  the same process starts bare);
- the stderr console does not wrap at 80 columns when stderr is a pipe (a real process)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.commands import logs


@pytest.fixture
def clean() -> Iterator[None]:
    yield
    logs.teardown()


def test_json_lines_carry_the_fields_and_stay_one_line(clean: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert logs.setup("json") == "json" and logs.json_active()
    log = logging.getLogger("gpufleet.hook.engine")
    log.info("llm/chat: ok: 3 -> 7", extra={"workload": "llm/chat", "decision_id": "abc123"})
    log.warning("query to http://alice:s3cret@prom:9090/api failed")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("decision loop failed")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    first, second, third = (json.loads(x) for x in lines)
    assert {k: first[k] for k in ("level", "logger", "message", "workload", "decision_id")} == {
        "level": "INFO",
        "logger": "gpufleet.hook.engine",
        "message": "llm/chat: ok: 3 -> 7",
        "workload": "llm/chat",
        "decision_id": "abc123",
    }
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert "s3cret" not in second["message"] and "prom:9090" in second["message"]
    assert third["level"] == "ERROR" and "ValueError: boom" in third["exc_info"]


def test_text_lines_are_plain(clean: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("text")
    assert not logs.json_active()
    logging.getLogger("gpufleet.hook").warning("llm/chat: stale", extra={"workload": "llm/chat", "decision_id": "d1"})
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("WARNING llm/chat: stale [workload=llm/chat decision_id=d1]"), line


def test_default_and_bad_values(clean: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(logs.ENV, "TEXT")
    assert logs.resolve(None) == "text" and logs.resolve("json") == "json", "the option wins over the variable"
    monkeypatch.setenv(logs.ENV, "")
    assert logs.resolve(None) == ("text" if sys.stderr.isatty() else "json")
    monkeypatch.setenv(logs.ENV, "xml")
    res = CliRunner().invoke(app, ["hook", "serve", "--config", str(tmp_path / "hook.yaml")])
    assert res.exit_code == 2 and res.stderr.strip() == "error: $GPUFLEET_LOG_FORMAT='xml': give json or text"
    res = CliRunner().invoke(app, ["hook", "serve", "--config", "x.yaml", "--log-format", "xml"])
    assert res.exit_code == 2 and "--log-format" in res.stderr


def test_an_error_after_setup_is_a_json_line_and_the_setup_ends_with_the_command(
    clean: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(logs.ENV, "json")
    res = CliRunner().invoke(app, ["hook", "serve", "--config", str(tmp_path / "missing.yaml")])
    (line,) = res.stderr.splitlines()
    rec = json.loads(line)
    assert res.exit_code == 2 and rec["level"] == "ERROR" and "missing.yaml" in rec["message"], rec
    assert not logs.json_active() and not any(isinstance(h, logs.StderrHandler) for h in logging.getLogger().handlers)
    res = CliRunner().invoke(app, ["cost", "--prices", str(tmp_path / "nope.yaml")])  # a plain command after it
    assert res.exit_code == 2 and res.stderr.startswith("error: "), res.stderr


def test_stderr_console_does_not_wrap_when_piped() -> None:
    code = "from gpufleet.commands.common import err; err.print('word ' * 60 + 'end'); err.print('[x] ' + 'y' * 200)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].endswith("end") and lines[1].endswith("y" * 200), lines
