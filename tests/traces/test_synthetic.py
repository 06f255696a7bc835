"""The synthetic fleet and workload: canonical, deterministic, and calibrated to the public traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gpufleet.core.errors import TraceError
from gpufleet.core.gpus import gpu_spec
from gpufleet.core.schemas import GPU_SAMPLES, JOBS, NODES, REQUESTS, validate
from gpufleet.traces.base import DATASETS, ReadContext
from gpufleet.traces.synthetic import (
    demo_frames,
    synthetic_gpu_samples,
    synthetic_jobs,
    synthetic_nodes,
    synthetic_requests,
)
from gpufleet.traces.synthetic.config import (
    DemoConfig,
    NodePool,
    SyntheticJobsConfig,
    SyntheticNodesConfig,
    SyntheticRequestsConfig,
    SyntheticSamplesConfig,
)
from gpufleet.traces.synthetic.jobs import HOUR_PROFILE, QUANTILE_P, QUANTILE_S
from gpufleet.traces.synthetic.samples import POWER_W

# Microsoft ITP cluster04: 15,802 jobs over 59.5 days.
ITP_GPU_JOBS = {1: 11924, 2: 125, 4: 532, 8: 2779, 16: 182, 32: 254, 64: 6}
ITP_DURATION = {10: 1349.0, 50: 7949.0, 90: 29003.0, 99: 257715.0}
# Azure LLM inference trace 2023 medians: (input, output) tokens.
AZURE_MEDIANS = {"code": (1469, 13), "conv": (1020, 129)}


@pytest.fixture(scope="module")
def big_jobs() -> pl.DataFrame:
    return synthetic_jobs(SyntheticJobsConfig(n_jobs=20_000, seed=11))


@pytest.fixture(scope="module")
def samples() -> pl.DataFrame:
    return synthetic_gpu_samples(SyntheticSamplesConfig())


# --- every part is canonical and deterministic -------------------------------------------------------------

GENERATORS = {
    "jobs": (lambda s: synthetic_jobs(SyntheticJobsConfig(seed=s, n_jobs=2000)), JOBS),
    "nodes": (lambda s: synthetic_nodes(SyntheticNodesConfig(seed=s)), NODES),
    "requests": (lambda s: synthetic_requests(SyntheticRequestsConfig(seed=s, hours=2)), REQUESTS),
    "samples": (lambda s: synthetic_gpu_samples(SyntheticSamplesConfig(seed=s, hours=12, n_gpus=8)), GPU_SAMPLES),
}


@pytest.mark.parametrize("part", list(GENERATORS))
def test_valid_and_already_canonical(part: str) -> None:
    make, tbl = GENERATORS[part]
    frame = make(7)
    out = validate(frame, tbl)
    assert frame.height > 0
    assert frame.columns == tbl.names and out.equals(frame)  # nothing left for validate to cast or add


@pytest.mark.parametrize("part", list(GENERATORS))
def test_same_seed_same_frame(part: str) -> None:
    make, _ = GENERATORS[part]
    assert make(3).equals(make(3))


@pytest.mark.parametrize("part", ["jobs", "requests", "samples"])
def test_different_seed_different_frame(part: str) -> None:
    make, _ = GENERATORS[part]
    assert not make(3).equals(make(4))


def test_no_global_random_state() -> None:
    a = synthetic_jobs(SyntheticJobsConfig(n_jobs=500))
    np.random.seed(123)
    np.random.random(10)
    assert synthetic_jobs(SyntheticJobsConfig(n_jobs=500)).equals(a)


# --- jobs: calibrated to ITP cluster04 ----------------------------------------------------------------------


def test_gpu_mix_matches_itp(big_jobs: pl.DataFrame) -> None:
    total = sum(ITP_GPU_JOBS.values())
    got = big_jobs["num_gpus"].value_counts()
    share = {int(g): c / big_jobs.height for g, c in got.iter_rows()}
    assert set(share) <= set(ITP_GPU_JOBS)
    for g, n in ITP_GPU_JOBS.items():
        assert abs(share.get(g, 0.0) - n / total) < 0.02, (g, share.get(g), n / total)


def test_duration_quantiles_match_itp(big_jobs: pl.DataFrame) -> None:
    d = big_jobs["duration"].to_numpy()
    for p, want in ITP_DURATION.items():
        got = float(np.percentile(d, p))
        tol = 1.25 if p in (50, 90) else 1.5
        assert want / tol < got < want * tol, (p, got, want)
    assert d.min() >= 600 and d.max() <= 1_237_189  # the trace's own range


def test_bigger_jobs_run_longer(big_jobs: pl.DataFrame) -> None:
    med = big_jobs.group_by("num_gpus").agg(pl.col("duration").median()).sort("num_gpus")
    by = dict(med.iter_rows())
    assert by[8.0] > 2 * by[1.0] and by[32.0] > by[8.0]  # ITP: 7,596 s / 18,447 s / 85,561 s


def _hourly(jobs: pl.DataFrame) -> np.ndarray:
    hours = (jobs["submit_time"].to_numpy() // 3600).astype(np.int64) % 24
    return np.bincount(hours, minlength=24).astype(np.float64)


def _top_bottom_ratio(counts: np.ndarray) -> float:
    s = np.sort(counts)
    return float(s[-6:].sum() / s[:6].sum())


def test_diurnal_arrivals_follow_itp_profile() -> None:
    cfg = SyntheticJobsConfig(n_jobs=100_000, days=28)
    counts = _hourly(synthetic_jobs(cfg))
    flat = _hourly(synthetic_jobs(cfg.model_copy(update={"diurnal_strength": 0.0})))
    assert _top_bottom_ratio(counts) > 1.15  # the smoothed ITP profile itself gives 1.24
    assert _top_bottom_ratio(flat) < 1.1
    assert np.corrcoef(counts, HOUR_PROFILE)[0, 1] > 0.8
    assert counts[4:9].mean() > counts[13:17].mean()  # ITP's busy early hours vs its quiet afternoon


def test_weekends_are_quieter() -> None:
    jobs = synthetic_jobs(SyntheticJobsConfig(n_jobs=50_000, days=28, day_volatility=0.0))
    dow = (jobs["submit_time"].to_numpy() // 86400).astype(np.int64) % 7
    per_day = np.bincount(dow, minlength=7) / 4.0
    assert per_day[5:].mean() < 0.8 * per_day[:5].mean()


def test_jobs_sorted_in_window_with_unique_ids() -> None:
    cfg = SyntheticJobsConfig(n_jobs=3000, days=3.5)
    jobs = synthetic_jobs(cfg)
    t = jobs["submit_time"].to_numpy()
    assert (np.diff(t) >= 0).all() and t.min() >= 0
    assert t.max() < cfg.days * 86400 + 600  # a burst may spill a few seconds past the window
    assert jobs["job_id"].n_unique() == jobs.height


def test_resubmitted_names_are_predictable(big_jobs: pl.DataFrame) -> None:
    logd = big_jobs.with_columns(pl.col("duration").log().alias("ld"))
    per_name = logd.group_by("name").agg(
        pl.len().alias("n"),
        pl.col("ld").std().alias("sd"),
        pl.col("num_gpus").n_unique().alias("sizes"),
        pl.col("user").n_unique().alias("users"),
        pl.col("num_cpus").n_unique().alias("cpus"),
    )
    assert (per_name["sizes"] == 1).all() and (per_name["users"] == 1).all() and (per_name["cpus"] == 1).all()
    repeated = per_name.filter(pl.col("n") >= 3)
    assert repeated["n"].sum() > 0.8 * big_jobs.height  # most jobs are resubmissions of a known name
    within = float(np.sqrt(np.average(repeated["sd"].to_numpy() ** 2, weights=repeated["n"].to_numpy())))
    assert within < 0.7 * float(logd["ld"].std())  # measured: about half


def test_failures_are_shorter_and_more_common_for_big_jobs(big_jobs: pl.DataFrame) -> None:
    share = dict(big_jobs["status"].value_counts(normalize=True).iter_rows())
    assert set(share) == {"Pass", "Failed", "Killed"}
    assert 0.1 < share["Failed"] < 0.35 and 0.02 < share["Killed"] < 0.15
    # Within one name, failed runs are shorter than passing ones and killed ones longer.
    rel = big_jobs.with_columns((pl.col("duration").log() - pl.col("duration").log().mean().over("name")).alias("rel"))
    by = dict(rel.group_by("status").agg(pl.col("rel").mean()).iter_rows())
    assert by["Failed"] < by["Pass"] < by["Killed"]
    fail = big_jobs.group_by(pl.col("num_gpus") >= 8).agg((pl.col("status") == "Failed").mean())
    rate = dict(fail.iter_rows())
    assert rate[True] > 1.5 * rate[False]


def test_users_groups_resources_and_pins(big_jobs: pl.DataFrame) -> None:
    cfg = SyntheticJobsConfig()
    assert big_jobs["user"].n_unique() <= cfg.n_users and big_jobs["group"].n_unique() <= cfg.n_groups
    assert big_jobs.group_by("user").agg(pl.col("group").n_unique())["group"].max() == 1
    top_user = big_jobs["user"].value_counts(sort=True)["count"][0] / big_jobs.height
    assert 0.05 < top_user < 0.4  # Zipf-like activity (Philly's busiest user: 15%)
    per_gpu_cpu = big_jobs["num_cpus"] / big_jobs["num_gpus"]
    per_gpu_mem = big_jobs["mem_bytes"] / big_jobs["num_gpus"]
    assert per_gpu_cpu.is_in([4.0, 6.0, 8.0, 10.0]).all()
    assert (per_gpu_mem / 2**30).is_in([16.0, 24.0, 32.0, 48.0]).all()
    kinds = dict(big_jobs["kind"].value_counts(normalize=True).iter_rows())
    assert set(kinds) == {"train", "other"} and kinds["train"] > 0.75
    pinned = big_jobs.filter(pl.col("gpu_type").is_not_null())
    assert 0.05 < pinned.height / big_jobs.height < 0.4
    node_types = set(synthetic_nodes(SyntheticNodesConfig())["gpu_type"].drop_nulls())
    for t in pinned["gpu_type"].unique():
        assert set(t.split("|")) <= node_types, t
    assert pinned.filter(pl.col("gpu_type") == "A10|T4")["num_gpus"].max() <= 4


def test_zero_jobs_is_an_empty_canonical_frame() -> None:
    frame = synthetic_jobs(SyntheticJobsConfig(n_jobs=0))
    assert frame.height == 0 and validate(frame, JOBS).columns == JOBS.names


def test_custom_gpu_mix_is_respected() -> None:
    jobs = synthetic_jobs(SyntheticJobsConfig(n_jobs=2000, gpu_mix={8: 1.0, 64: 1.0}))
    assert set(jobs["num_gpus"].unique()) == {8.0, 64.0}


def test_million_jobs_vectorized() -> None:
    jobs = synthetic_jobs(SyntheticJobsConfig(n_jobs=1_000_000, days=365))
    assert jobs.height == 1_000_000 and jobs["job_id"].n_unique() == 1_000_000


# --- nodes --------------------------------------------------------------------------------------------------


def test_default_fleet() -> None:
    nodes = synthetic_nodes(SyntheticNodesConfig())
    assert nodes.height == 64 and int(nodes["num_gpus"].sum()) == 432
    assert set(nodes["gpu_type"]) == {"A100", "H100", "V100", "A10", "T4"}
    for t, mem in nodes.select("gpu_type", "gpu_mem_bytes").unique().iter_rows():
        assert mem == gpu_spec(t).mem_bytes
    assert nodes.filter(pl.col("gpu_type").is_in(["A10", "T4"]))["num_gpus"].unique().to_list() == [4]


def test_cpu_only_pool() -> None:
    pool = NodePool(name="cpu", gpu_type=None, count=2, gpus_per_node=0, cpus=64, mem_gib=256)
    nodes = validate(synthetic_nodes(SyntheticNodesConfig(pools=[pool])), NODES)
    assert nodes["gpu_mem_bytes"].null_count() == 2 and nodes["node_id"].to_list() == ["n000-cpu", "n001-cpu"]


# --- requests: Azure-like tokens, diurnal rate with bursts -------------------------------------------------


def test_token_lengths_match_azure() -> None:
    req = synthetic_requests(SyntheticRequestsConfig(hours=6))
    med = req.group_by("model").agg(pl.col("input_tokens").median(), pl.col("output_tokens").median())
    got = {m: (i, o) for m, i, o in med.iter_rows()}
    assert set(got) == {"code", "conv"}
    for model, (want_in, want_out) in AZURE_MEDIANS.items():
        assert want_in / 1.5 < got[model][0] < want_in * 1.5
        assert want_out / 1.5 < got[model][1] < want_out * 1.5
    assert req["input_tokens"].min() >= 1 and req.filter(pl.col("model") == "conv")["output_tokens"].max() <= 1000
    assert abs((req["model"] == "code").mean() - 0.31) < 0.05


def test_requests_rate_diurnal_and_bursty() -> None:
    cfg = SyntheticRequestsConfig()
    req = synthetic_requests(cfg)
    t = req["arrival_time"].to_numpy()
    assert (np.diff(t) >= 0).all() and t.min() >= 0 and t.max() < cfg.hours * 3600
    assert req["request_id"].n_unique() == req.height
    assert abs(req.height / (cfg.hours * 3600) / cfg.mean_rps - 1) < 0.15
    hourly = np.bincount((t // 3600).astype(np.int64), minlength=24)
    assert hourly[12:17].sum() > 1.4 * hourly[0:5].sum()  # peak at 14:00, trough at 02:00

    def dispersion(times: np.ndarray) -> float:
        c = np.bincount(times.astype(np.int64), minlength=int(cfg.hours * 3600))
        return float(c.var() / c.mean())

    calm = synthetic_requests(cfg.model_copy(update={"bursts_per_hour": 0.0}))["arrival_time"].to_numpy()
    assert dispersion(t) > 1.2  # bursts
    assert dispersion(calm) < 1.15  # Poisson is 1; the day cycle alone adds ~0.1
    top_client = req["client"].value_counts(sort=True)["count"][0] / req.height
    assert top_client > 0.15  # Zipf-like clients (ServeGen: one client sends about half)


# --- GPU samples --------------------------------------------------------------------------------------------


def test_samples_grid_and_identity(samples: pl.DataFrame) -> None:
    cfg = SyntheticSamplesConfig()
    n_t = int(cfg.hours * 3600 / cfg.interval_s)
    assert samples.height == cfg.n_gpus * n_t
    ts = samples["ts"].unique().sort()
    assert ts[0] == datetime(2026, 1, 5, tzinfo=UTC) and ts.len() == n_t
    assert (ts.diff().drop_nulls() == timedelta(seconds=cfg.interval_s)).all()
    gpus = samples.select("node", "gpu_index", "gpu_uuid", "gpu_model").unique()
    assert gpus.height == cfg.n_gpus and gpus["gpu_uuid"].n_unique() == cfg.n_gpus
    assert set(gpus["gpu_model"]) == {"A100", "H100", "V100", "A10", "T4"}
    assert set(gpus["node"]) <= set(synthetic_nodes(SyntheticNodesConfig())["node_id"])
    assert (samples["source"] == "synthetic").all()
    other = synthetic_gpu_samples(SyntheticSamplesConfig(seed=99, hours=1))
    assert set(other["gpu_uuid"]) == set(gpus["gpu_uuid"])  # a GPU's id does not depend on the seed


def test_util_range_idle_gaps_and_daily_cycle(samples: pl.DataFrame) -> None:
    util = samples["util"]
    assert util.min() >= 0 and util.max() <= 1
    assert 0.1 < (util == 0).mean() < 0.6
    runs = (
        samples.with_columns((pl.col("util") == 0).alias("idle"))
        .with_columns(
            (pl.col("idle") != pl.col("idle").shift()).fill_null(True).cum_sum().over("gpu_uuid").alias("run")
        )
        .filter("idle")
        .group_by("gpu_uuid", "run")
        .len()
    )
    assert (runs["len"] >= 30).sum() >= 32  # many idle stretches of half an hour or more
    by_hour = samples.group_by(pl.col("ts").dt.hour().alias("h")).agg(pl.col("util").mean()).sort("h")
    u = by_hour["util"].to_numpy()
    assert u[12:17].mean() > 1.2 * u[0:5].mean()


def test_memory_power_and_pods_follow_util(samples: pl.DataFrame) -> None:
    frac = (samples["mem_used_bytes"] / samples["mem_total_bytes"]).to_numpy()
    assert frac.min() >= 0 and frac.max() <= 1
    assert np.corrcoef(samples["util"].to_numpy(), frac)[0, 1] > 0.5
    for model, (idle_w, tdp) in POWER_W.items():
        p = samples.filter(pl.col("gpu_model") == model)["power_w"]
        if p.len():
            assert p.min() >= 0.8 * idle_w - 1e-9 and p.max() <= tdp + 1e-9
    busy = samples.filter(pl.col("util") > 0)
    assert busy["pod"].null_count() == 0 and busy["namespace"].null_count() == 0
    assert samples["pod"].null_count() > 0  # unallocated stretches carry no pod, as in dcgm-exporter
    assert set(samples["namespace"].drop_nulls()) <= {"ml-train", "ml-serving", "notebooks"}


def test_too_many_gpus_is_one_clear_error() -> None:
    with pytest.raises(TraceError, match="exceeds the 432 GPUs"):
        synthetic_gpu_samples(SyntheticSamplesConfig(n_gpus=433, hours=1))


# --- registration, params and the demo config --------------------------------------------------------------


def test_dataset_registered_with_four_parts() -> None:
    ds = DATASETS.get("synthetic")
    assert ds.folder is None and ds.default_part == "jobs"
    assert ds.part_names == ["jobs", "nodes", "requests", "gpu-samples"]
    assert [p.table for p in ds.parts] == ["JOBS", "NODES", "REQUESTS", "GPU_SAMPLES"]


def test_reader_params_and_aliases() -> None:
    part = DATASETS.get("synthetic").part("jobs")
    assert part is not None
    ctx = ReadContext(folder=None, params={"n": "300", "seed": 5, "days": "2"})
    frame = part.read(ctx)
    assert frame.equals(synthetic_jobs(SyntheticJobsConfig(n_jobs=300, seed=5, days=2)))
    assert ctx.notes and ctx.epoch is not None
    samples_part = DATASETS.get("synthetic").part("gpu-samples")
    assert samples_part is not None
    assert samples_part.read(ReadContext(folder=None, params={"n": 4, "hours": 1})).height == 4 * 60


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_jobz": 3}, "n_jobz"),
        ({"n": -1}, "n_jobs=-1"),
        ({"gpu_mix": '{"3": 1}'}, "no run-time model"),
        ({"n": 5, "n_jobs": 6}, "given twice"),
    ],
)
def test_bad_params_raise_one_line(params: dict[str, object], message: str) -> None:
    part = DATASETS.get("synthetic").part("jobs")
    assert part is not None
    with pytest.raises(TraceError, match=message) as e:
        part.read(ReadContext(folder=None, params=params))
    assert "\n" not in str(e.value)


def test_demo_config_shares_its_seed() -> None:
    cfg = DemoConfig.with_seed(3, jobs={"seed": 9})
    assert (cfg.jobs.seed, cfg.nodes.seed, cfg.requests.seed, cfg.samples.seed) == (9, 3, 3, 3)
    assert DemoConfig().out_dir == "out/demo" and DemoConfig().seed == 7
    assert DemoConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_demo_frames_are_canonical() -> None:
    cfg = DemoConfig(
        jobs=SyntheticJobsConfig(n_jobs=300),
        requests=SyntheticRequestsConfig(hours=1),
        samples=SyntheticSamplesConfig(hours=2),
    )
    frames = demo_frames(cfg)
    tables = {"jobs": JOBS, "nodes": NODES, "requests": REQUESTS, "gpu-samples": GPU_SAMPLES}
    for name, frame in frames.items():
        validate(frame, tables[name])


# --- the hard-coded calibration still matches the real trace (skipped without it) ---------------------------


@pytest.mark.traces
def test_calibration_constants_match_itp_cluster04(data_dir: Path) -> None:
    itp = pl.read_csv(data_dir / "microsoft-itp-elasticflow" / "itp_cluster04.csv.gz")
    counts = np.bincount((itp["submission_time"].to_numpy() // 3600) % 24, minlength=24).astype(np.float64)
    p = counts / counts.mean()
    smoothed = (np.roll(p, 1) + p + np.roll(p, -1)) / 3
    assert np.allclose(smoothed, HOUR_PROFILE, atol=0.001)
    for row, g in zip(QUANTILE_S, (1, 2, 4, 8, 16, 32, 64), strict=True):
        d = itp.filter(pl.col("num_gpu") == g)["duration"].to_numpy()
        assert np.allclose(np.percentile(d, QUANTILE_P * 100), row, atol=0.51)
