"""What the rendered overlays promise beyond their schemas: the hook's ConfigMap passes the hook's own
validation with mutual TLS on and names files the Deployment mounts from the cert-manager Secret; the KEDA
example authenticates with the TriggerAuthentication's three TLS parameters to a name in the hook's
certificate; every workload keeps the security posture (non-root, read-only root filesystem, no privilege
escalation, ALL capabilities dropped, RuntimeDefault seccomp, requests and limits); stores live on
PersistentVolumeClaims; the exporter runs only where no dcgm-exporter does and labels its node; the dashboard
reads the collector store read-only; images are the ones the Dockerfile builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.render import DEPLOY, one, render

from gpufleet.hook.config import load_hook_config

IMAGES = {
    "hook": "ghcr.io/gpufleet/gpufleet-hook:0.1.0",
    "hook-apply": "ghcr.io/gpufleet/gpufleet-hook:0.1.0",
    "collector": "ghcr.io/gpufleet/gpufleet-collector:0.1.0",
    "exporter": "ghcr.io/gpufleet/gpufleet-collector:0.1.0",
    "dashboard": "ghcr.io/gpufleet/gpufleet-dashboard:0.1.0",
}
ARGS = {
    "hook": ["hook", "serve"],
    "hook-apply": ["hook", "serve"],
    "collector": ["collect", "run"],
    "exporter": ["exporter"],
    "dashboard": ["dashboard"],
}


def workload(overlay: str) -> dict[str, Any]:
    return next(o for o in render(overlay) if o["kind"] in ("Deployment", "DaemonSet"))


def hook_config(tmp_path: Path, overlay: str = "hook") -> Any:
    cm = next(o for o in render(overlay) if o["kind"] == "ConfigMap")
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "hook.yaml"
    p.write_text(cm["data"]["hook.yaml"])
    return load_hook_config(p)


@pytest.mark.parametrize("overlay", list(IMAGES))
def test_every_workload_is_hardened_and_bounded(overlay: str) -> None:
    w = workload(overlay)
    pod = w["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert (
        psc["runAsNonRoot"] is True and psc["runAsUser"] >= 10000 and psc["seccompProfile"]["type"] == "RuntimeDefault"
    )
    (c,) = pod["containers"]
    assert c["image"] == IMAGES[overlay] and c["args"][: len(ARGS[overlay])] == ARGS[overlay]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"] and not sc.get("privileged")
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(c["resources"]["limits"])
    assert c["livenessProbe"] and c["readinessProbe"]
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    assert not any("hostPath" in v for v in pod.get("volumes", [])), "nothing from the node's filesystem"
    assert {"name": "GPUFLEET_LOG_FORMAT", "value": "json"} in c["env"]
    # a writable /tmp on an emptyDir: the only writable places are volumes
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts


@pytest.mark.parametrize("overlay", ["hook", "hook-apply"])
def test_hook_probes_mean_process_alive_and_scaler_serving(overlay: str) -> None:
    c = workload(overlay)["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    probes = [c[k]["httpGet"] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert all(p["scheme"] == "HTTPS" for p in probes), "the HTTP port serves TLS"


def test_stores_are_on_persistent_volume_claims() -> None:
    for overlay, claim, mount in (
        ("hook", "gpufleet-hook-store", "/var/lib/gpufleet"),
        ("collector", "gpufleet-collector-store", "/var/lib/gpufleet"),
    ):
        objs = render(overlay)
        pvc = one(objs, "PersistentVolumeClaim", claim)
        assert (
            pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and pvc["metadata"]["labels"]["gpufleet.io/data"] == "true"
        )
        w = workload(overlay)
        assert w["spec"]["replicas"] == 1 and w["spec"]["strategy"]["type"] == "Recreate", "one writer, never two"
        pod = w["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod["volumes"]}
        mounted = {m["mountPath"]: vols[m["name"]] for m in pod["containers"][0]["volumeMounts"]}
        assert mounted[mount]["persistentVolumeClaim"]["claimName"] == claim
    cfg_store = yaml.safe_load((DEPLOY / "overlays/collector/collector.yaml").read_text())["store"]
    assert cfg_store.startswith("/var/lib/gpufleet/")


def test_the_hook_store_is_on_its_claim(tmp_path: Path) -> None:
    assert str(hook_config(tmp_path).store).startswith("/var/lib/gpufleet/")


def test_the_tls_files_the_config_names_are_mounted_from_the_certificate_secret(tmp_path: Path) -> None:
    lst = hook_config(tmp_path).listen
    assert lst.tls_cert and lst.tls_key and lst.client_ca and lst.client_names, "mutual TLS on"
    objs = render("hook")
    pod = workload("hook")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    cert = one(objs, "Certificate", "gpufleet-hook")
    for f in (lst.tls_cert, lst.tls_key, lst.client_ca):
        assert str(f.parent) in mounts and secrets[mounts[str(f.parent)]] == cert["spec"]["secretName"], f
        assert f.name in ("tls.crt", "tls.key", "ca.crt"), "the keys cert-manager writes"
    svc = one(objs, "Service", "gpufleet-hook")
    ns = svc["metadata"]["namespace"]
    assert f"{svc['metadata']['name']}.{ns}.svc" in cert["spec"]["dnsNames"]
    assert "server auth" in cert["spec"]["usages"]


def test_keda_authenticates_with_mutual_tls_to_a_name_in_the_hooks_certificate(tmp_path: Path) -> None:
    objs = render("keda-example")
    so, ta = one(objs, "ScaledObject"), one(objs, "TriggerAuthentication")
    assert ta["metadata"]["namespace"] == so["metadata"]["namespace"]
    refs = {r["parameter"]: r for r in ta["spec"]["secretTargetRef"]}
    assert set(refs) == {"caCert", "tlsClientCert", "tlsClientKey"}, "what KEDA's external scaler reads"
    (secret,) = {r["name"] for r in refs.values()}
    client_cert = one(objs, "Certificate", "gpufleet-keda-client")
    assert (
        client_cert["spec"]["secretName"] == secret
        and client_cert["metadata"]["namespace"] == ta["metadata"]["namespace"]
    )
    assert client_cert["spec"]["commonName"] in hook_config(tmp_path).listen.client_names
    assert "client auth" in client_cert["spec"]["usages"]
    # both leaf certificates come from the one CA the hook trusts
    server_cert = one(render("hook"), "Certificate", "gpufleet-hook")
    ca_issuer = one(render("cert-manager"), "ClusterIssuer", "gpufleet-ca")
    for c in (client_cert, server_cert):
        assert c["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "gpufleet-ca"}
    ca_cert = one(render("cert-manager"), "Certificate", "gpufleet-ca")
    assert ca_cert["spec"]["isCA"] and ca_cert["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]
    ext = so["spec"]["triggers"][0]
    assert ext["type"] == "external" and ext["authenticationRef"]["name"] == ta["metadata"]["name"]
    host = ext["metadata"]["scalerAddress"].rsplit(":", 1)[0]
    assert host in server_cert["spec"]["dnsNames"], "KEDA verifies the name it dials"


def test_keda_pairs_our_trigger_with_a_reactive_one_and_has_a_fallback() -> None:
    so = one(render("keda-example"), "ScaledObject")
    assert [t["type"] for t in so["spec"]["triggers"]] == ["external", "prometheus"]
    ext = so["spec"]["triggers"][0]["metadata"]
    assert ext["scalerAddress"].endswith(":9090") and ext["policy"] and ext["workload"]
    fb = so["spec"]["fallback"]
    assert (
        fb["failureThreshold"] >= 1 and so["spec"]["minReplicaCount"] <= fb["replicas"] <= so["spec"]["maxReplicaCount"]
    )
    # the CRD's CEL rule, which the schema check cannot run
    assert so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]


def test_vpa_only_recommends() -> None:
    assert one(render("keda-example"), "VerticalPodAutoscaler")["spec"]["updatePolicy"]["updateMode"] == "Off"


def test_configmap_hook_yaml_passes_validation(tmp_path: Path) -> None:
    cfg = hook_config(tmp_path)
    assert cfg.listen.host == "0.0.0.0" and cfg.auth.token_file is not None and not cfg.kubernetes.apply
    assert [w.policy for w in cfg.workloads] == ["predictive"]


def test_hook_apply_differs_only_in_apply_mode(tmp_path: Path) -> None:
    dry, act = hook_config(tmp_path / "a", "hook"), hook_config(tmp_path / "b", "hook-apply")
    assert not dry.kubernetes.apply and act.kubernetes.apply
    assert dry.model_copy(update={"kubernetes": act.kubernetes}) == act
    names = [o["metadata"]["name"] for o in render("hook-apply") if o["kind"] == "ConfigMap"]
    assert len(names) == 1, "the apply config replaces the dry-run one"


def test_exporter_runs_only_on_gpu_nodes_without_dcgm_exporter_and_names_its_node() -> None:
    pod = workload("exporter")["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    exprs = {e["key"]: (e["operator"], e["values"]) for e in term["matchExpressions"]}
    assert exprs == {
        "nvidia.com/gpu.present": ("In", ["true"]),
        "nvidia.com/gpu.deploy.dcgm-exporter": ("NotIn", ["true"]),
        "gpufleet.io/dcgm-exporter": ("NotIn", ["true"]),
    }
    c = pod["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all" and not c["resources"]["limits"].get("nvidia.com/gpu")
    assert c["args"][c["args"].index("--port") + 1] == "9400" == str(c["ports"][0]["containerPort"])


def test_exporter_hostname_label_is_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DaemonSet hands the node's name in NODE_NAME; the exporter labels its series with it (dcgm-exporter's
    Hostname), not with the pod's own hostname."""
    from gpufleet.collector.nvml import node_name

    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    assert node_name() == "gpu-node-7"
    monkeypatch.delenv("NODE_NAME")
    import socket

    assert node_name() == socket.gethostname()


