"""The report's Reproduce section: per run the command that makes it again, from its config.yaml, and, when the
run has a provenance.json, what made it (gpufleet's version and commit, the command line, its inputs' sha256)
and `gpufleet rerun`, which makes it again and compares it byte for byte."""

from __future__ import annotations

import html
import shlex
from pathlib import Path
from typing import Any

import yaml

from gpufleet.report.rundir import read_provenance
from gpufleet.report.rundir import run_kind as kind
from gpufleet.sim.summary import ServingSummary, Summary


def command_for(run: str, raw: dict[str, Any], s: Summary | ServingSummary | None, cfg_text: str) -> str:
    """The command that makes this run again, from what its config recorded (`raw`: the summary as stored,
    `s`: the same, typed, for a replay)."""
    cfg = yaml.safe_load(cfg_text) if cfg_text else {}
    if kind(raw) == "demo":
        return f"gpufleet demo --out {run} --seed {raw.get('seed', 7)}"
    if isinstance(s, Summary) and cfg.get("model"):
        jobs, cluster = cfg.get("jobs", "JOBS"), cfg.get("cluster", "TENANCY.yaml")
        policy = f"--scheduler {s.scheduler} --placement {s.placement}"
        return f"gpufleet tenancy --jobs {jobs} --cluster {cluster} --compare {cfg['model']} {policy}"
    if isinstance(s, Summary):
        jobs, cluster = cfg.get("jobs", "JOBS"), cfg.get("cluster", "CLUSTER")
        extra = f" --predictor {s.predictor}" if s.predictor != "none" else ""
        policy = f"--scheduler {s.scheduler} --placement {s.placement}{extra}"
        return f"gpufleet simulate --jobs {jobs} --cluster {cluster} {policy} --out {run}"
    if isinstance(s, ServingSummary):
        reqs = cfg.get("requests", "REQUESTS")
        return f"gpufleet autoscale-sim --requests {reqs} --policy {s.policy} --slo '{s.slo}' --out {run}"
    return "(unknown run kind)"


def provenance_html(run: Path, shown: str) -> str:
    """What made a run, from its provenance.json: the command, gpufleet's version and commit, the inputs'
    hashes, and the command that reproduces and checks it."""
    p = read_provenance(run)
    if p is None:
        return ""
    g = p.get("gpufleet") or {}
    commit = g.get("commit")
    at = f" at {commit[:12]}" + (" (with uncommitted changes)" if g.get("dirty") else "") if commit else ""
    argv = (p.get("command") or {}).get("argv") or []
    files = [f for t in p.get("traces") or [] for f in t.get("files") or []] + list(p.get("files") or [])
    hashes = "".join(f"<li><code>{html.escape(str(f.get('path')))}</code> sha256 {f.get('sha256')}</li>" for f in files)
    return (
        f"<p class='note'>Made by gpufleet {html.escape(str(g.get('version')))}{html.escape(at)} on"
        f" {html.escape(str(p.get('created_utc')))}: <code>gpufleet {html.escape(shlex.join(argv))}</code>."
        f" <code>gpufleet rerun {html.escape(shown)}</code> makes it again and compares it byte for byte.</p>"
        + (f"<ul class='note'>{hashes}</ul>" if hashes else "")
    )
