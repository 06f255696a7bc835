"""On a real GPU: the NVML source and `gpufleet exporter` (NVML mode) scraped and read back. Skipped without
an NVIDIA driver; run on the lent accelerator with `pytest -m gpu` and recorded in docs/results.md."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.collector.prom import free_port
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.nvml import NvmlProvider, NvmlUnavailable, samples_now
from gpufleet.collector.store import Store

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


@pytest.fixture(scope="module")
def nvml() -> NvmlProvider:
    try:
        return NvmlProvider(socket.gethostname())
    except NvmlUnavailable as e:
        pytest.skip(f"no GPU here: {e}")


def test_nvml_readings_are_sane(nvml: NvmlProvider) -> None:
    f = samples_now(nvml, datetime.now(UTC))
    gpus = f.filter(f["mig_profile"].is_null())
    assert gpus.height >= 1 and gpus["gpu_uuid"].str.starts_with("GPU-").all()
    assert (gpus["mem_total_bytes"] > 2**30).all() and (gpus["mem_used_bytes"] <= gpus["mem_total_bytes"]).all()
    assert gpus["util"].drop_nulls().is_between(0, 1).all()
    assert gpus["temp_c"].drop_nulls().is_between(5, 110).all()
    print(f.to_dicts())  # recorded in docs/results.md from `pytest -m gpu -s`


def test_collect_nvml_cli_fills_the_store(nvml: NvmlProvider, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["collect", "nvml", "--store", str(tmp_path / "s"), "--interval", "1s", "--duration", "3s", "--json"]
    )
    assert res.exit_code == 0, res.output
    got = Store(tmp_path / "s").read("GPU_SAMPLES")
    assert json.loads(res.stdout)["rows_written"] == got.height >= 4


def test_exporter_serves_this_gpu(nvml: NvmlProvider) -> None:
    port = free_port()
    exe = [sys.executable, "-m", "gpufleet.cli", "exporter", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*exe, "--duration", "30"], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "exporter did not start"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "DCGM_FI_DEV_FB_USED{" in text and "DCGM_FI_DEV_GPU_TEMP{" in text
    print(text)
