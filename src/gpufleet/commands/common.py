"""What every command shares: consoles, root options, one-line errors, JSON output, reference loading."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from gpufleet.core.errors import GpufleetError, validation_line
from gpufleet.core.redact import redact

F = TypeVar("F", bound=Callable[..., Any])

# Wide enough for the comparison tables when the output is a file or a pipe (rich assumes 80 columns there).
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
# stderr carries messages, one event per line: never wrapped when it is not a terminal (a pod's log, a pipe)
err = Console(
    stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty(), width=None if sys.stderr.isatty() else 160
)


# Root options (--debug, --data-dir) of the command being run; a ContextVar keeps runs independent.
_ROOT: ContextVar[dict[str, Any]] = ContextVar("gpufleet_root_options")


def _root_opt(name: str) -> Any:
    """A root option of the command being run (None before the root callback ran)."""
    return _ROOT.get({}).get(name)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        metavar="FILE",
        help="Prices per GPU-hour (prices.yaml: per type, pool, on-demand/reserved/spot) merged over the built-in"
        " list prices (docs/cost.md).",
    ),
]
SkipOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad-rows",
        help="Drop unreadable rows (counted and reported) instead of stopping at the first one.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="Generator parameter KEY=VALUE for synthetic:* (e.g. n_jobs=20000)."
    ),
]

RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="local|ADDRESS",
        help="Run the replays as Ray tasks (needs gpufleet[ray]): 'local' starts a Ray runtime on this machine"
        " for the command and stops it after; an address (auto, HOST:6379, ray://HOST:10001) joins that cluster"
        " (see docs/scaling.md).",
    ),
]


MapOpt = Annotated[
    Path | None,
    typer.Option(
        "--map",
        help="YAML mapping a foreign schema onto the canonical one for file inputs (columns, units, timestamp"
        " formats, constants; see docs/data.md).",
    ),
]


TimeUnitOpt = Annotated[
    Literal["s", "ms", "us", "ns"] | None,
    typer.Option(
        "--time-unit",
        help="Unit of the numbers in time columns of file inputs (submit_time, duration, arrival_time, ts, ds):"
        " s, ms, us or ns. Default: seconds, and times only plausible in a finer unit are refused.",
    ),
]


def check_out_dir(path: Path, option: str = "--out") -> Path:
    """`path` if it can become an output directory; otherwise one line saying why, before any work is done."""
    _writable(path, path, option)
    return path


def check_out_file(path: Path, option: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """`path` if a file can be written there (with one of `suffixes`, the formats written, when given);
    otherwise one line saying why, before any work is done."""
    if path.is_dir():
        raise GpufleetError(f"{option} {path}: is a directory, not a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise GpufleetError(f"{option} {path}: give a file name ending in {' or '.join(suffixes)}")
    _writable(path, path.parent, option)
    return path


def _writable(given: Path, d: Path, option: str) -> None:
    """The nearest existing one of directory `d` and its ancestors must be a writable directory."""
    import os

    for p in (d, *d.parents):
        if not p.exists():
            continue
        if p == given and not p.is_dir():
            raise GpufleetError(f"{option} {given}: is a file, not a directory")
        if not p.is_dir():
            raise GpufleetError(f"{option} {given}: {p} is a file, so nothing can be written under it")
        if not os.access(p, os.W_OK):
            raise GpufleetError(f"{option} {given}: {p} is not writable")
        return


def _finite_options(kwargs: dict[str, Any]) -> None:
    """No numeric option is inf or nan: click reads both as floats, and each only surfaced later, as a run
    that never ends or a crash far from the option (--cold-start inf, --preempt-overhead inf)."""
    import math

    for name, value in kwargs.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise GpufleetError(f"--{name.replace('_', '-')} {value}: give a finite number")


def reads_files(fn: F) -> F:
    """Give a command that reads file inputs the options --map and --time-unit, declared here once and shown
    after its own: every file input of the run is read with that mapping and the unit of the numbers in its
    time columns (traces.userfile's context), and what it reads is recorded for its provenance.json. Goes
    under @handles_errors."""
    import inspect

    extra = {"schema_map": MapOpt, "time_unit": TimeUnitOpt}
    sig = inspect.signature(fn, eval_str=True)
    kw = inspect.Parameter.KEYWORD_ONLY
    added = [inspect.Parameter(n, kw, default=None, annotation=t) for n, t in extra.items()]

    @functools.wraps(fn)
    def wrapper(*args: Any, schema_map: Path | None = None, time_unit: str | None = None, **kwargs: Any) -> Any:
        from gpufleet.traces.base import READS
        from gpufleet.traces.userfile import READ_NOTES, SCHEMA_MAP, TIME_UNIT

        token, unit_token = SCHEMA_MAP.set(schema_map), TIME_UNIT.set(time_unit)
        notes_token = READ_NOTES.set(read_note)  # what reading a file decided: one `note:` line on stderr each
        reads_token = READS.set([])  # what was read, for the run directory's provenance.json (runinfo.py)
        try:
            return fn(*args, **kwargs)
        finally:
            READS.reset(reads_token)
            READ_NOTES.reset(notes_token)
            TIME_UNIT.reset(unit_token)
            SCHEMA_MAP.reset(token)

    # typer reads the options from the signature and the type hints: the command's own, then these two
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *added])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**fn.__annotations__, **extra}
    return wrapper  # type: ignore[return-value]


def read_note(text: str) -> None:
    """One `note:` line on stderr (stdout stays the command's output, JSON included)."""
    err.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)


def handles_errors(fn: F) -> F:
    """Turn gpufleet errors into one line on stderr and exit code 2 (traceback only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _finite_options(kwargs)
            from gpufleet.commands.extras import missing_extra, require_command_extra

            try:  # an extra this install lacks is one line naming it, before any work (commands/extras.py)
                require_command_extra()
                return fn(*args, **kwargs)
            except ModuleNotFoundError as e:
                raise missing_extra(e) from None
        except GpufleetError as e:
            if _root_opt("debug"):
                raise
            # redacted here too, whatever raised it: no credential reaches a terminal or a log (#21)
            if _logs_json():  # a long-running command logging JSON: its error is one of those lines
                logging.getLogger("gpufleet").error("error: %s", redact(str(e)))
            else:
                err.print(f"[red]error:[/red] {escape(redact(str(e)))}", markup=True, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:
            if _root_opt("debug"):
                raise
            if _logs_json():
                logging.getLogger("gpufleet").error(
                    "internal error: %s: %s", type(e).__name__, redact(validation_line(e)), exc_info=True
                )
                raise typer.Exit(1) from None
            err.print(
                f"[red]internal error:[/red] {type(e).__name__}: {escape(redact(validation_line(e)))}"
                " (rerun with --debug for the traceback)",
                markup=True,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        finally:
            _logs_done()

    return wrapper  # type: ignore[return-value]


def _logs_json() -> bool:
    from gpufleet.commands.logs import json_active

    return json_active()


def _logs_done() -> None:
    """The command is over: the log setup it made goes (the next command in this process, a test's, starts bare)."""
    from gpufleet.commands.logs import teardown

    teardown()


def emit_json(obj: Any) -> None:
    """Write JSON to stdout (and nothing else), for --json."""
    from gpufleet.report.rundir import dumps

    sys.stdout.write(dumps(obj) + "\n")


def key_values(
    items: list[str] | None, option: str, value: Callable[[str], Any], expected: str = "KEY=VALUE"
) -> dict[str, Any]:
    """Repeated `KEY=VALUE` options as a dict, each value through `value` (a ValueError there, or a missing
    key or '=', is one line naming the option and the item). The one parser for --param, --set and the like."""
    out_: dict[str, Any] = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        try:
            if not sep or not k.strip():
                raise ValueError
            out_[k.strip()] = value(v)
        except ValueError:
            raise GpufleetError(f"{option} {item!r}: expected {expected}") from None
    return out_


def _json_or_text(v: str) -> Any:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _params(items: list[str] | None) -> dict[str, Any]:
    return key_values(items, "--param", _json_or_text)


def _load(ref: str, skip: bool, params: list[str] | None):  # type: ignore[no-untyped-def]
    from gpufleet.traces import load

    with err.status(f"reading {ref} …"):
        return load(ref, _root_opt("data_dir"), on_bad_row="skip" if skip else "raise", **_params(params))


def model_names(text: str, registry: Any) -> list[str]:
    """`a,b,c` -> the names, each looked up in `registry` (an unknown one fails with the registry's line)."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    for n in names:
        registry.get(n)
    return names


# -- policies: help naming a kind's members, and --set KEY=VALUE settings -------------------------------------
POLICY_HELP = re.compile(r"\{policies:([a-z-]+)(?::([a-z_]+))?\}")


def policy_names(kind: str, having: str | None = None) -> str:
    """The members of a policy kind (a `plan.policies.KINDS` key), comma-separated; with `having`, only
    those whose declared flag of that name is true (`learned`, `sees_future`); imports its registry."""
    from gpufleet.plan.policies import registry

    reg = registry(kind)
    return ", ".join(reg.names() if having is None else reg.having(having))


class PolicyHelp(TyperCommand):
    """A command whose option help names a policy kind's members as `{policies:KIND}` (e.g. "Autoscaler:
    {policies:autoscaler}.") or some of them as `{policies:KIND:FLAG}` (`{policies:predictor:learned}`: the
    members that declare `learned`): the names are read from the registry, plugins included, when the help is
    shown, never at import, so `gpufleet --help` imports no policy module and no list is written by hand."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Fill in the members, then the usual help."""
        for p in self.params:
            text = getattr(p, "help", None)  # click's Argument has no help attribute; typer's Option has
            if isinstance(text, str) and "{policies:" in text:
                p.help = POLICY_HELP.sub(lambda m: policy_names(m.group(1), m.group(2)), text)  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


def policy_settings(kind: str, name: str, items: list[str] | None, option: str = "--set") -> dict[str, Any]:
    """`--set KEY=VALUE` items as settings of the member `name` of policy `kind`, validated by its settings model
    (values are JSON where they parse: numbers, true/false, lists; else text)."""
    values = key_values(items, option, _json_or_text)
    typed = {i.partition("=")[0].strip(): f"{option} {i}" for i in items or []}
    return checked_settings(kind, name, values, typed)


def checked_settings(kind: str, name: str, values: dict[str, Any], typed: dict[str, str]) -> dict[str, Any]:
    """The one check of settings given on the command line: `values` validated by the member's model, the given
    keys back with the model's types; a bad one is one line naming the kind, the member and the item as typed
    (`typed`: key -> what the user wrote, e.g. `--set scheduler.blocking=maybe`)."""
    from pydantic import ValidationError

    from gpufleet.core.errors import SettingsError, validation_line
    from gpufleet.plan.policies import registry

    reg = registry(kind)
    model = reg.settings_model(name)
    try:
        checked = model.model_validate(values)
    except ValidationError as e:
        where = f"{reg.kind} {name!r}"
        raise SettingsError(validation_line(e, where, option_of=typed, valid=list(model.model_fields))) from None
    out_: dict[str, Any] = checked.model_dump(include=set(values))
    return out_
