"""Run directories: the files a run leaves behind (summary.json, config.yaml, parquet tables) and reading them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

if TYPE_CHECKING:
    from gpufleet.sim.summary import ServingSummary, Summary


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def dumps(obj: Any) -> str:
    """Stable JSON (sorted keys, NaN/inf as null) so identical runs give identical bytes."""
    return json.dumps(_jsonable(obj), indent=2, sort_keys=True, default=str)


def write_run(
    out: Path,
    *,
    summary: Summary | ServingSummary | dict[str, Any],
    config: dict[str, Any],
    tables: dict[str, pl.DataFrame],
) -> list[Path]:
    """Write a run directory and return the files written (a replay's summary as its `dump`)."""
    if not isinstance(summary, dict):
        summary = summary.dump()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        p = out / f"{name}.parquet"
        # statistics off and a fixed compression keep the bytes identical across identical runs
        df.write_parquet(p, compression="zstd", statistics=False)
        written.append(p)
    (out / "config.yaml").write_text(yaml.safe_dump(_jsonable(config), sort_keys=True))
    (out / "summary.json").write_text(dumps(summary) + "\n")
    return [*written, out / "config.yaml", out / "summary.json"]


def read_summary(run: Path) -> dict[str, Any]:
    """The summary.json of a run directory; a damaged one is a one-line error naming the file."""
    from gpufleet.core.config import read_json_object

    return read_json_object(run / "summary.json", "a run's summary")


def run_kind(summary: dict[str, Any]) -> str:
    """demo, sim (a training-cluster simulation), serving (an autoscaling replay) or other."""
    if summary.get("kind") == "demo":
        return "demo"
    if "slo_attainment" in summary:
        return "serving"
    if "scheduler" in summary:
        return "sim"
    return "other"


def read_table(run: Path, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    """`<name>.parquet` of a run directory; a damaged one is a one-line error naming the file."""
    from gpufleet.core.errors import GpufleetError, brief

    f = run / f"{name}.parquet"
    try:
        return pl.read_parquet(f, columns=columns)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise GpufleetError(f"{f}: cannot read this run's table ({type(e).__name__}: {brief(e)})") from None
