"""A command's provenance.json: what the command being run was given (every option, defaults included, from
click's context), what its readers read (traces.base.READS, set by `reads_files`), and the command line that
makes it again, which `gpufleet rerun` rebuilds from the recorded options the same way (`argv_for`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpufleet.commands.common import _root_opt

OUT = "out_dir"  # the parameter every run-writing command names its --out


def current_context() -> Any:
    """click's context of the command being run."""
    from typer._click.globals import get_current_context  # typer's own copy of click (see cli.py)

    return get_current_context()


def command_words(ctx: Any) -> list[str]:
    """The command's words under the root (`simulate`, `plan capacity`)."""
    words = []
    while ctx is not None and ctx.parent is not None:
        words.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return words


def long_flag(param: Any) -> str:
    """The option's long spelling (`--out`, not `-o`)."""
    return max(param.opts, key=lambda o: (o.startswith("--"), len(o)))


def argv_for(words: list[str], command: Any, options: dict[str, Any]) -> list[str]:
    """The arguments that give `command` exactly `options` (each option spelled out; None left to its default,
    which is None)."""
    argv = list(words)
    for p in command.params:
        if p.name not in options or options[p.name] is None or not p.opts:
            continue
        value, flag = options[p.name], long_flag(p)
        if getattr(p, "is_flag", False):
            if value:
                argv.append(flag)
            elif p.secondary_opts:
                argv.append(p.secondary_opts[0])
            continue
        for v in value if p.multiple else [value]:
            argv += [flag, str(v)]
    return argv


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def _names_file(value: Any) -> bool:
    return isinstance(value, str | Path) and bool(str(value)) and Path(value).is_file()


def record_run(out_dir: Path, *, parts: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> None:
    """Write provenance.json into the run directory `out_dir` (and each sub-run `out_dir/PART`) for the command
    being run: its options (files they name made absolute and hashed), the traces read and their hashes, the
    seeds (`seeds`, plus each generator's), the command line and the environment."""
    from gpufleet.core.datadir import find_data_dir
    from gpufleet.plan import provenance
    from gpufleet.traces.base import READS

    ctx = current_context()
    root = find_data_dir(_root_opt("data_dir"))[0]
    root = root.resolve() if root is not None and root.is_dir() else None
    # options as given (a relative path stays relative: the rerun runs in the same working directory, so the
    # run's config names its files the same way); the files they name are hashed under their absolute path
    options, files = {}, []
    for p in ctx.command.params:
        value = ctx.params.get(p.name)
        if p.name != OUT and _names_file(value):
            files.append(provenance.file_entry(Path(value), root, long_flag(p)) | {"given": str(value)})
        options[p.name] = _jsonable(value)
    traces = provenance.trace_entries(READS.get() or [], root)
    generators = {t["ref"]: t["settings"]["seed"] for t in traces if "seed" in (t["settings"] or {})}
    words = command_words(ctx)
    command = {
        "name": " ".join(words),
        "argv": argv_for(words, ctx.command, options),
        "options": options,
        "cwd": os.getcwd(),
        "data_root": None if root is None else str(root),
        "data_dir_option": None if _root_opt("data_dir") is None else str(_root_opt("data_dir")),
    }
    record = provenance.build(command, traces, files, (seeds or {}) | {"generators": generators})
    provenance.write(out_dir, record, parts)
