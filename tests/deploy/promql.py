"""PromQL of the observability pack: the expressions of the PrometheusRule and of the Grafana dashboard (with
Grafana's variables replaced by values Prometheus accepts), checked by `promtool check rules`, and the metric
names each one reads. promtool is the parser of record; the name extraction below only has to find the
selectors in expressions promtool accepted: it drops strings, label matchers, ranges and the label lists of
by/without/on/ignoring/group_left/group_right, and keeps identifiers that are not functions or keywords."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.deploy.render import DEPLOY

from gpufleet.testing.prometheus import PROMTOOL

GRAFANA_VARS = {  # Grafana's own variables, and the dashboard's, as values a rule file may hold
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
    "${datasource}": "prometheus",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end", "atan2"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*|\S")


def rule_groups() -> list[dict[str, Any]]:
    """The PrometheusRule's groups, as a Prometheus rule file holds them."""
    doc = yaml.safe_load((DEPLOY / "observability/prometheusrule.yaml").read_text())
    return list(doc["spec"]["groups"])


def dashboard() -> dict[str, Any]:
    return dict(json.loads((DEPLOY / "observability/grafana/gpufleet.json").read_text()))


def dashboard_exprs() -> list[str]:
    """Every panel target's expression, Grafana variables replaced (the dashboard's constants by their value)."""
    d = dashboard()
    consts = {f"${v['name']}": str(v["query"]) for v in d["templating"]["list"] if v["type"] == "constant"}
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in sorted({**GRAFANA_VARS, **consts}.items(), key=lambda kv: -len(kv[0])):
                e = e.replace(k, v)
            assert "$" not in e, f"panel {p['title']!r}: a variable this test does not know: {e}"
            out.append(e)
    return out


def rule_exprs() -> list[str]:
    return [str(r["expr"]) for g in rule_groups() for r in g["rules"]]


def promtool_check(groups: list[dict[str, Any]], where: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on a rule file holding these groups."""
    f = where / "rules.yaml"
    f.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return subprocess.run([PROMTOOL, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)


def as_recording_rules(exprs: list[str]) -> list[dict[str, Any]]:
    """Expressions as recording rules (promtool parses a recording rule's expression like an alert's)."""
    return [
        {
            "name": "gpufleet-dashboard",
            "rules": [{"record": f"gpufleet:check_{i}", "expr": e} for i, e in enumerate(exprs)],
        }
    ]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    toks = _TOKEN.findall(e)
    names: set[str] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if t.lower() in LABEL_LISTS and nxt == "(":
            i = toks.index(")", i) + 1
            continue
        is_call = nxt == "(" or nxt.lower() in ("by", "without")  # a function, or an aggregation's modifier
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", t) and not is_call and t.lower() not in KEYWORDS:
            names.add(t)
        i += 1
    return names
