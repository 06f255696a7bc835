"""Custom resources against their CRDs' published openAPIV3Schema (tests/deploy/schemas, README there says
where each comes from), with what the API server adds for a structural schema: unknown fields are refused
(kubectl's strict field validation), int-or-string accepts both. Subtrees cut from the vendored copy
(`x-gpufleet-pruned`) accept any value."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
FILES = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.yaml",
    ("cert-manager.io/v1", "Certificate"): "cert-manager.io_v1_certificate.yaml",
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager.io_v1_clusterissuer.yaml",
    ("cert-manager.io/v1", "Issuer"): "cert-manager.io_v1_clusterissuer.yaml",  # the same IssuerSpec
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.yaml",
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): "autoscaling.k8s.io_v1_verticalpodautoscaler.yaml",
}


def structural(schema: Any) -> Any:
    """A copy of an openAPIV3Schema as the API server applies it to a request (see the module docstring)."""
    s = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
            return
        if not isinstance(node, dict):
            return
        for name in node.pop("x-gpufleet-pruned", []):
            node.setdefault("properties", {})[name] = {}
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for v in node.values():
            walk(v)

    walk(s)
    return s


@cache
def _validator(file: str) -> jsonschema.Draft7Validator:
    raw = (SCHEMAS / file).read_text()
    schema = json.loads(raw) if file.endswith(".json") else yaml.safe_load(raw)
    return jsonschema.Draft7Validator(structural(schema))


def is_custom(obj: dict[str, Any]) -> bool:
    """Whether a CRD schema of ours covers this object's apiVersion and kind."""
    return (obj.get("apiVersion"), obj.get("kind")) in FILES


def errors(obj: dict[str, Any]) -> list[str]:
    """Why the object does not match its CRD's schema ([] when it does), one line per error."""
    v = _validator(FILES[(obj["apiVersion"], obj["kind"])])
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(obj)]


def grafana_errors(dashboard: dict[str, Any]) -> list[str]:
    """Why a Grafana dashboard JSON does not match the vendored dashboard schema."""
    v = _validator("grafana_dashboard.schema.json")
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(dashboard)]
