"""A small collector store whose cost allocation is known by hand (tests of `gpufleet cost`, plan.cost and the
Cost page). Written through the collector's Store API, as `gpufleet collect` writes one.

Four samples 15 minutes apart per device (each device: 1 GPU-hour of wall time), node n1 (pool p1) and n2:
- GPU0 H100, team-a/train-a-0 (whole GPU), util 0.5
- GPU1 H100 as two MIG instances: 3g.40gb held by team-b/infer-b-5d8f7c6b9-x2x4z (util 0.8), 4g.40gb no pod
- GPU2 H100, team-a/nb-a-1 asking 0.25 GPU in JOBS (a fractional GPU), util 0.2
- GPU3 H100 time-sliced: team-b/ts-b-1 (JOBS group `research`) and team-b/ts-b-2, util 0.6
- GPU4 H100, no pod, util 0 (idle capacity)
- GPU5 A100, llm/vllm-code-7c9d4b8f6-abcde (vLLM), util 0.9; its SERIES say 100 prompt and 50 generated
  tokens per second for one hour (60 one-minute buckets)
- GPU6 on n2 (pool p2), model unknown (null), team-a/train-a-1, util 1.0 (unpriced)
Prices (PRICES): H100 $4, A100 $2 per GPU-hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from gpufleet.collector.store import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
PRICES = {"gpus": {"H100": 4.0, "A100": 2.0}}

_DEVICES = [
    # node, uuid, index, model, mig, namespace, pod, util
    ("n1", "GPU-0", 0, "H100", None, "team-a", "train-a-0", 0.5),
    ("n1", "GPU-1", 1, "H100", "3g.40gb", "team-b", "infer-b-5d8f7c6b9-x2x4z", 0.8),
    ("n1", "GPU-1", 1, "H100", "4g.40gb", None, None, 0.0),
    ("n1", "GPU-2", 2, "H100", None, "team-a", "nb-a-1", 0.2),
    ("n1", "GPU-3", 3, "H100", None, "team-b", "ts-b-1", 0.6),
    ("n1", "GPU-3", 3, "H100", None, "team-b", "ts-b-2", 0.6),
    ("n1", "GPU-4", 4, "H100", None, None, None, 0.0),
    ("n1", "GPU-5", 5, "A100", None, "llm", "vllm-code-7c9d4b8f6-abcde", 0.9),
    ("n2", "GPU-6", 0, None, None, "team-a", "train-a-1", 1.0),
]


def build_cost_store(root: Path) -> Path:
    """Write the store described above under `root`; returns it."""
    rows = []
    for k in range(4):
        for node, uuid, idx, model, mig, ns, pod, util in _DEVICES:
            rows.append(
                {
                    "ts": T0 + k * STEP,
                    "node": node,
                    "gpu_uuid": uuid,
                    "gpu_index": idx,
                    "gpu_model": model,
                    "mig_profile": mig,
                    "util": util,
                    "namespace": ns,
                    "pod": pod,
                    "source": "dcgm",
                }
            )
    db = Store(root)
    db.append("GPU_SAMPLES", "prometheus", pl.DataFrame(rows), ["node", "gpu_uuid", "gpu_index", "mig_profile", "pod"])
    db.merge_nodes(
        "kube",
        pl.DataFrame({"node_id": ["n1", "n2"], "pool": ["p1", "p2"], "gpu_type": ["H100", None], "num_gpus": [8, 1]}),
    )
    db.merge_jobs(
        "kube",
        pl.DataFrame(
            {
                "job_id": ["team-a/nb-a-1", "team-b/ts-b-1"],
                "submit_time": [0.0, 0.0],
                "num_gpus": [0.25, 1.0],
                "group": ["team-a", "research"],
                "kind": ["other", "train"],
            }
        ),
    )
    buckets = [T0 + timedelta(minutes=m) for m in range(60)]
    series = pl.DataFrame(
        {
            "unique_id": ["llm/code:prompt_tokens_rate"] * 60 + ["llm/code:generation_tokens_rate"] * 60,
            "ds": buckets * 2,
            "y": [100.0] * 60 + [50.0] * 60,
        }
    )
    db.append("SERIES", "vllm", series, ["unique_id"])
    return root


def write_prices(path: Path) -> Path:
    """PRICES as a user's prices.yaml (merged over the built-in table by core.prices.load_prices)."""
    import yaml

    path.write_text(yaml.safe_dump({"name": "test prices", **PRICES}))
    return path
