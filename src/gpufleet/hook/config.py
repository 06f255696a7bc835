"""hook.yaml: what the live hook serves, where its telemetry comes from, and which policy runs per workload.

Every field is checked (pydantic) and an error names the file and the field. Secrets never live in the file:
the bearer token is read from `auth.token_file` (a mounted Kubernetes Secret) or `auth.token_env`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gpufleet.core.config import read_yaml_model
from gpufleet.core.errors import GpufleetError, SettingsError
from gpufleet.forecasting.series.demand import DEFAULT_FORECASTER
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails

NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"  # a Kubernetes object name (RFC 1123 subdomain)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Listen(Strict):
    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 only when asked (in a pod)")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP API; 0 picks a free port")
    grpc_port: int = Field(9090, ge=0, le=65535, description="KEDA external scaler; 0 picks a free port")
    tls_cert: Path | None = Field(None, description="PEM certificate: serve HTTPS and gRPC over TLS")
    tls_key: Path | None = None
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024, description="larger bodies are refused (413)")
    client_ca: Path | None = Field(
        None,
        description="PEM CA bundle: gRPC clients must present a certificate it signed (mutual TLS; KEDA's caCert, "
        "tlsClientCert, tlsClientKey). Without it, every gRPC call needs the bearer token in its metadata",
    )
    client_names: list[str] = Field(
        default_factory=list,
        description="with client_ca: accepted client certificate names (CN or DNS SAN); empty: any",
    )
    max_streams: int = Field(
        64, ge=1, le=4096, description="StreamIsActive streams open at once; more: RESOURCE_EXHAUSTED"
    )
    call_timeout_s: float = Field(
        5.0, gt=0, le=300, description="longest a unary gRPC call may take (DEADLINE_EXCEEDED)"
    )

    @model_validator(mode="after")
    def _pair(self) -> Listen:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("client_ca needs tls_cert and tls_key (mutual TLS is TLS first)")
        if self.client_names and self.client_ca is None:
            raise ValueError("client_names needs client_ca")
        return self


class Auth(Strict):
    token_file: Path | None = Field(None, description="file holding the bearer token (a mounted Secret)")
    token_env: str | None = Field(None, description="environment variable holding the bearer token")
    open_metrics: bool = Field(True, description="/metrics without the token (false: Prometheus scrapes with it)")

    def token(self) -> str | None:
        if self.token_file is not None:
            try:
                t = self.token_file.read_text().strip()
            except OSError as e:
                raise GpufleetError(f"auth.token_file {self.token_file}: cannot read it ({e.strerror})") from None
            if not t:
                raise GpufleetError(f"auth.token_file {self.token_file}: empty")
            return t
        if self.token_env is not None:
            t = os.environ.get(self.token_env, "").strip()
            if not t:
                raise GpufleetError(f"auth.token_env: ${self.token_env} is not set")
            return t
        return None


class Telemetry(Strict):
    url: str = Field(description="Prometheus-compatible base URL")
    token_env: str | None = None
    insecure: bool = False
    timeout: float = Field(5.0, gt=0, description="seconds per query")
    stale_after: float = Field(120.0, gt=0, description="seconds without a sample before telemetry is stale")


class Kubernetes(Strict):
    enabled: bool = True
    kubeconfig: Path | None = Field(None, description="default: in-cluster, else ~/.kube/config")
    host: str | None = Field(None, description="API server URL (overrides the kubeconfig's)")
    label_selector: str = Field("gpufleet.io/managed=true", description="workloads to discover")
    namespaces: list[str] | None = Field(None, description="limit discovery (default: all)")
    apply: bool = Field(False, description="patch /scale (clusters without KEDA); default dry-run: log only")


class WorkloadConfig(Strict):
    namespace: str = Field(pattern=NAME)
    name: str = Field(pattern=NAME)
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    model: str | None = Field(None, description="vLLM model_name label (default: the workload name)")
    policy: str = "predictive"
    settings: dict[str, float] = Field(default_factory=dict, description="the policy's settings")
    guardrails: Guardrails = Guardrails()
    slots_per_replica: int = Field(8, ge=1, description="sequences one replica runs at once")
    profile: str | None = Field(
        None,
        description="a serving profile (built-in name, e.g. diffusion, or a YAML/CSV file): slots_per_replica"
        " becomes its work model's slots x batch size (1 for diffusion) when the hook starts",
    )
    capacity: float | None = Field(
        None, gt=0, description="requests in flight one replica should carry (default: slots x target_util)"
    )
    cold_start_s: float = Field(41.3, ge=0)
    service_s: float = Field(5.0, gt=0, description="service time until the engine reports its own")
    arrivals: str | None = Field(
        None,
        description="counter of arriving requests (a gateway's); default vllm:request_success_total of the pods",
    )
    forecaster: str = Field(DEFAULT_FORECASTER, description="the forecaster a policy that uses one refits")
    forecaster_settings: dict[str, float] | None = Field(None, description="as in autoscale-sim (None: its defaults)")
    forecast_step_s: float = Field(60.0, gt=0)
    forecast_level: int = Field(99, ge=50, le=99)
    history_s: float = Field(
        4 * 3600.0, ge=60, description="seconds of telemetry a decision reads (the forecaster's history)"
    )

    @field_validator("policy")
    @classmethod
    def _known(cls, v: str, info: ValidationInfo) -> str:
        if v not in AUTOSCALERS.names():
            raise ValueError(f"unknown policy {v!r}; valid: {', '.join(AUTOSCALERS.names())}")
        if AUTOSCALERS.get(v).sees_future:  # declared by the member: the oracle, or a plugin's like it
            workload = f"{info.data.get('namespace')}/{info.data.get('name')}"
            live = ", ".join(n for n in AUTOSCALERS.names() if n not in AUTOSCALERS.having("sees_future"))
            raise ValueError(f"workload {workload}: autoscaler {v!r} sees the future: offline only (live: {live})")
        return v

    @model_validator(mode="after")
    def _settings(self) -> WorkloadConfig:
        # each policy's Settings model: only declared, finite, in-range settings (errors name the field)
        try:
            AUTOSCALERS.settings(self.policy, self.settings)
        except SettingsError as e:
            raise ValueError(f"settings: {e}") from None
        from gpufleet.forecasting.series import FORECASTERS  # the package: every member registered

        try:  # here, when the file is read, not when the first workload is built
            FORECASTERS.settings(self.forecaster, self.forecaster_settings)
        except GpufleetError as e:  # an unknown name or a bad setting
            raise ValueError(f"forecaster: {e}") from None
        return self

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def with_profile(
    w: WorkloadConfig,
    capacity: Callable[[str], int],
    fields: tuple[str, str] = ("profile", "slots_per_replica"),
) -> WorkloadConfig:
    """`w` with slots_per_replica from its profile (`capacity(profile)`: slots x batch size); one given too must
    agree. `fields` name the two where the user wrote them (hook.yaml keys, or annotations) in the error."""
    if w.profile is None:
        return w
    try:
        cap = capacity(w.profile)
    except GpufleetError as e:
        raise GpufleetError(f"{fields[0]}: {e}") from None
    if "slots_per_replica" in w.model_fields_set and w.slots_per_replica != cap:
        raise GpufleetError(
            f"{fields[1]} {w.slots_per_replica} contradicts {fields[0]} {w.profile!r} ({cap} per replica);"
            " give one of them"
        )
    return w.model_copy(update={"slots_per_replica": cap})


class HookConfig(Strict):
    listen: Listen = Listen()
    auth: Auth = Auth()
    store: Path = Field(Path("hook-store"), description="decisions and telemetry (relative to this file)")
    interval: float = Field(15.0, gt=0, description="seconds between decisions")
    telemetry: Telemetry
    kubernetes: Kubernetes = Kubernetes()
    recommend_from: Path | None = Field(None, description="a collector store: right-sizing for /v1/recommendations")
    workloads: list[WorkloadConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> HookConfig:
        keys = [w.key for w in self.workloads]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"workloads listed twice: {', '.join(sorted(dup))}")
        return self


def load_hook_config(path: str | Path) -> HookConfig:
    """Read hook.yaml; errors name the file and the field."""
    p = Path(path)
    cfg = read_yaml_model(p, HookConfig)
    if not cfg.store.is_absolute():
        cfg.store = p.parent / cfg.store
    if cfg.recommend_from is not None and not cfg.recommend_from.is_absolute():
        cfg.recommend_from = p.parent / cfg.recommend_from
    return cfg
