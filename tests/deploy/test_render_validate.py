"""Every overlay renders with `kubectl kustomize` (what `kubectl apply -k` runs) and every object it renders
validates: built-in kinds against the Kubernetes 1.32 OpenAPI schemas in strict mode (kubernetes-validate:
unknown fields are errors), custom resources against their CRDs' published schemas (tests/deploy/crd.py).
The base is namespace-agnostic; each overlay puts its objects in its namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.deploy import crd
from tests.deploy.render import DEPLOY, NAMESPACE, OVERLAYS, one, render

K8S_VERSION = "1.32.0"  # the API the manifests target (kubectl 1.32 here); kubernetes-validate ships 1.25-1.37
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "Namespace", "PersistentVolume"}


def k8s_errors(obj: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}"]
    return []


def errors(obj: dict[str, Any]) -> list[str]:
    """Schema errors of one rendered object; a kind neither schema set knows is an error too."""
    if crd.is_custom(obj):
        return crd.errors(obj)
    try:
        return k8s_errors(obj)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {obj['apiVersion']} {obj['kind']}: vendor its CRD schema (tests/deploy/schemas)"]


def test_the_overlays_are_the_documented_set() -> None:
    assert OVERLAYS == [
        "cert-manager",
        "collector",
        "dashboard",
        "exporter",
        "hook",
        "hook-apply",
        "keda-example",
        "observability",
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates(overlay: str) -> None:
    objs = render(overlay)
    assert objs, "renders something"
    bad = {f"{o['kind']}/{o['metadata']['name']}": e for o in objs if (e := errors(o))}
    assert bad == {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_sets_its_namespace(overlay: str) -> None:
    for o in render(overlay):
        ns = o["metadata"].get("namespace")
        if o["kind"] in CLUSTER_SCOPED:
            assert ns is None, f"{o['kind']} {o['metadata']['name']} is cluster-scoped"
        elif o["kind"] == "Certificate" and o["metadata"]["name"] == "gpufleet-ca":
            assert ns == "cert-manager", "the CA secret lives in cert-manager's cluster resource namespace"
        else:
            assert ns == NAMESPACE[overlay], f"{o['kind']} {o['metadata']['name']}"
        for s in o.get("subjects", []):
            assert s.get("namespace") == NAMESPACE[overlay], "bindings name the overlay's ServiceAccount"


def test_the_base_hard_codes_no_namespace() -> None:
    files = sorted((DEPLOY / "base").rglob("*.yaml"))
    assert files
    for f in files:
        for d in yaml.safe_load_all(f.read_text()):
            if not d or d.get("kind") == "Kustomization":
                assert not (d or {}).get("namespace"), f
                continue
            assert "namespace" not in d["metadata"], f
            assert all("namespace" not in s for s in d.get("subjects", [])), f


def test_the_validators_catch_a_misspelt_field() -> None:
    """Both checks above are strict: a field the API does not have fails, in a built-in kind and in a CRD."""
    dep = one(render("hook"), "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    assert any("readOnlyRootFilesytem" in e for e in errors(dep))
    dep = one(render("hook"), "Deployment")
    dep["spec"]["replicas"] = "one"
    assert errors(dep)
    so = one(render("keda-example"), "ScaledObject")
    so["spec"]["triggers"][0]["authenticationRef"]["nmae"] = so["spec"]["triggers"][0]["authenticationRef"].pop("name")
    assert any("nmae" in e for e in errors(so)) and any("'name' is a required property" in e for e in errors(so))
    rule = one(render("observability"), "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    assert any("does not match" in e for e in errors(rule))
    cert = one(render("hook"), "Certificate")
    cert["spec"]["usages"].append("server-auth")
    assert errors(cert)


def test_kinds_without_a_schema_are_reported() -> None:
    assert errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_generated_configmaps_roll_their_workloads(tmp_path: Path) -> None:
    """A changed hook.yaml or collector.yaml gives the ConfigMap a new name, so the Deployment rolls."""
    for overlay, kind in (("hook", "Deployment"), ("collector", "Deployment")):
        objs = render(overlay)
        cm = next(o for o in objs if o["kind"] == "ConfigMap")["metadata"]["name"]
        pod = one(objs, kind)["spec"]["template"]["spec"]
        assert cm in {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
        assert cm.rsplit("-", 1)[1].isalnum() and len(cm.rsplit("-", 1)[1]) == 10, "name carries the content hash"
