"""Run directories: the files a run leaves behind (summary.json, config.yaml, parquet tables) and reading them.

Identical runs write identical bytes: the one figure that varies run to run, the wall time (`wall_s`), is kept
out of summary.json (and out of compare.json / tenancy.json) in `timing.json` beside it, and read_summary puts
it back. `provenance.json` (plan/provenance.py) says what made the run; `gpufleet rerun` compares every other
file byte for byte. Each file is written aside and moved into place: a crash leaves the old file or the new one.
"""

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


# Files of a run directory that describe how and when it ran rather than what it computed: never compared by rerun
PROVENANCE, TIMING = "provenance.json", "timing.json"
VOLATILE = frozenset({PROVENANCE, TIMING})
TIMED_KEYS = frozenset({"wall_s"})  # the fields that vary between identical runs


def split_timing(obj: Any, at: str = "") -> tuple[Any, dict[str, Any]]:
    """`obj` without its wall times (at any depth), and those times by their dotted path (`runs.0.wall_s`)."""
    if isinstance(obj, dict):
        kept, times = {}, {}
        for k, v in obj.items():
            where = f"{at}{k}"
            if k in TIMED_KEYS and not isinstance(v, dict | list):
                times[where] = v
                continue
            kept[k], inner = split_timing(v, where + ".")
            times |= inner
        return kept, times
    if isinstance(obj, list):
        pairs = [split_timing(v, f"{at}{i}.") for i, v in enumerate(obj)]
        return [p[0] for p in pairs], {k: v for p in pairs for k, v in p[1].items()}
    return obj, {}


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `path` whole: aside first, then moved over the old file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_json(path: Path, obj: Any) -> Path:
    """A run directory's JSON file (stable bytes), its wall times moved into timing.json beside it."""
    kept, times = split_timing(obj)
    timing_file = path.parent / TIMING
    timing = _read_timing(path.parent)
    timing.pop(path.name, None)
    if times:
        timing[path.name] = times
    if timing:
        write_text_atomic(timing_file, dumps(timing) + "\n")
    elif timing_file.exists():
        timing_file.unlink()
    return write_text_atomic(path, dumps(kept) + "\n")


def _read_timing(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / TIMING).read_text())
    except (OSError, ValueError):
        return {}  # the wall time is for people; a damaged timing file loses only that
    return data if isinstance(data, dict) else {}


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
        tmp = p.with_name(f".{p.name}.tmp")
        # statistics off and a fixed compression keep the bytes identical across identical runs
        df.write_parquet(tmp, compression="zstd", statistics=False)
        written.append(tmp.replace(p))
    write_text_atomic(out / "config.yaml", yaml.safe_dump(_jsonable(config), sort_keys=True))
    write_json(out / "summary.json", summary)
    return [*written, out / "config.yaml", out / "summary.json"]


def read_summary(run: Path) -> dict[str, Any]:
    """The summary.json of a run directory, with its wall time from timing.json; a damaged one is a one-line
    error naming the file."""
    from gpufleet.core.config import read_json_object

    summary = read_json_object(run / "summary.json", "a run's summary")
    for key, value in _read_timing(run).get("summary.json", {}).items():
        if "." not in key and key not in summary:
            summary[key] = value
    return summary


def read_provenance(run: Path) -> dict[str, Any] | None:
    """The provenance.json of a run directory (None when it has none: written before gpufleet kept one)."""
    from gpufleet.core.config import read_json_object

    f = run / PROVENANCE
    return read_json_object(f, "a run's provenance") if f.is_file() else None


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
