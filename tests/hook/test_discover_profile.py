"""Discovered workloads name a serving profile with `gpufleet.io/profile` (#25 point 6: the hook runs the diffusion
profile live for workloads the cluster declares, not only for hook.yaml's). Real parts: kmock's Kubernetes
emulator driven by the official client, and the hook's own discovery (`Hook.discover`, which hands KubeSide
plan's built-in profiles). A built-in name sizes the replica as hook.yaml's `profile` does (slots x batch
size); an unknown name, a file path (never read, even when the file exists and is a valid profile) and a
profile that contradicts `gpufleet.io/slots-per-replica` each skip that one object with one line naming it
and the annotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.collector.prom import free_port
from tests.hook.kube_emulator import apps_api, deployment, kube_emulator

from gpufleet.hook.config import HookConfig, Kubernetes
from gpufleet.hook.kube import KubeSide
from gpufleet.hook.serve import Hook

pytestmark = pytest.mark.integration
MANAGED = {"gpufleet.io/managed": "true"}
P = "gpufleet.io/profile"
S = "gpufleet.io/slots-per-replica"


@pytest.fixture(scope="module")
def kube() -> Iterator[dict[str, Any]]:
    with kube_emulator() as url:
        yield {"url": url, "apps": apps_api(url)}


def hook(kube: dict[str, Any], root: Path) -> Hook:
    """A hook whose telemetry is a closed port: discovery is all these tests run."""
    (root / "token").write_text("t0ken\n")
    return Hook(
        HookConfig.model_validate(
            {
                "listen": {"http_port": 0, "grpc_port": 0},
                "auth": {"token_file": str(root / "token")},
                "store": str(root / "store"),
                "telemetry": {"url": f"http://127.0.0.1:{free_port()}"},
                "kubernetes": {"host": kube["url"], "namespaces": [root.name]},
            }
        )
    )


def annotated(kube: dict[str, Any], ns: str, objects: dict[str, dict[str, str]]) -> None:
    for name, ann in objects.items():
        kube["apps"].create_namespaced_deployment(ns, deployment(ns, name, 1, MANAGED, ann))


def test_a_built_in_profile_sizes_the_discovered_replica(kube: dict[str, Any], tmp_path: Path) -> None:
    ns = "img"
    root = tmp_path / ns
    root.mkdir()
    annotated(
        kube,
        ns,
        {
            "sdxl": {P: "diffusion", "gpufleet.io/policy": "target-tracking"},
            "sd": {P: "sd-a10"},
            "chat": {P: "llama13b-a100"},  # 32 slots: not the default 8
            "agree": {P: "llama7b-a10", S: "8"},  # a slot count that agrees with the profile is fine
            "plain": {S: "4"},  # no profile: the annotation alone, as before
        },
    )
    h = hook(kube, root)
    assert h.discover() == 5
    slots = {name: h.engine.get(ns, name).cfg.slots_per_replica for name in ("sdxl", "sd", "chat", "agree", "plain")}
    assert slots == {"sdxl": 1, "sd": 1, "chat": 32, "agree": 8, "plain": 4}
    sdxl = h.engine.get(ns, "sdxl")
    assert sdxl.cfg.profile == "diffusion" and sdxl.cfg.policy == "target-tracking"
    # what the policy provisions for: one image in flight per replica at the target, not 8 LLM sequences
    assert sdxl.capacity == pytest.approx(1 * sdxl.scaler.target_util)
    assert not h.kube.skipped


def test_bad_profile_annotations_skip_that_object_with_one_line(
    kube: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ns = "bad"
    root = tmp_path / ns
    root.mkdir()
    # a valid profile file on the hook's disk: read, it would be discovered with 4 slots; it must not be read
    prof = root / "mine.yaml"
    prof.write_text(
        yaml.safe_dump({"name": "mine", "gpu_type": "A10", "prefill_tps": 1, "decode_tps": 1, "max_seqs": 4})
    )
    annotated(
        kube,
        ns,
        {
            "typo": {P: "difusion"},
            "abs-path": {P: str(prof)},
            "rel-path": {P: "profiles/sd.yaml"},
            "both": {P: "diffusion", S: "4"},
            "fine": {P: "diffusion"},
        },
    )
    h = hook(kube, root)
    assert h.discover() == 1 and h.engine.get(ns, "fine") is not None
    for name in ("typo", "abs-path", "rel-path", "both"):
        assert h.engine.get(ns, name) is None, name
        assert h.kube.skipped[(ns, name)] == 1, name
    warn = {r.getMessage().split(":", 1)[0]: r.getMessage() for r in caplog.records if r.levelname == "WARNING"}
    assert all("\n" not in m for m in warn.values())
    assert f"{P}: 'difusion' is not a built-in profile (valid: " in warn[f"Deployment {ns}/typo"]
    assert "diffusion" in warn[f"Deployment {ns}/typo"]
    for name, value in (("abs-path", str(prof)), ("rel-path", "profiles/sd.yaml")):
        line = warn[f"Deployment {ns}/{name}"]
        # a long value is shortened in the line (its head stays): the test's tmp path can be long
        assert f"{P}: {value!r}"[:40] in line and "is a file path" in line, line
        assert "never from an annotation" in line, line
    assert f"{S} 4 contradicts {P} 'diffusion' (1 per replica)" in warn[f"Deployment {ns}/both"]


def test_without_a_profile_resolver_the_object_is_skipped_not_guessed(kube: dict[str, Any]) -> None:
    """KubeSide reaches no plan: a caller that hands it no resolver gets a skip, never the LLM default of 8."""
    ns = "nores"
    annotated(kube, ns, {"sd": {P: "diffusion"}, "llm": {}})
    side = KubeSide(Kubernetes(host=kube["url"], namespaces=[ns]))
    assert [w.name for w, _ in side.discover()] == ["llm"]
    assert side.skipped[(ns, "sd")] == 1