def test_dashboard_reads_the_collector_store_read_only() -> None:
    pod = workload("dashboard")["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    claim = vols["store"]["persistentVolumeClaim"]
    assert claim == {"claimName": "gpufleet-collector-store", "readOnly": True}
    c = pod["containers"][0]
    store = next(m for m in c["volumeMounts"] if m["name"] == "store")
    assert store["readOnly"] is True and f"--store={store['mountPath']}" in c["args"]
    aff = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    collector = workload("collector")["spec"]["template"]["metadata"]["labels"]
    assert aff["labelSelector"]["matchLabels"].items() <= collector.items(), "scheduled beside the collector"


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


def test_images_are_the_dockerfile_targets_as_docs_packaging_builds_them() -> None:
    """Each manifest runs the image `docker build --target T -t IMAGE` makes (docs/packaging.md), and T is a
    stage of the Dockerfile: hook for the hook, collector for collect run and the exporter, dashboard."""
    import re

    root = DEPLOY.parent
    built = dict(re.findall(r"docker build --target (\w+)\s+-t (\S+)", (root / "docs/packaging.md").read_text()))
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", (root / "Dockerfile").read_text(), re.M))
    target = {"hook": "hook", "hook-apply": "hook", "collector": "collector", "exporter": "collector"}
    target["dashboard"] = "dashboard"
    for overlay, t in target.items():
        assert t in stages and built[t] == IMAGES[overlay], overlay
