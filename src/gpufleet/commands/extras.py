"""Which extra (`pip install 'gpufleet[X]'`) a command needs, and the one line that says so when it is missing.

The base install carries what every command shares; each deployable part adds an extra (pyproject.toml,
docs/packaging.md). A command run without its extra stops before any work with exit code 2 and
`gpufleet dashboard needs the dashboard extra: pip install 'gpufleet[dashboard]'`, never a traceback.
"""

from __future__ import annotations

import importlib.util

from gpufleet.core.errors import GpufleetError

_SIM = ("pandas", "lightgbm", "xgboost", "lifelines", "prophet", "scipy", "plotly", "kaleido")

# The modules each extra's code paths import, as import names (pyproject.toml lists them as distributions;
# tests/packaging/test_extras.py holds the two together). Order matters: a module missing under a command
# that declares no extra is blamed on the first extra listing it.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "sim": _SIM,
    "hook": (
        "fastapi",
        "uvicorn",
        "grpc",
        "google.protobuf",
        "prometheus_client",
        "prometheus_api_client",
        "kubernetes",
    ),
    "collector": ("prometheus_client", "prometheus_api_client", "kubernetes", "pynvml"),
    "dashboard": ("streamlit", "pyarrow", *_SIM),
    "ray": ("ray",),
}


# Commands that need an extra, by their first word (`gpufleet collect run` -> collector): checked before the
# command runs, so a missing library is one line even where the code would import it late (a thread, a
# fallback that reads ImportError as "no NVML here", Streamlit started by exec). Other commands name the extra
# that installs the module whose import failed.
COMMAND_EXTRA: dict[str, str] = {
    "hook": "hook",
    "doctor": "hook",
    "collect": "collector",
    "exporter": "collector",
    "dashboard": "dashboard",
}


class MissingExtraError(GpufleetError):
    """The install lacks the extra a command needs; the message names it and how to install it."""

    def __init__(self, command: str, extra: str) -> None:
        self.command, self.extra = command, extra
        super().__init__(f"{command} needs the {extra} extra: pip install 'gpufleet[{extra}]'")


def _command() -> str:
    """The command being run (`gpufleet hook serve`), or `gpufleet` outside a click context."""
    from typer._click.globals import get_current_context  # typer's own copy of click (see cli.py)

    words, ctx = [], get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None:  # the root's name is argv[0] (`python -m ...`): skipped
        words.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["gpufleet", *words])


def _installed(module: str) -> bool:
    """Whether `module` can be imported here (found, not imported: no import cost)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def require_extra(extra: str, command: str | None = None) -> None:
    """Stop with one line (MissingExtraError, exit 2) unless every module of `extra` is installed."""
    if not all(_installed(m) for m in EXTRA_MODULES[extra]):
        raise MissingExtraError(command or _command(), extra)


def require_command_extra() -> None:
    """Stop with one line unless the extra of the command being run (COMMAND_EXTRA) is installed."""
    command = _command()
    words = command.split()
    extra = COMMAND_EXTRA.get(words[1] if len(words) > 1 else "")
    if extra is not None:
        require_extra(extra, command)


def extra_for(missing: str, prefer: str | None = None) -> str | None:
    """The extra that installs module `missing` (a ModuleNotFoundError's name): `prefer` if it does, else the
    first that does; None for a module no extra provides."""
    top = missing.split(".")[0]
    owners = [x for x, mods in EXTRA_MODULES.items() if any(m.split(".")[0] == top for m in mods)]
    if not owners:
        return None
    return prefer if prefer in owners else owners[0]


def missing_extra(e: ModuleNotFoundError, command: str | None = None) -> Exception:
    """The one-line error for an import that failed because an extra is not installed; `e` itself for a
    module no extra provides (a broken install: an internal error, not bad input)."""
    cmd = command or _command()
    words = cmd.split()
    prefer = COMMAND_EXTRA.get(words[1] if len(words) > 1 else "")
    extra = extra_for(e.name or "", prefer)
    return e if extra is None else MissingExtraError(cmd, extra)
