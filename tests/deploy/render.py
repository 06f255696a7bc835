"""The deploy/ overlays as `kubectl kustomize` renders them (the same kustomize `kubectl apply -k` runs), with a
skip that says why where kubectl is missing (make test installs Debian's kubernetes-client)."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "overlays").iterdir() if (p / "kustomization.yaml").exists())
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
# the namespace each overlay puts its namespaced objects in (keda-example: the example workload's own)
NAMESPACE = {name: "gpufleet" for name in OVERLAYS} | {"keda-example": "llm", "cert-manager": "cert-manager"}


@cache
def _kustomize_version() -> tuple[int, str]:
    """(major version of the kustomize built into kubectl, kubectl's own version); 0 when it is too old to say."""
    out = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60)
    info = json.loads(out.stdout or "{}")
    client = info.get("clientVersion", {}).get("gitVersion", "unknown")
    kustomize = str(info.get("kustomizeVersion", "v0")).lstrip("v").split(".")[0]
    return (int(kustomize) if kustomize.isdigit() else 0), client


def need_kubectl() -> None:
    """Skip with a reason when kubectl is missing, or too old to render the overlays (they use kustomize v5:
    `labels`, per-generator options; kubectl >= 1.27 embeds it, Debian bookworm's kubernetes-client 1.20 does not)."""
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl not installed (Debian package kubernetes-client; make test installs it with apt-get)")
    major, client = _kustomize_version()
    if major < 5:
        pytest.skip(f"kubectl {client} embeds kustomize older than v5; the overlays need kubectl >= 1.27")


@cache
def _render_text(overlay: str) -> str:
    need_kubectl()
    out = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize deploy/overlays/{overlay} failed: {out.stderr.strip()}")
    return out.stdout


def render_text(overlay: str) -> str:
    """The overlay's rendered YAML stream."""
    return _render_text(overlay)


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's rendered objects (a fresh copy each call: tests may edit them)."""
    return [d for d in yaml.safe_load_all(_render_text(overlay)) if d]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The single object of `kind` (and `name`, given one) among `objs`."""
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
