"""`--compat helios` against the one-second-tick loop it reproduces, in one process, and the CLI's whole-trace FIFO.

1. Philly's busiest week (10,014 jobs from day 49), users split into 11 VCs (user id mod 11: the shipped trace has
   no VC ids), each VC sized so its GPU demand over the week is 0.7 of it. Per scheduler: our replay (all VCs,
   partitioned) and the tick baseline (tests/sim/helios_reference.py with skip_idle off: every second, as the
   Helios/Lucid loops run), wall time of each, the ratio, and how many jobs start in the same second.
2. The whole-trace FIFO replay end to end through `gpufleet simulate --compat helios` on a stand-in for the
   engine's 82,229-job Philly run (we do not have that trace): philly:jobs repeated back to back to 82,229 jobs,
   11 VCs at 0.7 load, written as a CSV; best of 3 runs after a warm-up, bytecode cached as an install has it.
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_compat_helios.py [--skip-cli] [--schedulers fifo,...]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the transcription of their loop lives with the tests that check it

import polars as pl  # noqa: E402


def vc_sizes(jobs: pl.DataFrame, span: float, load: float) -> dict[str, int]:
    """8-GPU nodes per VC so its GPU demand over `span` is `load` of it (at least its widest job)."""
    out = {}
    for (vc,), g in sorted(jobs.group_by("group"), key=lambda x: str(x[0][0])):
        demand = float((g["duration"].clip(upper_bound=span) * g["num_gpus"]).sum()) / span
        out[str(vc)] = max(math.ceil(demand / load / 8), math.ceil(float(g["num_gpus"].max()) / 8))  # type: ignore[arg-type]
    return out


def busiest_week() -> tuple[pl.DataFrame, dict[str, int]]:
    """Philly from day 49 for 7 days, 11 VCs, whole seconds, 0.7 load."""
    from gpufleet.traces import load

    start, span = 49 * 86400, 7 * 86400
    jobs = (
        load("philly:jobs")
        .frame.filter(pl.col("submit_time") >= start, pl.col("submit_time") < start + span)
        .filter(pl.col("duration") >= 1, pl.col("num_gpus") >= 1)
        .with_columns(
            pl.col("submit_time").floor(),
            pl.col("duration").round(),
            ("vc" + (pl.col("user").cast(pl.Int64) % 11).cast(pl.String)).alias("group"),
        )
    )
    return jobs, vc_sizes(jobs, span, 0.7)


def compare(jobs: pl.DataFrame, vcs: dict[str, int], scheduler: str, figure: dict[str, float]) -> dict[str, Any]:
    """Our replay and the tick baseline on the same jobs and VCs; their times and the start-second match."""
    from tests.sim import helios_reference as ref

    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig
    from gpufleet.sim.tenancy import TenancySpec, run_partitioned

    if scheduler == "qssf":
        given = pl.col("job_id").replace_strict(figure, return_dtype=pl.Float64)
        jobs = jobs.with_columns(given.alias("qssf_priority"))
    nodes, spec = parse_spec(f"{sum(vcs.values())}x8"), TenancySpec(vcs=vcs)
    t0 = time.perf_counter()
    res = run_partitioned(jobs, nodes, spec, SimConfig(compat="helios", scheduler=scheduler))
    ours = time.perf_counter() - t0
    got = dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))
    tick, same = 0.0, 0
    for vc, n in vcs.items():
        rows = jobs.filter(pl.col("group") == vc).select("job_id", "submit_time", "num_gpus", "duration").iter_rows()
        one = [{"job_id": a, "submit_time": int(b), "gpu_num": int(c), "duration": int(d)} for a, b, c, d in rows]
        t0 = time.perf_counter()
        if scheduler in ("srtf", "tiresias"):
            want = {k: v[0] for k, v in ref.replay_preemptive(one, n, scheduler, skip_idle=False).items()}
        else:
            want = ref.replay(one, n, scheduler, figure if scheduler == "qssf" else None, skip_idle=False)
        tick += time.perf_counter() - t0
        same += sum(got[k] == v for k, v in want.items())
    s = res.summary
    return {"ours": ours, "tick": tick, "same": same, "n": jobs.height, "jct": s.avg_jct_s, "pre": s.preemptions}


def stand_in(folder: Path, n_jobs: int = 82_229) -> tuple[Path, Path]:
    """philly:jobs back to back until n_jobs, 11 VCs at 0.7 load: a CSV and a tenancy file."""
    import yaml

    from gpufleet.traces import load

    base = load("philly:jobs").frame.filter(pl.col("duration") >= 1)
    gap = float(base["submit_time"].max()) + 60.0  # type: ignore[arg-type]
    copies = [
        base.with_columns(pl.col("submit_time") + k * gap, (f"c{k}-" + pl.col("job_id")).alias("job_id"))
        for k in range(math.ceil(n_jobs / base.height))
    ]
    jobs = (
        pl.concat(copies)
        .head(n_jobs)
        .with_columns(
            pl.col("submit_time").floor(),
            pl.col("duration").round(),
            ("vc" + (pl.col("user").cast(pl.Int64) % 11).cast(pl.String)).alias("group"),
            pl.lit("train").alias("kind"),
        )
    )
    span = float(jobs["submit_time"].max() - jobs["submit_time"].min())  # type: ignore[operator]
    vcs = vc_sizes(jobs, span, 0.7)
    csv, tenancy = folder / "philly82k.csv", folder / "philly82k.yaml"
    jobs.select("job_id", "submit_time", "duration", "num_gpus", "user", "group", "kind").write_csv(csv)
    tenancy.write_text(yaml.safe_dump({"nodes": f"{sum(vcs.values())}x8", "vcs": vcs}))
    return csv, tenancy


def cli_fifo(folder: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of `gpufleet simulate --compat helios` (FIFO) on the stand-in: a
    warm-up, then 3 runs (CPU seconds say what the run costs when other work shares the machine)."""
    import resource

    csv, tenancy = stand_in(folder)
    env = os.environ | {"PYTHONPYCACHEPREFIX": str(folder / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode compiled
    exe = Path(sys.executable).parent / "gpufleet"
    walls, cpus = [], []
    for k in range(4):
        out = folder / f"run{k}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        cmd = [str(exe), "simulate", "--jobs", str(csv), "--cluster", str(tenancy), "--compat", "helios"]
        subprocess.run([*cmd, "--out", str(out), "--json"], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls[1:], cpus[1:]


def main() -> None:
    """Print both comparisons."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedulers", default="fifo,sjf,qssf,srtf,tiresias")
    ap.add_argument("--skip-cli", action="store_true")
    args = ap.parse_args()
    from gpufleet.forecasting.runtime import PREDICTORS

    jobs, vcs = busiest_week()
    est = PREDICTORS.build("user-history", {}).predict(jobs)  # qssf's "estimator file": any per-job figure
    figure = dict(zip(est["job_id"].to_list(), est["p50"].to_list(), strict=True))
    print(f"Philly busiest week: {jobs.height:,} jobs, 11 VCs at 0.7 load, {sum(vcs.values())} 8-GPU nodes {vcs}")
    head = f"{'scheduler':<10}{'ours s':>9}{'ticks s':>10}{'ratio':>8}  {'same start':>18}  {'avg JCT s':>10}"
    print(head + "  preemptions")
    for name in args.schedulers.split(","):
        r = compare(jobs, vcs, name, figure)
        pct = 100 * r["same"] / r["n"]
        print(
            f"{name:<10}{r['ours']:>9.2f}{r['tick']:>10.2f}{r['tick'] / r['ours']:>7.1f}x"
            f"  {r['same']:>6,}/{r['n']:,} {pct:6.2f}%  {r['jct']:>10,.0f}  {r['pre']:,}"
        )
    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as tmp:
            walls, cpus = cli_fifo(Path(tmp))
        print(
            f"whole-trace FIFO through the CLI (82,229-job stand-in, 11 VCs): best {min(walls):.2f} s wall of "
            f"{', '.join(f'{w:.2f}' for w in walls)} (CPU {', '.join(f'{c:.2f}' for c in cpus)} s); "
            f"the engine's 857 s / best = {857 / min(walls):.0f}x"
        )


if __name__ == "__main__":
    main()
