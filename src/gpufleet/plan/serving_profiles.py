"""What a serving profile implies outside one replay: the default SLO of a command that replays it, and the
capacity one replica carries (what the live hook provisions for) — both from the profile's work model.

LLM profiles keep `ttft_p99<=2` (time to the first token is what a chat user waits on). Any other work model
(diffusion, fixed) has no first token before its run ends, so its default is an end-to-end bound chosen the way
`gpufleet serving-designs` chooses it: the p99 of the replayed service time in the selection window (the first
2/3 of the trace by time), plus one cold start (by default the p90 base-model load, 41.3 s), rounded up to 10 s.
The slowest 1% may take what the slowest 1% of runs take plus one load, no more; never chosen from the figures
a replay reports.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from gpufleet.sim.serving.profiles import DEFAULT_PROFILES, load_profile
from gpufleet.sim.serving.run import ServingConfig, prepare

LLM_DEFAULT_SLO = "ttft_p99<=2"
SELECT_SHARE = 2 / 3  # the selection window serving-designs and the diffusion fit use


def replica_capacity(profile: str | None) -> int:
    """Requests one replica of `profile` runs at once: slots x batch size (1 for sd-a10 / diffusion)."""
    model = load_profile(profile).work_model()
    return model.slots * model.batching.size


def builtin_profiles() -> list[str]:
    """Names of the built-in serving profiles (what `--profile` takes besides a file)."""
    return list(DEFAULT_PROFILES)


def default_slo(frame: pl.DataFrame, cfg: ServingConfig) -> tuple[str, str]:
    """The SLO a replay of `frame` under `cfg`'s profile is scored against when none is given; and why."""
    if load_profile(cfg.profile).work == "llm":
        return LLM_DEFAULT_SLO, "the LLM default: the first token within 2 s for 99% of requests"
    w = prepare(frame, cfg.model_copy(update={"slo": LLM_DEFAULT_SLO})).work  # the slo is not read here
    until = SELECT_SHARE * float(w.arrival[-1])
    p99 = float(np.percentile(w.service[w.arrival < until], 99))
    bound = math.ceil((p99 + cfg.cold_start_s) / 10) * 10
    why = (
        f"the slowest 1% may take what the slowest 1% of runs take in the selection window (the first 2/3 of the"
        f" trace: {p99:.0f} s) plus one cold start ({cfg.cold_start_s:g} s)"
    )
    return f"e2e_p99<={bound}", why
