"""RBAC that matches the code (issue #24 point 4). The hook's Kubernetes side (discovery, replicas, ScaledObjects,
packing advice, and /scale patches in apply mode) runs against kmock's API emulator with an authorizer in
front that records every request as RBAC sees it (verb, group, resource/subresource, namespace); each must be
covered by the rules the rendered manifests bind to the hook's ServiceAccount: the read role for everything,
the /scale role (overlays/hook-apply) only for the patches of apply mode. Then the same code runs with those
rules enforced (403 for the rest): clean with the rendered rules, Forbidden without the pods rule, which is
what a real cluster answered the old manifests. The collector, exporter and dashboard make no API call at all:
their ServiceAccounts get no token and no role."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.cluster_fixture import LABEL, populate
from tests.deploy.kube_rbac import Authorizer, rbac_emulator
from tests.deploy.rbac import Call, allows, denied, parse, rule_allows, rules_of, without
from tests.deploy.render import ROOT, one, render

from gpufleet.hook.config import Kubernetes

SA = ("gpufleet-hook", "gpufleet")


def hook_rules(overlay: str) -> list[tuple[str | None, dict[str, Any]]]:
    return rules_of(render(overlay), *SA)


def exercise(url: str, *, apply: bool, namespaces: list[str] | None = None) -> None:
    """Every Kubernetes call path of the hook, as the decision loop and the HTTP API make them."""
    from gpufleet.hook.kube import KubeSide

    kube = KubeSide(Kubernetes(host=url, label_selector=f"{LABEL}=true", apply=apply, namespaces=namespaces))
    found = {w.key: (w, origin) for w, origin in kube.discover()}  # lists Deployments, StatefulSets, ScaledObjects
    assert {"llm/chat", "llm/embed", "batch/rerank"} <= set(found), found
    nodes, pods = kube.cluster()  # packing advice: nodes and running GPU pods
    assert nodes.height == 1 and pods["num_gpus"].to_list() == [2.0]
    for key in ("llm/chat", "llm/embed"):
        w = found[key][0]
        assert kube.replicas(w) is not None
        kube.scale(w, 4, labelled=True)  # apply: re-reads the labels, patches /scale; dry-run: reads replicas
    assert kube.scaled_objects()


def record(*, apply: bool, namespaces: list[str] | None = None) -> list[Call]:
    auth = Authorizer()
    with rbac_emulator(auth) as (url, _):
        populate(url)
        auth.calls.clear()  # the admin's setup is not the hook's
        exercise(url, apply=apply, namespaces=namespaces)
    return auth.seen()


@pytest.mark.parametrize("namespaces", [None, ["llm", "batch"]], ids=["all-namespaces", "listed-namespaces"])
def test_every_call_of_the_dry_run_hook_has_a_rule(namespaces: list[str] | None) -> None:
    calls = record(apply=False, namespaces=namespaces)
    seen = {(c.verb, c.resource, c.subresource) for c in calls}
    # the run went through every path it claims to (else the check below proves little)
    assert {
        ("list", "deployments", ""),
        ("list", "statefulsets", ""),
        ("list", "scaledobjects", ""),
        ("get", "deployments", ""),
        ("get", "statefulsets", ""),
        ("list", "nodes", ""),
        ("list", "pods", ""),
    } <= seen, seen
    assert not any(c.verb == "patch" for c in calls), "dry-run sends no change"
    assert denied(hook_rules("hook"), calls) == []


def test_apply_mode_patches_only_with_the_scale_role() -> None:
    calls = record(apply=True)
    patches = [c for c in calls if c.verb == "patch"]
    assert {(c.resource, c.subresource) for c in patches} == {("deployments", "scale"), ("statefulsets", "scale")}
    assert denied(hook_rules("hook-apply"), calls) == []
    # the read-only install cannot change anything: exactly the patches are refused there
    assert denied(hook_rules("hook"), calls) == [str(c) for c in patches]


def test_the_hooks_access_table_is_granted() -> None:
    """gpufleet doctor checks the access the hook declares (hook/kube.py ACCESS) with SelfSubjectAccessReviews:
    each entry must be granted by the rendered RBAC (apply-only ones by the /scale role), and every call the
    code was seen making above must be in the table."""
    kube = pytest.importorskip("gpufleet.hook.kube")
    table = getattr(kube, "ACCESS", None)
    if table is None:
        pytest.skip("gpufleet.hook.kube has no ACCESS table")
    read, apply = hook_rules("hook"), hook_rules("hook-apply")
    for a in table:
        call = Call(
            "?", "?", a.verb, a.group, a.resource, a.subresource, "llm", "x" if a.verb in ("get", "patch") else None
        )
        assert allows(apply, call), f"{a} is not granted by overlays/hook-apply"
        assert allows(read, call) != a.apply_only, f"{a}: the read-only install must grant it iff not apply-only"
    declared = {(a.verb, a.group, a.resource, a.subresource) for a in table}
    used = {(c.verb, c.group, c.resource, c.subresource) for c in record(apply=True)}
    assert used <= declared, f"calls the ACCESS table does not declare: {used - declared}"


def test_enforced_rbac_the_hook_runs_clean_and_without_pods_gets_403() -> None:
    from kubernetes.client.exceptions import ApiException

    auth = Authorizer()
    with rbac_emulator(auth) as (url, _):
        populate(url)
        auth.rules = hook_rules("hook-apply")
        exercise(url, apply=True)
        assert auth.refused == []
        auth.rules = without(hook_rules("hook-apply"), "pods")
        from gpufleet.hook.kube import KubeSide

        kube = KubeSide(Kubernetes(host=url, label_selector=f"{LABEL}=true"))
        with pytest.raises(ApiException) as e:
            kube.cluster()
        assert e.value.status == 403
        assert [str(c) for c in auth.refused] == [str(parse("GET", "/api/v1/pods"))]


def test_the_checker_fails_a_call_without_a_rule() -> None:
    rules = hook_rules("hook")
    list_pods = parse("GET", "/api/v1/pods")
    assert allows(rules, list_pods) and denied(without(rules, "pods"), [list_pods]) == [str(list_pods)]
    # subresources are their own resource: deployments does not cover deployments/scale, nor the reverse
    patch = parse("PATCH", "/apis/apps/v1/namespaces/llm/deployments/chat/scale")
    assert (patch.verb, patch.resource, patch.subresource, patch.namespace) == ("patch", "deployments", "scale", "llm")
    assert not rule_allows({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}, patch)
    assert rule_allows({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["patch"]}, patch)
    assert not rule_allows({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]}, patch)
    # a RoleBinding only counts in its own namespace; resourceNames restrict by name
    rb = [("batch", {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]})]
    assert not allows(rb, patch)
    named = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"], "resourceNames": ["other"]}
    assert not rule_allows(named, patch)
    watch = parse("GET", "/apis/apps/v1/deployments?watch=true&labelSelector=a%3Db")
    assert (watch.verb, watch.namespace) == ("watch", None)
    assert not allows(rules, watch), "the hook polls: its role grants no watch"


def test_rules_bind_to_the_overlays_service_account_only() -> None:
    objs = render("hook-apply")
    assert rules_of(objs, "gpufleet-hook", "default") == [], "bound in the overlay's namespace, not default"
    assert rules_of(objs, "gpufleet-collector", "gpufleet") == []
    read = one(objs, "ClusterRole", "gpufleet-hook-read")
    assert all(set(r["verbs"]) <= {"get", "list"} for r in read["rules"]), "read-only, no watch (the hook polls)"
    assert not any("*" in r["verbs"] + r["resources"] + r["apiGroups"] for r in read["rules"])


KUBE_CLIENT = ("kubernetes", "kubernetes_asyncio", "kr8s", "lightkube", "pykube")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize(
    ("overlay", "account", "code"),
    [
        ("collector", "gpufleet-collector", ["src/gpufleet/collector", "src/gpufleet/commands/collect.py"]),
        ("exporter", "gpufleet-exporter", ["src/gpufleet/collector", "src/gpufleet/commands/collect.py"]),
        ("dashboard", "gpufleet-dashboard", ["src/gpufleet/dashboard"]),
    ],
)
def test_components_without_api_calls_get_no_token_and_no_role(overlay: str, account: str, code: list[str]) -> None:
    """The collector reads Kubernetes only through Prometheus (kube-state-metrics, collector/kube.py): its code
    imports no Kubernetes client, so its ServiceAccount has no binding and mounts no token."""
    files = [p for c in code for p in ((ROOT / c).rglob("*.py") if (ROOT / c).is_dir() else [ROOT / c])]
    users = sorted(str(f.relative_to(ROOT)) for f in files if _imports(f) & set(KUBE_CLIENT))
    assert users == [], f"these import a Kubernetes client; give {account} a role for what they call: {users}"
    objs = render(overlay)
    assert rules_of(objs, account, "gpufleet") == []
    sa = one(objs, "ServiceAccount", account)
    pod = next(o for o in objs if o["kind"] in ("Deployment", "DaemonSet"))["spec"]["template"]["spec"]
    assert sa["automountServiceAccountToken"] is False and pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account
