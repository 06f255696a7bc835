"""All synthetic tables of a demo run, generated from one DemoConfig."""

from __future__ import annotations

import polars as pl

from gpufleet.traces.synthetic.config import DemoConfig
from gpufleet.traces.synthetic.jobs import synthetic_jobs
from gpufleet.traces.synthetic.nodes import synthetic_nodes
from gpufleet.traces.synthetic.requests import synthetic_requests
from gpufleet.traces.synthetic.samples import synthetic_gpu_samples


def demo_frames(cfg: DemoConfig) -> dict[str, pl.DataFrame]:
    """Frames keyed by part name (jobs, nodes, requests, gpu-samples); samples sit on the demo's nodes."""
    nodes = synthetic_nodes(cfg.nodes)
    return {
        "jobs": synthetic_jobs(cfg.jobs),
        "nodes": nodes,
        "requests": synthetic_requests(cfg.requests),
        "gpu-samples": synthetic_gpu_samples(cfg.samples, nodes),
    }
