"""`gpufleet doctor --config hook.yaml`: what the hook needs, checked before it is deployed.

Every check is derived from the code it protects, never from a copy: the config through the hook's own loader
(`load_hook_config`), the series through `telemetry.series` (the selectors the decision loop sends, with the
labels it selects on and reads), the API access through `kube.ACCESS` (each call the hook makes) asked of the API
server as SelfSubjectAccessReviews. Each check is one line: ok, failed (with what to do), a warning (the hook runs,
less well) or skipped (why). A config that cannot be read is bad input (GpufleetError, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gpufleet.core.errors import GpufleetError, brief
from gpufleet.core.redact import redact
from gpufleet.hook.config import HookConfig, WorkloadConfig, load_hook_config
from gpufleet.hook.telemetry import Series, series

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    status: str  # ok | fail | warn | skip
    name: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON form (--json)."""
        return asdict(self)


def config(path: Path) -> tuple[HookConfig, list[Check]]:
    """The config through the hook's own validation (GpufleetError: bad input), then what the hook reads at
    start: the token and the TLS files."""
    cfg = load_hook_config(path)
    n = len(cfg.workloads)
    checks = [Check(OK, "config", f"{path}: valid ({n} workload(s) declared, interval {cfg.interval:g} s)")]
    try:
        token = cfg.auth.token()
        checks.append(
            Check(OK, "auth token", "readable")
            if token
            else Check(
                FAIL, "auth token", "none configured", "set auth.token_file (a mounted Secret) or auth.token_env"
            )
        )
    except GpufleetError as e:
        checks.append(Check(FAIL, "auth token", str(e), "mount the Secret or set the variable the config names"))
    lst = cfg.listen
    for name, p in (
        ("listen.tls_cert", lst.tls_cert),
        ("listen.tls_key", lst.tls_key),
        ("listen.client_ca", lst.client_ca),
    ):
        if p is None:
            continue
        if p.is_file() and os.access(p, os.R_OK):
            checks.append(Check(OK, name, f"{p}: readable"))
        else:
            checks.append(Check(FAIL, name, f"{p}: missing or unreadable", "mount the TLS Secret at that path"))
    return cfg, checks


class _Prom:
    """Instant queries against the configured Prometheus (the hook's own client settings)."""

    def __init__(self, cfg: HookConfig) -> None:
        from gpufleet.collector.prometheus import PrometheusSource

        t = cfg.telemetry
        token = os.environ.get(t.token_env) if t.token_env else None
        self.src = PrometheusSource(t.url, token=token, verify_tls=not t.insecure, timeout_s=t.timeout, retries=0)

    def query(self, q: str) -> list[dict[str, Any]]:
        """The instant vector of `q` (GpufleetError, one redacted line, when Prometheus does not answer)."""
        try:
            res: list[dict[str, Any]] = self.src.prom.custom_query(q, params={"timeout": f"{self.src.timeout_s:g}s"})
        except Exception as e:  # connection refused, timeouts, HTTP errors: the client raises several kinds
            raise GpufleetError(f"{self.src.url}: {redact(brief(e))}") from None
        return res

    def count(self, q: str) -> int:
        """`count(q)` as an int (0 when nothing matches)."""
        res = self.query(f"count({q})")
        return int(float(res[0]["value"][1])) if res else 0


def _family(s: Series) -> str:
    """The selector of every series of `s`'s metric, whatever its labels (its name with ':' and with '_')."""
    if s.metric == s.query:  # a configured expression: its own selector is all there is
        return s.query
    names = sorted({s.metric, s.metric.replace(":", "_")})
    return f'{{__name__=~"{"|".join(names)}"}}'


def prometheus(cfg: HookConfig) -> Iterator[Check]:
    """Reachability, then for each series the hook reads: that the metric exists, carries the labels the hook
    selects on and reads, and (per declared workload) has recent samples for it."""
    url = redact(cfg.telemetry.url)
    try:
        prom = _Prom(cfg)
        prom.query("vector(1)")
    except GpufleetError as e:
        yield Check(FAIL, "prometheus", f"{url}: not reachable ({e})", "check telemetry.url, the network policy, TLS")
        yield Check(SKIP, "metrics", "Prometheus is not reachable")
        return
    yield Check(OK, "prometheus", f"{url}: answers")
    from gpufleet.optimizer.autoscaling import AUTOSCALERS

    workloads = cfg.workloads or [WorkloadConfig(namespace="x", name="x")]  # no workload: the families alone
    window = int(max(w.history_s for w in workloads))
    wanted = [
        (w, s)
        for w in workloads
        for s in series(w, forecast=AUTOSCALERS.build(w.policy, w.settings, guardrails=w.guardrails).uses_forecast)
    ]
    present: dict[str, bool] = {}  # metric family -> found (its own line says so; workloads skip an absent one)
    for w, s in wanted:
        fam = _family(s)
        if fam not in present:  # required when any workload's policy needs it
            need = any(x.required for _, x in wanted if _family(x) == fam)
            check = _metric(prom, replace(s, required=need), window)
            present[fam] = not check.detail.startswith("no series")
            yield check
        if cfg.workloads and present[fam]:
            yield _recent(prom, cfg, w, s)


