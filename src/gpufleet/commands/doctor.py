"""`gpufleet doctor --config hook.yaml [--kubeconfig PATH [--as USER]]`: check a hook config before deploying it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gpufleet.commands.common import JsonOpt, emit_json, handles_errors, out

if TYPE_CHECKING:
    from gpufleet.hook.doctor import Check

MARKS = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}


@handles_errors
def doctor_cmd(
    config: Annotated[Path, typer.Option(help="hook.yaml to check (the hook's own validation).")],
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="Check RBAC with SelfSubjectAccessReviews as this kubeconfig's user (the hook's account)."),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="USER",
            help="Impersonate this user for the RBAC checks, e.g. system:serviceaccount:gpufleet:gpufleet-hook.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The config, Prometheus, each series the hook reads (labels and recent samples), and with --kubeconfig each
    Kubernetes API call the hook makes: one line per check; exit 0 when all pass, 1 when one fails, 2 for bad
    input."""
    from gpufleet.core.errors import GpufleetError
    from gpufleet.hook import doctor

    if kubeconfig is not None and not kubeconfig.is_file():
        raise GpufleetError(f"--kubeconfig {kubeconfig}: no such file")
    cfg, checks = doctor.config(config)  # unreadable or invalid: one line, exit 2
    for c in checks:
        _line(c, as_json)
    for gen in (doctor.prometheus(cfg), doctor.rbac(cfg, kubeconfig, as_user)):
        for c in gen:  # printed as they come: a slow Prometheus shows where it is
            checks.append(c)
            _line(c, as_json)
    failed = sum(c.status == "fail" for c in checks)
    if as_json:
        emit_json({"ok": not failed, "failed": failed, "checks": [c.to_dict() for c in checks]})
    else:
        out.print(f"{failed} check(s) failed" if failed else "all checks passed", markup=False)
    raise typer.Exit(1 if failed else 0)


def _line(c: Check, as_json: bool) -> None:
    if as_json:
        return
    fix = f" -> {c.fix}" if c.fix and c.status in ("fail", "warn") else ""
    out.print(f"{MARKS[c.status]} {c.name}: {c.detail}{fix}", markup=False, soft_wrap=True)
