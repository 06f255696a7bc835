"""GPU_SAMPLES as DCGM-exporter metrics in the OpenMetrics text format, for `promtool tsdb
create-blocks-from openmetrics` (backfilling a Prometheus with recorded history) and the exporter's replay.

Timestamps are seconds; samples of one metric family stand together, each series in time order; the file
ends with `# EOF`, as promtool requires.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

MIB = 2**20
# column -> (DCGM metric, multiplier from canonical units)
DCGM_NAMES = {
    "util": ("DCGM_FI_DEV_GPU_UTIL", 100.0),
    "mem_used_bytes": ("DCGM_FI_DEV_FB_USED", 1 / MIB),
    "power_w": ("DCGM_FI_DEV_POWER_USAGE", 1.0),
}


def _labels(row: dict[str, object]) -> str:
    pairs = {
        "Hostname": row.get("node"),
        "UUID": row.get("gpu_uuid"),
        "gpu": row.get("gpu_index"),
        "modelName": row.get("gpu_model"),
        "namespace": row.get("namespace"),
        "pod": row.get("pod"),
    }
    body = ",".join(f'{k}="{v}"' for k, v in pairs.items() if v is not None and v != "")
    return "{" + body + "}"


def write_openmetrics(samples: pl.DataFrame, path: str | Path) -> int:
    """Write the GPU_SAMPLES columns that map to DCGM metrics; returns the number of samples written."""
    f = samples.with_columns(pl.col("ts").dt.epoch("s").alias("_t"))
    keys = [c for c in ("node", "gpu_uuid", "gpu_index", "gpu_model", "namespace", "pod") if c in f.columns]
    f = f.sort([*keys, "_t"], nulls_last=True)
    n = 0
    with open(path, "w") as out:
        for col, (metric, mult) in DCGM_NAMES.items():
            if col not in f.columns:
                continue
            part = f.filter(pl.col(col).is_not_null())
            if part.height == 0:
                continue
            out.write(f"# TYPE {metric} gauge\n")
            for row in part.select([*keys, "_t", col]).iter_rows(named=True):
                out.write(f"{metric}{_labels(row)} {float(row[col]) * mult:.10g} {row['_t']}\n")
                n += 1
        out.write("# EOF\n")
    return n
