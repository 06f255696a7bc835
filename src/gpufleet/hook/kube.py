"""The Kubernetes side of the hook (official `kubernetes` client): discover workloads, read replicas, and in
apply mode patch the `/scale` subresource. Default is dry-run: the intended change is logged, nothing sent.

Discovery: Deployments and StatefulSets carrying the configured label, and KEDA ScaledObjects whose trigger
is our external scaler. Label selectors are sent to the API server and checked again here (some servers
and emulators ignore them). Per-workload settings come from annotations, so a team can opt in without
editing hook.yaml: `gpufleet.io/policy`, `gpufleet.io/model`, `gpufleet.io/min-replicas`,
`gpufleet.io/max-replicas`, `gpufleet.io/slots-per-replica`, `gpufleet.io/profile` (a built-in serving profile
only: its capacity per replica comes through `profile_capacity`, given by the caller, since this module reaches
no plan; a file path is refused). One object with a bad annotation is skipped with a warning and counted
(`skipped`); the others are discovered as usual.

Apply mode patches only what is selected: before each patch of a labelled workload its labels (and
namespace) are read again, and an object that left the selection is refused.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpufleet.core.errors import GpufleetError, validation_line
from gpufleet.hook.config import Kubernetes, WorkloadConfig, with_profile
from gpufleet.optimizer.autoscaling import Guardrails

ANNOTATION = "gpufleet.io/"
GPU_RESOURCE = "nvidia.com/gpu"
log = logging.getLogger(__name__)
MAX_INTENDED = 1000  # dry-run intentions kept (for tests and debugging); bounded memory


@dataclass(frozen=True)
class Access:
    """One kind of Kubernetes API call the hook makes: what RBAC must allow (`gpufleet doctor` asks the API
    server about each with a SelfSubjectAccessReview; deploy/'s RBAC must grant each)."""

    verb: str
    group: str  # "" for the core API group
    resource: str
    subresource: str = ""
    scope: str = "discovery"  # discovery: the configured namespaces (or all); workloads: each workload's; cluster
    apply_only: bool = False  # only with kubernetes.apply: true
    why: str = ""

    @property
    def what(self) -> str:
        """`verb resource[/subresource][.group]`, as kubectl auth can-i names it."""
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {self.resource}{sub}{'.' + self.group if self.group else ''}"


# Every call of this module, by method: kept next to the calls so a new call and its rule change together.
ACCESS: tuple[Access, ...] = (
    Access("list", "apps", "deployments", why="discover labelled Deployments"),
    Access("list", "apps", "statefulsets", why="discover labelled StatefulSets"),
    Access("list", "keda.sh", "scaledobjects", scope="cluster", why="discover ScaledObjects naming our scaler"),
    Access("get", "apps", "deployments", scope="workloads", why="read replicas, and labels before a patch"),
    Access("get", "apps", "statefulsets", scope="workloads", why="read replicas, and labels before a patch"),
    Access("list", "", "nodes", scope="cluster", why="give packing advice in /v1/recommendations"),
    Access("list", "", "pods", scope="cluster", why="give packing advice in /v1/recommendations"),
    Access("patch", "apps", "deployments", "scale", "workloads", True, "set replicas in apply mode"),
    Access("patch", "apps", "statefulsets", "scale", "workloads", True, "set replicas in apply mode"),
)


def api_client(cfg: Kubernetes) -> Any:
    """A configured `kubernetes` ApiClient: `host` (no credentials: tests, a proxy), else `kubeconfig`, else
    in-cluster, else ~/.kube/config (GpufleetError in one line when none works)."""
    from kubernetes import client, config

    try:
        if cfg.host:
            conf = client.Configuration()
            conf.host = cfg.host
            return client.ApiClient(conf)
        if cfg.kubeconfig:
            return config.new_client_from_config(config_file=str(cfg.kubeconfig))
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return client.ApiClient()
    except Exception as e:  # no kubeconfig, bad file: one line, not a traceback
        raise GpufleetError(f"kubernetes: cannot configure the client ({type(e).__name__}: {e})") from None


def _selector_matches(selector: str, labels: dict[str, str] | None) -> bool:
    """Equality-based selectors (`a=b,c!=d,e`), the kind discovery uses."""
    labels = labels or {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in part:
            k, v = part.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip():
                return False
        elif part.strip() not in labels:
            return False
    return True


class KubeSide:
    def __init__(self, cfg: Kubernetes, profile_capacity: Callable[[str], int] | None = None) -> None:
        """`profile_capacity`: a built-in profile's capacity per replica, for `gpufleet.io/profile` (the hook
        passes plan's; without it an object with that annotation is skipped)."""
        from kubernetes import client

        self.cfg = cfg
        self.profile_capacity = profile_capacity
        api = api_client(cfg)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.intended: list[tuple[str, int, int]] = []  # dry-run: (workload, from, to) that would have been sent
        self._intent: dict[str, tuple[int, int]] = {}  # dry-run: the latest (from, to) per workload, for the log
        self.skipped: Counter[tuple[str, str]] = Counter()  # (namespace, name) skipped for bad declarations

    def _lists(self, kind: str) -> list[Any]:
        sel = self.cfg.label_selector
        fns: dict[str, tuple[Any, Any]] = {
            "Deployment": (self.apps.list_namespaced_deployment, self.apps.list_deployment_for_all_namespaces),
            "StatefulSet": (self.apps.list_namespaced_stateful_set, self.apps.list_stateful_set_for_all_namespaces),
        }
        fn = fns[kind]
        if self.cfg.namespaces:
            items = [x for ns in self.cfg.namespaces for x in fn[0](ns, label_selector=sel).items]
        else:
            items = fn[1](label_selector=sel).items
        return [x for x in items if _selector_matches(sel, x.metadata.labels)]

    def _skip(self, namespace: str, name: str, what: str, e: Exception) -> None:
        why = validation_line(e)  # a ValidationError's own first line only says which model: name the field
        self.skipped[(namespace, name)] += 1
        log.warning("%s %s/%s: skipped (%s)", what, namespace, name, why, extra={"workload": f"{namespace}/{name}"})

    def _profiled(self, w: WorkloadConfig) -> WorkloadConfig:
        """`w` sized by its `gpufleet.io/profile` (the same rules as hook.yaml's `profile`)."""
        fields = (ANNOTATION + "profile", ANNOTATION + "slots-per-replica")
        if w.profile is None:
            return w
        if self.profile_capacity is None:
            raise GpufleetError(f"{fields[0]}: this caller resolves no serving profiles")
        return with_profile(w, self.profile_capacity, fields)

    def discover(self) -> list[tuple[WorkloadConfig, str]]:
        """Workloads the cluster declares, with their origin: `labels` (settings from annotations) or `keda`
        (a ScaledObject whose trigger names our scaler; KEDA scales it, the hook only answers)."""
        found: dict[str, tuple[WorkloadConfig, str]] = {}
        for kind in ("Deployment", "StatefulSet"):
            for obj in self._lists(kind):
                ns, name = obj.metadata.namespace, obj.metadata.name
                a = obj.metadata.annotations or {}
                try:  # one bad annotation skips this object only
                    ints = {}
                    for k in ("min-replicas", "max-replicas", "slots-per-replica"):
                        if ANNOTATION + k in a:
                            try:
                                ints[k] = int(a[ANNOTATION + k])
                            except ValueError:
                                raise ValueError(
                                    f"{ANNOTATION}{k}: {a[ANNOTATION + k]!r} is not a whole number"
                                ) from None
                    # slots only when annotated: with a profile, a given one must agree (as in hook.yaml)
                    slots = {"slots_per_replica": ints["slots-per-replica"]} if "slots-per-replica" in ints else {}
                    w = WorkloadConfig(
                        namespace=ns,
                        name=name,
                        kind=kind,
                        model=a.get(ANNOTATION + "model"),
                        policy=a.get(ANNOTATION + "policy", "predictive"),
                        profile=a.get(ANNOTATION + "profile"),
                        guardrails=Guardrails(
                            min_replicas=ints.get("min-replicas", 1), max_replicas=ints.get("max-replicas", 200)
                        ),
                        **slots,
                    )
                    w = self._profiled(w)
                except Exception as e:
                    self._skip(ns, name, kind, e)
                    continue
                found[w.key] = (w, "labels")
        for so in self.scaled_objects():
            meta, spec = so.get("metadata", {}), so.get("spec", {})
            ns = meta.get("namespace", "default")
            try:
                trig = next(t for t in spec.get("triggers", []) if "policy" in t.get("metadata", {}))
                target = spec.get("scaleTargetRef", {})
                name = trig["metadata"].get("workload") or target.get("name") or meta.get("name")
                if f"{ns}/{name}" in found:  # labelled too: KEDA scales it, so the hook never patches it
                    found[f"{ns}/{name}"] = (found[f"{ns}/{name}"][0], "keda")
                    continue
                w = WorkloadConfig(
                    namespace=ns,
                    name=name,
                    kind=target.get("kind", "Deployment"),
                    model=trig["metadata"].get("model"),
                    policy=trig["metadata"]["policy"],
                    guardrails=Guardrails(
                        min_replicas=int(spec.get("minReplicaCount", 1)),
                        max_replicas=int(spec.get("maxReplicaCount", 200)),
                    ),
                )
            except Exception as e:
                self._skip(ns, str(meta.get("name")), "ScaledObject", e)
                continue
            found[w.key] = (w, "keda")
        return list(found.values())

    def cluster(self) -> tuple[Any, Any]:
        """(NODES, running GPU pods as JOBS-like rows with their `node`) as the API server shows them now."""
        import polars as pl
        from kubernetes.utils import parse_quantity

        def q(d: dict[str, str] | None, key: str) -> float | None:
            return float(parse_quantity(d[key])) if d and key in d else None

        nodes = []
        node_items: list[Any] = self.core.list_node().items
        for n in node_items:
            alloc = n.status.allocatable if n.status else None
            labels = n.metadata.labels or {}
            nodes.append(
                {
                    "node_id": n.metadata.name,
                    "num_gpus": int(q(alloc, GPU_RESOURCE) or 0),
                    "gpu_type": labels.get("nvidia.com/gpu.product"),
                    "num_cpus": q(alloc, "cpu"),
                    "mem_bytes": int(q(alloc, "memory") or 0) or None,
                }
            )
        pods = []
        pod_items: list[Any] = self.core.list_pod_for_all_namespaces().items
        for p in pod_items:
            phase = p.status.phase if p.status else None
            if phase != "Running" or not p.spec.node_name:
                continue
            g = c = m = 0.0
            for ct in p.spec.containers:
                res = ct.resources
                req = (res.requests or {}) if res else {}
                lim = (res.limits or {}) if res else {}
                g += q(req, GPU_RESOURCE) or q(lim, GPU_RESOURCE) or 0.0  # extended resources: limits suffice
                c += q(req, "cpu") or 0.0
                m += q(req, "memory") or 0.0
            if g > 0:
                pods.append(
                    {
                        "job_id": f"{p.metadata.namespace}/{p.metadata.name}",
                        "num_gpus": g,
                        "num_cpus": c,
                        "mem_bytes": m,
                        "node": p.spec.node_name,
                    }
                )
        node_schema = {
            "node_id": pl.String,
            "num_gpus": pl.Int64,
            "gpu_type": pl.String,
            "num_cpus": pl.Float64,
            "mem_bytes": pl.Int64,
        }
        pod_schema = {
            "job_id": pl.String,
            "num_gpus": pl.Float64,
            "num_cpus": pl.Float64,
            "mem_bytes": pl.Float64,
            "node": pl.String,
        }
        return pl.DataFrame(nodes, schema=node_schema), pl.DataFrame(pods, schema=pod_schema)

    def scaled_objects(self) -> list[dict[str, Any]]:
        """KEDA ScaledObjects that point a trigger at an external scaler (ours, by the metadata they carry)."""
        try:
            res: Any = self.custom.list_cluster_custom_object("keda.sh", "v1alpha1", "scaledobjects")
        except Exception as e:  # KEDA not installed: no CRD
            log.info("kubernetes: no KEDA ScaledObjects (%s)", type(e).__name__)
            return []
        out = []
        for so in res.get("items", []):
            for trig in so.get("spec", {}).get("triggers", []):
                if trig.get("type") in ("external", "external-push") and "policy" in trig.get("metadata", {}):
                    out.append(so)
                    break
        return out

    def replicas(self, w: WorkloadConfig) -> tuple[int, int] | None:
        obj: Any
        try:
            if w.kind == "StatefulSet":
                obj = self.apps.read_namespaced_stateful_set(w.name, w.namespace)
            else:
                obj = self.apps.read_namespaced_deployment(w.name, w.namespace)
        except Exception as e:
            log.warning("%s: cannot read replicas (%s)", w.key, type(e).__name__, extra={"workload": w.key})
            return None
        asked = int(obj.spec.replicas or 0)
        ready = int((obj.status.ready_replicas if obj.status else None) or 0)
        return asked, ready

    def _selected(self, w: WorkloadConfig) -> str | None:
        """Why a labelled workload may not be patched now (None: it is still selected)."""
        if self.cfg.namespaces and w.namespace not in self.cfg.namespaces:
            return f"namespace {w.namespace} is outside kubernetes.namespaces"
        try:
            if w.kind == "StatefulSet":
                obj: Any = self.apps.read_namespaced_stateful_set(w.name, w.namespace)
            else:
                obj = self.apps.read_namespaced_deployment(w.name, w.namespace)
        except Exception as e:
            return f"cannot read it ({type(e).__name__})"
        if not _selector_matches(self.cfg.label_selector, obj.metadata.labels):
            return f"it no longer matches {self.cfg.label_selector}"
        return None

    def scale(
        self, w: WorkloadConfig, replicas: int, *, labelled: bool = False, ids: dict[str, str] | None = None
    ) -> None:
        """Patch /scale in apply mode (a labelled workload only while it is still selected: GpufleetError
        otherwise); in dry-run, log what would be sent."""
        now = self.replicas(w)
        before = now[0] if now else -1
        if not self.cfg.apply:
            # the same intention every round is one INFO line, then DEBUG until it changes
            level = logging.DEBUG if self._intent.get(w.key) == (before, replicas) else logging.INFO
            self._intent[w.key] = (before, replicas)
            self.intended.append((w.key, before, replicas))
            del self.intended[:-MAX_INTENDED]  # bounded, however long the hook runs
            log.log(
                level,
                "%s: would scale %d -> %d (dry-run; set kubernetes.apply to act)",
                w.key,
                before,
                replicas,
                extra=ids or {"workload": w.key},
            )
            return
        if labelled and (why := self._selected(w)) is not None:
            raise GpufleetError(f"outside the selection: {why}")
        body = {"spec": {"replicas": int(replicas)}}
        if w.kind == "StatefulSet":
            self.apps.patch_namespaced_stateful_set_scale(w.name, w.namespace, body)
        else:
            self.apps.patch_namespaced_deployment_scale(w.name, w.namespace, body)
        log.info("%s: scaled %d -> %d", w.key, before, replicas, extra=ids or {"workload": w.key})
