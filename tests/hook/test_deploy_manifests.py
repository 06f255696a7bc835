"""deploy/: every manifest against the Kubernetes API models of the official client (required fields, types),
least-privilege RBAC, the KEDA and VPA examples' shape, and the ConfigMap's hook.yaml through the hook's own
validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.hook.config import load_hook_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MODELS = {
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
}


def docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(DEPLOY.glob("*.yaml")):
        out += [(f.name, d) for d in yaml.safe_load_all(f.read_text()) if d]
    return out


def test_core_objects_match_the_api_models() -> None:
    from kubernetes import client

    api = client.ApiClient()
    seen = set()
    for name, d in docs():
        key = (d["apiVersion"], d["kind"])
        if key not in MODELS:
            continue
        # the client's deserializer builds the typed model and refuses missing required fields
        obj = api._ApiClient__deserialize(d, MODELS[key])  # type: ignore[attr-defined]
        assert obj.metadata.name, name
        seen.add(d["kind"])
    assert seen == {k for _, k in MODELS}


def test_rbac_is_read_only_unless_apply() -> None:
    roles = {d["metadata"]["name"]: d for _, d in docs() if d["kind"] == "ClusterRole"}
    read = roles["gpufleet-hook-read"]["rules"]
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in read)
    scale = roles["gpufleet-hook-scale"]["rules"]
    assert all(res.endswith("/scale") for r in scale for res in r["resources"])
    assert all(set(r["verbs"]) <= {"get", "patch"} for r in scale)
    assert not any("*" in r["verbs"] or "*" in r["resources"] for role in roles.values() for r in role["rules"])


def test_deployment_is_hardened_and_probed() -> None:
    (dep,) = [d for _, d in docs() if d["kind"] == "Deployment"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:2] == ["hook", "serve"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["readOnlyRootFilesystem"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_keda_pairs_our_trigger_with_a_reactive_one_and_has_a_fallback() -> None:
    (so,) = [d for _, d in docs() if d["kind"] == "ScaledObject"]
    assert so["apiVersion"] == "keda.sh/v1alpha1" and so["spec"]["scaleTargetRef"]["name"]
    kinds = [t["type"] for t in so["spec"]["triggers"]]
    assert kinds == ["external", "prometheus"]
    ext = so["spec"]["triggers"][0]["metadata"]
    assert ext["scalerAddress"].endswith(":9090") and ext["policy"] and ext["workload"]
    fb = so["spec"]["fallback"]
    assert fb["failureThreshold"] >= 1 and fb["replicas"] >= so["spec"]["minReplicaCount"]


def test_keda_authenticates_to_the_scaler_with_mutual_tls() -> None:
    (so,) = [d for _, d in docs() if d["kind"] == "ScaledObject"]
    (ta,) = [d for _, d in docs() if d["kind"] == "TriggerAuthentication"]
    assert ta["apiVersion"] == "keda.sh/v1alpha1" and ta["metadata"]["namespace"] == so["metadata"]["namespace"]
    refs = {r["parameter"]: r for r in ta["spec"]["secretTargetRef"]}
    assert set(refs) == {"caCert", "tlsClientCert", "tlsClientKey"}, "what KEDA's external scaler reads"
    assert len({r["name"] for r in refs.values()}) == 1
    ext = so["spec"]["triggers"][0]
    assert ext["type"] == "external" and ext["authenticationRef"]["name"] == ta["metadata"]["name"]
    host = ext["metadata"]["scalerAddress"].rsplit(":", 1)[0]
    (svc,) = [d for _, d in docs() if d["kind"] == "Service"]
    assert host == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc", "the name the server cert carries"


def test_the_tls_files_the_config_names_are_mounted(tmp_path: Path) -> None:
    (cm,) = [d for _, d in docs() if d["kind"] == "ConfigMap"]
    p = tmp_path / "hook.yaml"
    p.write_text(cm["data"]["hook.yaml"])
    lst = load_hook_config(p).listen
    assert lst.tls_cert and lst.tls_key and lst.client_ca and lst.client_names, "mutual TLS on"
    (dep,) = [d for _, d in docs() if d["kind"] == "Deployment"]
    pod = dep["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    for f in (lst.tls_cert, lst.tls_key, lst.client_ca):
        assert str(f.parent) in mounts and mounts[str(f.parent)] in secrets, f
    probes = [pod["containers"][0][k]["httpGet"] for k in ("readinessProbe", "livenessProbe")]
    assert all(p["scheme"] == "HTTPS" for p in probes), "the HTTP port serves TLS"


def test_vpa_only_recommends() -> None:
    (vpa,) = [d for _, d in docs() if d["kind"] == "VerticalPodAutoscaler"]
    assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"


def test_configmap_hook_yaml_passes_validation(tmp_path: Path) -> None:
    (cm,) = [d for _, d in docs() if d["kind"] == "ConfigMap"]
    p = tmp_path / "hook.yaml"
    p.write_text(cm["data"]["hook.yaml"])
    cfg = load_hook_config(p)
    assert cfg.listen.host == "0.0.0.0" and cfg.auth.token_file is not None and not cfg.kubernetes.apply
    assert [w.policy for w in cfg.workloads] == ["predictive"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("telemetry: {url: http://p}\nworkloads: [{namespace: llm, name: x, policy: magic}]", "unknown policy 'magic'"),
        ("telemetry: {url: http://p}\nworkloads: [{namespace: llm, name: x, policy: oracle}]", "offline only"),
        ("telemetry: {url: http://p}\nlisten: {tls_cert: a.pem}", "tls_cert and tls_key go together"),
        ("telemetry: {url: http://p}\nworkloads: [{namespace: LLM!, name: x}]", "workloads.0.namespace"),
        ("listen: {http_port: 8080}", "telemetry: Field required"),
        ("telemetry: {url: http://p}\nworkloads: [{namespace: a, name: x}, {namespace: a, name: x}]", "twice"),
    ],
)
def test_bad_hook_yaml_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    from gpufleet.core.errors import GpufleetError

    p = tmp_path / "hook.yaml"
    p.write_text(text)
    with pytest.raises(GpufleetError, match=message):
        load_hook_config(p)