def _metric(prom: _Prom, s: Series, window: int) -> Check:
    """The metric has samples within `window` seconds (under either name) and carries the labels the hook uses."""
    fam = _family(s)
    bad = FAIL if s.required else WARN

    def has(selector: str) -> bool:
        return prom.count(f"last_over_time({selector}[{window}s])") > 0

    if not has(fam):
        fix = "scrape vLLM's /metrics with this Prometheus" if s.metric == s.query or "vllm" in s.metric else ""
        return Check(bad, f"metric {s.metric}", f"no series ({s.why})", fix or "check workloads[].arrivals")
    if fam == s.query:
        return Check(OK, f"metric {s.metric}", "present")
    inner = fam[:-1]
    missing = [lab for lab in s.labels if not has(f'{inner},{lab}!=""}}')]
    if missing:
        return Check(
            bad,
            f"metric {s.metric}",
            f"series lack label(s) {', '.join(missing)} (the hook selects on {', '.join(s.labels)})",
            "relabel the scrape so the series carry them (vLLM's model_name; the pod's namespace)",
        )
    weak = [lab for lab in s.reads if not has(f'{inner},{lab}!=""}}')]
    if weak:
        return Check(WARN, f"metric {s.metric}", f"no {', '.join(weak)} label: reporting pods are not counted")
    return Check(OK, f"metric {s.metric}", f"present with {', '.join((*s.labels, *s.reads)) or 'its labels'}")


def _recent(prom: _Prom, cfg: HookConfig, w: WorkloadConfig, s: Series) -> Check:
    """The workload's own series have samples within its history, and the newest is not stale."""
    name = f"{w.key} {s.metric}"
    window = int(w.history_s)
    bad = FAIL if s.required else WARN
    if prom.count(f"last_over_time({s.query}[{window}s])") == 0:
        hint = "set workloads[].model to vLLM's model_name" if s.labels else "check workloads[].arrivals"
        return Check(bad, name, f"no samples in the last {window} s for {s.query}", hint)
    res = prom.query(f"time() - max(timestamp(last_over_time({s.query}[{window}s])))")
    age = float(res[0]["value"][1]) if res else float("inf")
    if age > cfg.telemetry.stale_after:
        why = f"newest sample {age:.0f} s old (stale_after {cfg.telemetry.stale_after:g} s): decisions would be held"
        return Check(WARN, name, why, "is the workload scraped now?")
    return Check(OK, name, f"newest sample {age:.0f} s old")


def rbac(cfg: HookConfig, kubeconfig: Path | None, as_user: str | None) -> Iterator[Check]:
    """Each access in kube.ACCESS this config needs, asked of the API server as a SelfSubjectAccessReview (as the
    kubeconfig's user, or `as_user` impersonated: the hook's ServiceAccount)."""
    if not cfg.kubernetes.enabled:
        yield Check(SKIP, "rbac", "kubernetes.enabled is false: the hook calls no API")
        return
    if kubeconfig is None:
        yield Check(SKIP, "rbac", "give --kubeconfig (the hook's ServiceAccount, or an admin with --as) to check RBAC")
        return
    from kubernetes import client

    from gpufleet.hook.kube import ACCESS, api_client

    api = api_client(cfg.kubernetes.model_copy(update={"kubeconfig": kubeconfig, "host": None}))
    if as_user:
        api.set_default_header("Impersonate-User", as_user)
    authz = client.AuthorizationV1Api(api)
    discovery = cfg.kubernetes.namespaces or [""]
    for a in ACCESS:
        if a.apply_only and not cfg.kubernetes.apply:
            continue
        if a.scope == "cluster" or "" in discovery:  # all namespaces covers each one
            spaces = [""]
        elif a.scope == "workloads":
            spaces = sorted(set(discovery) | {w.namespace for w in cfg.workloads})
        else:
            spaces = list(discovery)
        for ns in spaces:
            try:
                allowed, reason = _review(authz, a, ns)
            except Exception as e:  # unreachable API server, bad credentials: one line, the rest would fail alike
                why = f"SelfSubjectAccessReview failed: {type(e).__name__}: {redact(brief(e))}"
                yield Check(FAIL, "kubernetes", why, "check the kubeconfig's server and credentials")
                return
            where = f"namespace {ns}" if ns else "all namespaces" if a.scope != "cluster" else "cluster-wide"
            if allowed:
                yield Check(OK, f"rbac {a.what}", f"{where}: allowed ({a.why})")
            else:
                res = a.resource + (f"/{a.subresource}" if a.subresource else "")
                rule = f'apiGroups: ["{a.group}"], resources: ["{res}"], verbs: ["{a.verb}"]'
                yield Check(
                    FAIL,
                    f"rbac {a.what}",
                    f"{where}: denied ({reason or 'no rule allows it'}); the hook needs it to {a.why}",
                    f"grant {rule} to the hook's ServiceAccount (deploy/ RBAC)",
                )


def _review(authz: Any, a: Any, namespace: str) -> tuple[bool, str]:
    """(allowed, reason) of one SelfSubjectAccessReview."""
    from kubernetes import client

    attrs = client.V1ResourceAttributes(
        verb=a.verb, group=a.group, resource=a.resource, subresource=a.subresource or None, namespace=namespace or None
    )
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
    st = authz.create_self_subject_access_review(review).status
    return (bool(st.allowed), st.reason or "") if st is not None else (False, "no answer")
