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


LABELS = {
    "Hostname": "node",
    "UUID": "gpu_uuid",
    "gpu": "gpu_index",
    "modelName": "gpu_model",
    "namespace": "namespace",
    "pod": "pod",
}


def write_openmetrics(samples: pl.DataFrame, path: str | Path) -> int:
    """Write the GPU_SAMPLES columns that map to DCGM metrics; returns the number of samples written.

    Lines are built column-wise with polars, so millions of samples take seconds, not minutes."""
    f = samples.with_columns(pl.col("ts").dt.epoch("s").alias("_t"))
    keys = [c for c in LABELS.values() if c in f.columns]
    f = f.sort([*keys, "_t"], nulls_last=True)
    # one label string per row: name="value" for the labels that are set, comma-separated
    pairs = [
        pl.when(pl.col(col).is_not_null() & (pl.col(col).cast(pl.String) != "")).then(
            pl.lit(f'{name}="') + pl.col(col).cast(pl.String) + pl.lit('"')
        )
        for name, col in LABELS.items()
        if col in f.columns
    ]
    f = f.with_columns(pl.concat_str(pairs, separator=",", ignore_nulls=True).alias("_labels"))
    n = 0
    with open(path, "w") as out:
        for col, (metric, mult) in DCGM_NAMES.items():
            if col not in f.columns:
                continue
            part = f.filter(pl.col(col).is_not_null())
            if part.height == 0:
                continue
            lines = part.select(
                pl.format(
                    "{}{{{}}} {} {}",
                    pl.lit(metric),
                    pl.col("_labels"),
                    (pl.col(col).cast(pl.Float64) * mult).round(10),
                    pl.col("_t"),
                )
            ).to_series()
            out.write(f"# TYPE {metric} gauge\n")
            out.write("\n".join(lines.to_list()))
            out.write("\n")
            n += part.height
        out.write("# EOF\n")
    return n
