"""Build a collector store the way a cluster would, for `gpufleet cost` (docs/cost.md, "Cost allocation"):
an hour of a 16-GPU synthetic fleet as the DCGM exporter would have shown it (one GPU split into two MIG
instances, two GPUs serving vLLM), and two vLLM replicas serving the Azure LLM code trace (their token
counters), backfilled into a real Prometheus (Debian package, 127.0.0.1, stopped by PID) and pulled with
`gpufleet collect prometheus`. Then prints `gpufleet cost --store DIR`.

    GPUFLEET_DATA=/work/shared/traces .venv/bin/python bench/exp_cost_store.py OUT_DIR
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl

from gpufleet.collector.openmetrics import LABELS, vllm_replicas, write_openmetrics, write_vllm_openmetrics
from gpufleet.testing.prometheus import backfill, have_prometheus, prometheus
from gpufleet.traces import load

VLLM_PODS = ["vllm-code-7c9d4b8f6-p0000", "vllm-code-7c9d4b8f6-p0001"]  # the pods write_vllm_openmetrics names


def gpu_samples() -> pl.DataFrame:
    """The synthetic fleet for one hour at 15 s, with GPU 0 of the first node split into MIG 3g.40gb (a small
    inference pod) + 4g.40gb (no pod) and the first two GPUs of the last node serving vLLM."""
    s = load("synthetic:gpu-samples", n_gpus=16, hours=1, interval_s=15).frame
    first, last = s["node"].min(), s["node"].max()
    mig = s.filter((pl.col("node") == first) & (pl.col("gpu_index") == 0))
    small = mig.with_columns(
        pl.lit("3g.40gb").alias("mig_profile"),
        pl.lit("ml-serving").alias("namespace"),
        pl.lit("embed-small-6f7d9c5b4-q2w3e").alias("pod"),
        (pl.col("util") * 0.9).alias("util"),
    )
    free = mig.with_columns(
        pl.lit("4g.40gb").alias("mig_profile"),
        pl.lit(None, pl.String).alias("namespace"),
        pl.lit(None, pl.String).alias("pod"),
        pl.lit(0.0).alias("util"),
    )
    rest = s.filter(~((pl.col("node") == first) & (pl.col("gpu_index") == 0)))
    serving = (pl.col("node") == last) & (pl.col("gpu_index") < 2)
    rest = rest.with_columns(
        pl.when(serving).then(pl.lit("llm")).otherwise(pl.col("namespace")).alias("namespace"),
        pl.when(serving)
        .then(pl.when(pl.col("gpu_index") == 0).then(pl.lit(VLLM_PODS[0])).otherwise(pl.lit(VLLM_PODS[1])))
        .otherwise(pl.col("pod"))
        .alias("pod"),
    )
    return pl.concat([rest, small, free], how="vertical_relaxed")


def main(out: Path) -> None:
    if not have_prometheus():
        sys.exit("needs the Debian prometheus package (prometheus, promtool)")
    out.mkdir(parents=True, exist_ok=True)
    samples = gpu_samples()
    start = samples["ts"].min()
    epoch = int(start.timestamp())  # type: ignore[union-attr]
    write_openmetrics(samples, out / "dcgm.om", labels={**LABELS, "GPU_I_PROFILE": "mig_profile"})
    served = vllm_replicas(load("azure-llm:code").frame, pods=2)
    write_vllm_openmetrics(served, out / "vllm.om", epoch_s=epoch, scrape_s=15.0)
    for f in ("dcgm.om", "vllm.om"):
        backfill(out / f, out / "tsdb")
    end = start + timedelta(hours=1)  # type: ignore[operator]
    with prometheus(out / "tsdb") as url:
        cmd = [
            sys.executable,
            "-m",
            "gpufleet.cli",
            "collect",
            "prometheus",
            "--url",
            url,
            "--store",
            str(out / "store"),
            "--since",
            start.isoformat(),
            "--until",
            end.isoformat(),
            "--step",
            "15s",
            "--json",  # type: ignore[union-attr]
        ]
        subprocess.run(cmd, check=True)
    subprocess.run([sys.executable, "-m", "gpufleet.cli", "cost", "--store", str(out / "store")], check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/cost-store"))
