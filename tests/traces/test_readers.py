"""Every reader against the real files: row counts and value ranges stated in each dataset's README."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from gpufleet.core.schemas import TABLES, validate
from gpufleet.traces import DATASETS, load

pytestmark = pytest.mark.traces


def _gpu_counts(df: pl.DataFrame, col: str = "num_gpus") -> dict[float, int]:
    return dict(df.group_by(col).len().iter_rows())


def test_every_part_of_every_dataset_loads_and_validates(data_dir: Path) -> None:
    t0 = time.perf_counter()
    n = 0
    for name, ds in DATASETS.items():
        if ds.folder is None:
            continue
        for part in ds.parts:
            if not part.present(data_dir / ds.folder):
                continue  # e.g. the ITP clusters this folder does not hold
            tr = load(f"{name}:{part.name}", data_dir)
            assert tr.meta.rows > 0, f"{name}:{part.name} is empty"
            assert tr.meta.skipped == {}, f"{name}:{part.name} skipped rows in clean data: {tr.meta.skipped}"
            validate(tr.frame, TABLES[part.table])  # idempotent on a canonical frame
            n += 1
    assert n >= 50
    # Issue #2 asks that loading every dataset once takes <= 10 s here; print it rather than assert timings.
    print(f"loaded {n} parts in {time.perf_counter() - t0:.2f} s")


def test_nine_datasets_plus_synthetic() -> None:
    folders = [ds for _, ds in DATASETS.items() if ds.folder]
    assert len(folders) == 9
    assert "synthetic" in DATASETS


def test_itp_clusters_match_readme(data_dir: Path) -> None:
    # README table: jobs and the 1/2/4/8/16/32/64 GPU mix per cluster
    expected = {
        "cluster01": (1595, [1530, 11, 6, 5, 6, 11, 26]),
        "cluster02": (5778, [4937, 102, 301, 352, 36, 36, 14]),
        "cluster04": (15802, [11924, 125, 532, 2779, 182, 254, 6]),
        "cluster05": (3629, [3465, 50, 37, 77, 0, 0, 0]),
        "cluster06": (2396, [1073, 6, 148, 1082, 59, 20, 8]),
        "cluster07": (12699, [9854, 836, 1071, 936, 2, 0, 0]),
        "cluster09": (11134, [11134, 0, 0, 0, 0, 0, 0]),
    }
    total = 0
    for cluster, (rows, mix) in expected.items():
        f = load(f"itp:{cluster}", data_dir).frame
        assert f.height == rows
        counts = _gpu_counts(f)
        assert [counts.get(float(g), 0) for g in (1, 2, 4, 8, 16, 32, 64)] == mix
        med_h = f["duration"].median() / 3600
        assert 1.2 - 0.05 <= med_h <= 3.3 + 0.05, f"{cluster} median {med_h:.2f} h"
        assert f["submit_time"].is_sorted()
        total += rows
    assert total == 53033
    f4 = load("itp:cluster04", data_dir).frame
    gpu_h = (f4["duration"] * f4["num_gpus"]).sum() / 3600
    assert abs(gpu_h - 705_683) < 1
    assert abs((f4["submit_time"].max() - f4["submit_time"].min()) / 86400 - 59.5) < 0.1


def test_openb_pods_and_nodes_match_readme(data_dir: Path) -> None:
    pods = load("openb:default", data_dir).frame
    assert pods.height == 8152
    raw_gpu = pods.with_columns(
        pl.when(pl.col("num_gpus").is_between(0, 1, closed="none")).then(1.0).otherwise(pl.col("num_gpus")).alias("g")
    )
    assert _gpu_counts(raw_gpu, "g") == {0.0: 1088, 1.0: 6989, 2.0: 16, 4.0: 15, 8.0: 44}
    assert pods.filter((pl.col("num_gpus") > 0) & (pl.col("num_gpus") < 1)).height == 3078
    assert dict(pods.group_by("qos").len().iter_rows()) == {
        "LS": 4647,
        "BE": 3398,
        "Burstable": 100,
        "Guaranteed": 7,
    }
    assert dict(pods.group_by("status").len().iter_rows()) == {
        "Running": 5193,
        "Failed": 1870,
        "Pending": 897,
        "Succeeded": 192,
    }
    life = pods["duration"]
    assert 6 * 60 <= life.median() <= 12 * 60  # README: median ~9 minutes
    assert 1.5 * 3600 <= life.quantile(0.9) <= 2.1 * 3600  # p90 ~1.8 h
    nodes = load("openb:nodes", data_dir).frame
    assert nodes.height == 1523 and int(nodes["num_gpus"].sum()) == 6212
    assert int((nodes["num_gpus"] > 0).sum()) == 1213
    by_type = dict(nodes.group_by("gpu_type").len().iter_rows())
    assert by_type == {
        "G2": 549,
        "T4": 404,
        "P100": 134,
        "V100M16": 55,
        "G3": 39,
        "V100M32": 30,
        "A10": 2,
        None: 310,
    }
    assert load("openb:gpu-nodes", data_dir).meta.rows == 1213
    assert load("openb:multigpu50", data_dir).meta.rows == 9061
    assert load("openb:cpu300", data_dir).meta.rows == 10094


def test_pai_and_spot_inventories_match_readme(data_dir: Path) -> None:
    pai = load("pai:machines", data_dir).frame
    assert pai.height == 1897 and int(pai["num_gpus"].sum()) == 6742
    assert dict(pai.group_by("pool").len().iter_rows()) == {
        "P100": 798,
        "T4": 497,
        "MISC": 280,
        "V100M32": 135,
        "V100": 104,
        "CPU": 83,
    }
    assert pai.filter(pl.col("gpu_type").is_null())["num_gpus"].sum() == 0
    spot = load("spot:nodes", data_dir).frame
    assert spot.height == 4278 and int(spot["num_gpus"].sum()) == 10412
    assert dict(spot.group_by("gpu_type").len().iter_rows()) == {
        "A10": 2494,
        "GPU-series-1": 989,
        "A100-SXM4-80GB": 432,
        "H800": 219,
        "GPU-series-2": 122,
        "A800-SXM4-80GB": 22,
    }


def test_philly_matches_readme(data_dir: Path) -> None:
    jobs = load("philly:jobs", data_dir).frame
    assert jobs.height == 15000
    assert dict(jobs.group_by("status").len().iter_rows()) == {"Pass": 8538, "Failed": 4509, "Killed": 1953}
    assert _gpu_counts(jobs) == {
        1.0: 11963,
        8.0: 1477,
        4.0: 905,
        2.0: 375,
        16.0: 243,
        32.0: 33,
        48.0: 3,
        28.0: 1,
    }
    assert jobs["user"].n_unique() == 136
    assert jobs["duration"].median() == 289 and jobs["duration"].max() == pytest.approx(5.2e6, rel=0.05)
    assert abs(jobs["submit_time"].max() / 86400 - 57.6) < 0.1
    busy = load("philly:busy-servers", data_dir).frame
    active = busy.filter(pl.col("unique_id") == "active")
    assert active.height == 105644
    assert abs(active["y"].mean() - 313) < 1
    total = busy.filter(pl.col("unique_id") == "total")["y"]
    assert total.mode().to_list() == [420.0]


def test_helios_matches_readme(data_dir: Path) -> None:
    caps = {
        "vc3sl": 64,
        "vc8Sj": 48,
        "vcJLV": 16,
        "vcLJZ": 64,
        "vcSoL": 32,
        "vccaA": 32,
        "vcgkz": 8,
        "vchbv": 64,
        "vcira": 24,
        "vcpDC": 56,
    }
    means = {}
    for vc, cap in caps.items():
        f = load(f"helios:{vc}", data_dir).frame
        tot = f.filter(pl.col("unique_id") == "total_gpu_num")
        assert tot.height == 44640
        assert tot["y"].unique().to_list() == [float(cap)]
        util = f.filter(pl.col("unique_id") == "gpu_utilization")["y"]
        assert util.min() >= 0 and util.max() <= 1
        means[vc] = util.mean()
    assert min(means, key=means.get) == "vcira" and round(means["vcira"], 2) == 0.02  # type: ignore[arg-type]
    assert round(max(means.values()), 2) == 0.91
    gpus = load("helios:earth-gpus", data_dir).frame.filter(pl.col("unique_id") == "total")["y"]
    assert gpus.len() == 181 and gpus.min() == 784 and gpus.max() == 1232


def test_genai_matches_readme(data_dir: Path) -> None:
    duty = load("genai:duty-cycle", data_dir).frame
    assert duty.height == 123532 and duty["pod"].n_unique() == 110
    assert duty["ts"].n_unique() == 1441
    assert 0.05 <= duty["util"].mean() <= 0.09 and duty["util"].median() == 0  # ~7 %, median 0
    span_h = (duty["ts"].max() - duty["ts"].min()).total_seconds() / 3600
    assert abs(span_h - 22.8) < 0.1
    mem = load("genai:gpu-memory", data_dir).frame
    assert mem.height == 127377 and mem["pod"].n_unique() == 111
    req = load("genai:requests", data_dir).frame
    assert req.height == 26823
    assert req["service_time"].median() == 23 and req["service_time"].max() == 567
    assert dict(req.group_by("predict_type").len().iter_rows()) == {
        "TXT_2_IMG": 24438,
        "IMG_2_IMG": 2199,
        "INPAINTING": 186,
    }
    assert req["client"].n_unique() == 4247
    rows = {
        "qps": 18525,
        "queue-rt": 17388,
        "queue-size": 1434,
        "memory-util": 166407,
        "model-predict": 5505,
        "pipeline-inference": 26331,
        "pipeline-update": 27510,
        "basemodel-update": 6205,
        "lora-update": 20598,
        "controlnet-update": 21627,
    }
    for part, n in rows.items():
        assert load(f"genai:{part}", data_dir).meta.rows == n, part
    rt = load("genai:queue-rt", data_dir).frame["y"]
    assert rt.median() < 60  # milliseconds converted to seconds


def test_azure_llm_matches_readme(data_dir: Path) -> None:
    facts = {"code": (8819, 2048, 1469, 28, 13, 57), "conv": (19366, 1155, 1020, 211, 129, 58)}
    for svc, (rows, in_mean, in_med, out_mean, out_med, minutes) in facts.items():
        f = load(f"azure-llm:{svc}", data_dir).frame
        assert f.height == rows
        assert round(f["input_tokens"].mean()) == in_mean and f["input_tokens"].median() == in_med
        assert round(f["output_tokens"].mean()) == out_mean and f["output_tokens"].median() == out_med
        assert abs(f["arrival_time"].max() / 60 - minutes) < 1.5
        assert f["arrival_time"].min() == 0


def test_servegen_matches_readme(data_dir: Path) -> None:
    for model, clients, rows, mean_rate in (("m-small", 43, 86688, 1174), ("m-mid", 109, 219744, 1790)):
        f = load(f"servegen:{model}", data_dir).frame
        assert f.height == rows and f["unique_id"].n_unique() == clients
        assert f.group_by("unique_id").len()["len"].unique().to_list() == [2016]
        total = f.group_by("ds").agg(pl.col("y").sum())["y"]
        assert abs(total.mean() - mean_rate) / mean_rate < 0.01
        span_days = (f["ds"].max() - f["ds"].min()).total_seconds() / 86400
        assert 13.9 < span_days <= 14
