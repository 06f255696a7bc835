"""Kubernetes RBAC, evaluated the way the API server's authorizer does it, for tests: a request (method + path)
becomes an attribute set (verb, API group, resource, subresource, namespace, name), and a ServiceAccount may
make it when a rule of a role bound to it covers all of them. Enough of RBAC for our manifests: ClusterRoles
and Roles, ClusterRoleBindings (everywhere) and RoleBindings (their namespace), `*` in groups, resources and
verbs, `resource/subresource` and `*/subresource`, resourceNames, nonResourceURLs. No aggregation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    """One API request as RBAC sees it."""

    method: str
    path: str
    verb: str
    group: str | None = None  # None: a non-resource URL (/version, /apis ...)
    resource: str = ""
    subresource: str = ""
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.group is None:
            return f"{self.verb} {self.path} (non-resource)"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {self.group or 'core'}/{what}{where}  [{self.method} {self.path}]"


def parse(method: str, url: str) -> Call:
    """The RBAC attributes of a request, from its method and URL (path and query)."""
    parts = urlsplit(url)
    path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
    method = method.upper()
    segs = [s for s in path.split("/") if s]
    if segs[:1] == ["api"] and len(segs) >= 2:
        group, rest = "", segs[2:]
    elif segs[:1] == ["apis"] and len(segs) >= 3:
        group, rest = segs[1], segs[3:]
    else:
        return Call(method, path, method.lower() if method != "GET" else "get")
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:  # /api/v1, /apis/apps/v1: discovery of a group version
        return Call(method, path, "get")
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    watch = query.get("watch", ["false"])[0] in ("1", "true")
    verb = {
        "GET": "watch" if watch else ("get" if name else "list"),
        "HEAD": "get" if name else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    return Call(method, path, verb, group, resource, sub, namespace, name)


def _covers(values: list[str], value: str) -> bool:
    return "*" in values or value in values


def rule_allows(rule: dict[str, Any], call: Call) -> bool:
    """Whether one PolicyRule covers the call."""
    if not _covers(rule.get("verbs", []), call.verb):
        return False
    if call.group is None:
        return any(
            u == call.path or (u.endswith("*") and call.path.startswith(u[:-1]))
            for u in rule.get("nonResourceURLs", [])
        )
    if "nonResourceURLs" in rule or not _covers(rule.get("apiGroups", []), call.group):
        return False
    resources = rule.get("resources", [])
    if call.subresource:
        ok = any(r in ("*", f"{call.resource}/{call.subresource}", f"*/{call.subresource}") for r in resources)
    else:
        ok = "*" in resources or call.resource in resources
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or (call.name is not None and call.name in names)


def rules_of(objects: list[dict[str, Any]], account: str, namespace: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace the rule applies in, or None for everywhere; rule) for every role bound to the ServiceAccount
    `namespace/account` among the rendered objects."""
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
    }
    out: list[tuple[str | None, dict[str, Any]]] = []
    for b in objects:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        bound = any(
            s.get("kind") == "ServiceAccount" and s.get("name") == account and s.get("namespace") == namespace
            for s in b.get("subjects", [])
        )
        if not bound:
            continue
        ref = b["roleRef"]
        where = None if b["kind"] == "ClusterRoleBinding" else b["metadata"].get("namespace")
        role_ns = None if ref["kind"] == "ClusterRole" else b["metadata"].get("namespace")
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        assert role is not None, f"{b['kind']} {b['metadata']['name']} refers to a missing {ref['kind']} {ref['name']}"
        out += [(where, r) for r in role.get("rules", [])]
    return out


def allows(rules: list[tuple[str | None, dict[str, Any]]], call: Call) -> bool:
    """Whether any of the bound rules covers the call (a RoleBinding only within its namespace)."""
    return any((where is None or where == call.namespace) and rule_allows(r, call) for where, r in rules)


def denied(rules: list[tuple[str | None, dict[str, Any]]], calls: list[Call]) -> list[str]:
    """The calls no rule covers, one line each (distinct, in order)."""
    out: list[str] = []
    for c in calls:
        if not allows(rules, c) and str(c) not in out:
            out.append(str(c))
    return out


def without(rules: list[tuple[str | None, dict[str, Any]]], resource: str) -> list[tuple[str | None, dict[str, Any]]]:
    """The same rules with `resource` taken out of every rule that names it (as if the manifest lacked it)."""
    out = []
    for where, r in rules:
        left = [x for x in r.get("resources", []) if x != resource]
        if left or "nonResourceURLs" in r:
            out.append((where, {**r, "resources": left}))
    return out
