"""The NVML source: readings into GPU_SAMPLES rows, MIG instances, unsupported readings, the sampling loop,
the DCGM-named exporter output; on a stand-in library here, on the real one in the `gpu` tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from prometheus_client import CollectorRegistry, generate_latest
from tests.collector import nvml_standin

from gpufleet.collector.exporter import DcgmCollector
from gpufleet.collector.nvml import NvmlProvider, collect_nvml, samples_now
from gpufleet.collector.store import Store

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def provider() -> NvmlProvider:
    return NvmlProvider("node-1", nvml=nvml_standin.make())


def test_readings_become_gpu_samples_with_mig_instances() -> None:
    f = samples_now(provider(), T0)
    assert f["gpu_uuid"].to_list() == ["GPU-aaaa", "GPU-bbbb", "MIG-1111", "MIG-2222"]
    a = f.row(0, named=True)
    assert a["util"] == 0.37 and a["mem_used_bytes"] == 20 * 2**30 and a["mem_total_bytes"] == 80 * 2**30
    assert a["power_w"] is None, "the board does not report power: left empty, not zero"
    assert a["temp_c"] == 61 and a["sm_clock_mhz"] == 1410 and a["xid_errors"] == 79
    b = f.row(1, named=True)
    assert b["power_w"] == 90.5 and b["util"] is None and b["xid_errors"] == 0
    migs = f.filter(pl.col("mig_profile").is_not_null())
    assert migs["mig_profile"].to_list() == ["3g.40gb", "1g.10gb"]
    assert migs["gpu_index"].to_list() == [1, 1] and migs["util"].null_count() == 2
    assert migs["mem_total_bytes"].to_list() == [40 * 2**30, 10 * 2**30]
    assert set(f["source"]) == {"nvml"} and set(f["node"]) == {"node-1"}


def test_unsupported_readings_are_counted_not_fatal() -> None:
    p = provider()
    samples_now(p, T0)
    samples_now(p, T0)
    assert sum(v for k, v in p.unsupported.items() if k.startswith("power")) == 2
    assert sum(v for k, v in p.unsupported.items() if k.startswith("utilization")) == 2


def test_sampling_loop_writes_every_sample_once(tmp_path: Path) -> None:
    t = [0.0]
    store = Store(tmp_path / "store")
    stats = collect_nvml(
        provider(),
        store,
        interval_s=5,
        duration_s=60,
        flush_s=20,
        clock=lambda: t[0],
        sleep=lambda s: t.__setitem__(0, t[0] + s),
        now=lambda: T0 + timedelta(seconds=t[0]),
    )
    got = store.read("GPU_SAMPLES")
    assert stats.samples == 13 and stats.rows_written == 13 * 4 == got.height
    assert got.group_by("gpu_uuid").len()["len"].to_list() == [13] * 4
    assert got["ts"].n_unique() == 13 and (got["ts"].max() - got["ts"].min()) == timedelta(seconds=60)
    assert len(list((tmp_path / "store").rglob("part-*.parquet"))) >= 3, "flushed along the way, not only at the end"


def test_exporter_serves_dcgm_names_and_mig_labels() -> None:
    reg = CollectorRegistry()
    reg.register(DcgmCollector(provider()))
    text = generate_latest(reg).decode()
    assert 'DCGM_FI_DEV_GPU_UTIL{GPU_I_PROFILE="",Hostname="node-1",UUID="GPU-aaaa",gpu="0"' in text
    assert 'DCGM_FI_DEV_FB_USED{GPU_I_PROFILE="3g.40gb",Hostname="node-1",UUID="MIG-1111",gpu="1"' in text
    assert (
        "DCGM_FI_DEV_XID_ERRORS" in text
        and 'UUID="GPU-aaaa",gpu="0",modelName="NVIDIA A100-SXM4-80GB",namespace="",pod=""} 79.0' in text
    )
    assert 'DCGM_FI_DEV_POWER_USAGE{GPU_I_PROFILE="",Hostname="node-1",UUID="GPU-aaaa"' not in text
