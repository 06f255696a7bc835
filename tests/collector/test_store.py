"""The collector store (watermarks, partitions, atomic parts) and the DCGM label/units mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from gpufleet.collector.prometheus import label, parse_since, to_gpu_samples
from gpufleet.collector.store import Store, is_store
from gpufleet.core.errors import GpufleetError, SchemaError

T0 = datetime(2025, 3, 1, 23, 58, tzinfo=UTC)


def samples(minutes: range, gpu: str = "GPU-a") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=m) for m in minutes],
            "node": ["n1"] * len(minutes),
            "gpu_uuid": [gpu] * len(minutes),
            "util": [0.5] * len(minutes),
            "source": ["test"] * len(minutes),
        }
    )


def test_append_is_idempotent_and_partitioned_by_day(tmp_path: Path) -> None:
    st = Store(tmp_path / "s")
    assert st.append("GPU_SAMPLES", "prom", samples(range(0, 5)), ["node", "gpu_uuid"]) == 5
    # overlapping re-run: only what is after the watermark is new
    assert st.append("GPU_SAMPLES", "prom", samples(range(3, 8)), ["node", "gpu_uuid"]) == 3
    assert st.append("GPU_SAMPLES", "prom", samples(range(0, 8)), ["node", "gpu_uuid"]) == 0
    # another series has its own watermark
    assert st.append("GPU_SAMPLES", "prom", samples(range(0, 2), gpu="GPU-b"), ["node", "gpu_uuid"]) == 2
    got = st.read("GPU_SAMPLES")
    assert got.height == 10 and got.unique(["gpu_uuid", "ts"]).height == 10
    days = sorted(p.name for p in (tmp_path / "s" / "gpu_samples" / "_source=prom").iterdir())
    assert days == ["_day=2025-03-01", "_day=2025-03-02"]  # minutes 0-1 before midnight, the rest after
    assert is_store(tmp_path / "s") and not is_store(tmp_path)
    info = st.info()["gpu_samples"]
    assert info["rows"] == 10 and info["sources"] == ["prom"] and info["days"] == 2  # type: ignore[index]
    # a fresh Store object reads the same watermarks, from the committed rows
    keys = ["node", "gpu_uuid"]
    assert Store(tmp_path / "s").watermark("prom", "n1|GPU-a", keys) == T0 + timedelta(minutes=7)
    assert Store(tmp_path / "s").newest("prom") == T0 + timedelta(minutes=7)


def test_append_validates(tmp_path: Path) -> None:
    bad = samples(range(2)).with_columns(pl.lit(1.5).alias("util"))
    with pytest.raises(SchemaError, match="util"):
        Store(tmp_path).append("GPU_SAMPLES", "prom", bad, ["gpu_uuid"])
    assert Store(tmp_path).read("GPU_SAMPLES").height == 0


def test_dcgm_labels_and_units() -> None:
    assert label({"hostname": "h1"}, "node") == "h1" and label({"Hostname": "H"}, "node") == "H"
    assert label({"exported_pod": "p"}, "pod") == "p" and label({"uuid": "u"}, "gpu_uuid") == "u"
    wide = pl.DataFrame(
        {
            "ts": [1.0e9, 1.0e9],
            "node": ["n", "n"],
            "gpu_uuid": ["u1", "u2"],
            "gpu_index": ["0", "1"],
            "gpu_model": ["A100", "A100"],
            "mig_profile": [None, "1g.10gb"],
            "namespace": [None, None],
            "pod": [None, None],
            "container": [None, None],
            "util": [40.0 * 0.01, None],  # percent on the whole GPU, absent on MIG
            "engine_active": [None, 0.25],
            "mem_used_bytes": [1024.0 * 2**20, 512.0 * 2**20],
            "mem_free_bytes": [1024.0 * 2**20, None],
        }
    )
    out = to_gpu_samples(wide)
    assert out["util"].to_list() == [0.4, 0.25]
    assert out["mem_used_bytes"].to_list() == [2**30, 2**29]
    assert out["mem_total_bytes"].to_list() == [2**31, None]


def test_parse_since() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert parse_since("6h", now) == now - timedelta(hours=6)
    assert parse_since("2025-01-01T00:00:00", now) == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(GpufleetError, match="--since"):
        parse_since("yesterday", now)


def test_compact_and_retention_keep_the_data_exact(tmp_path: Path) -> None:
    from datetime import date

    from typer.testing import CliRunner

    from gpufleet.cli import app

    st = Store(tmp_path / "s")
    for k in range(4):  # four appends -> several parts per day
        st.append("GPU_SAMPLES", "prom", samples(range(3 * k, 3 * k + 3)), ["gpu_uuid"])
    before = st.read("GPU_SAMPLES").sort("ts")
    res = CliRunner().invoke(app, ["store", "compact", "--store", str(tmp_path / "s"), "--json"])
    assert res.exit_code == 0, res.output
    after = Store(tmp_path / "s").read("GPU_SAMPLES").sort("ts")
    assert after.equals(before)
    # one file per day left on disk: the replaced ones are deleted after the commit
    assert all(len(list(d.glob("*.parquet"))) == 1 for d in (tmp_path / "s").glob("*/_source=*/_day=*"))
    # keep 0 days before 2025-03-02: the 2025-03-01 partition goes, the rest stays
    out = Store(tmp_path / "s").retention(0, today=date(2025, 3, 2))
    assert out["days_deleted"] == 1
    left = Store(tmp_path / "s").read("GPU_SAMPLES")
    assert left.height == before.filter(pl.col("ts").dt.date() >= date(2025, 3, 2)).height
    # the deleted day is not collected again by a re-run of its window (the cut-off is kept)
    again = Store(tmp_path / "s")
    assert again.append("GPU_SAMPLES", "prom", samples(range(0, 2), gpu="GPU-new"), ["gpu_uuid"]) == 0
    assert again.skipped_retained == 2
    bad = CliRunner().invoke(app, ["store", "info", "--store", str(tmp_path)])
    assert bad.exit_code == 2 and "not a collector store" in bad.stderr


def test_exporter_without_nvml_says_so_and_exits_3() -> None:
    from typer.testing import CliRunner

    from gpufleet.cli import app

    try:
        import pynvml

        pynvml.nvmlInit()
        pytest.skip("NVML works on this machine: the no-NVML path cannot be shown here")
    except Exception:
        pass
    res = CliRunner().invoke(app, ["exporter", "--port", "0", "--duration", "1"])
    assert res.exit_code == 3 and "NVML is not available on this machine" in res.stderr
