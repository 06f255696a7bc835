"""Replica profiles: one replica of a served model on one GPU type, and the work model its requests follow.

A profile names a work model (sim/serving/work.py, registry WORK_MODELS) with its settings: `llm` (the default;
its settings are the profile's own prefill_tps, decode_tps and max_seqs), `diffusion` or `fixed`.

LLM profiles: a replica runs up to `max_seqs` sequences at once (continuous batching). A request's prefill takes
input_tokens / prefill_tps; its decode takes output_tokens / (decode_tps / max_seqs), i.e. each sequence
gets an equal share of the replica's decode throughput at a full batch. That is the slot model: a request
holds one of `max_seqs` slots for prefill + decode, whatever else runs (a documented simplification: a real
engine decodes a little faster per sequence when the batch is not full, so latencies here err high).
Requests without token counts but with an observed `service_time` hold a slot for that time and have no
separate prefill. `sd-a10` is the `diffusion` work model on an A10 (its service time fitted on genai:requests).

Measure your own: run vLLM's benchmark_serving at batch 1 (prefill_tps = prompt tokens / TTFT) and at
saturation with your max_num_seqs (decode_tps = output tokens/s across the batch), then give a CSV/YAML
row with these fields to `--profile`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpufleet.core.errors import GpufleetError, SettingsError, brief, validation_line
from gpufleet.sim.serving.work import WORK_MODELS, LlmSettings, WorkModel


class ReplicaProfile(BaseModel):
    """One model server on one GPU type."""

    model_config = ConfigDict(extra="forbid")
    name: str
    gpu_type: str = Field(description="GPU model of the replica")
    gpus: int = Field(1, ge=1, description="GPUs one replica holds (tensor parallel degree)")
    work: str = Field("llm", description="work model (WORK_MODELS registry): llm, diffusion, fixed")
    work_settings: dict[str, Any] = Field(default_factory=dict, description="the work model's settings")
    prefill_tps: float | None = Field(None, gt=0, description="llm: prompt tokens per second one replica prefills")
    decode_tps: float | None = Field(None, gt=0, description="llm: output tokens per second across a full batch")
    max_seqs: int | None = Field(None, ge=1, description="llm: sequences running at once (vLLM max_num_seqs)")

    @model_validator(mode="after")
    def _work(self) -> ReplicaProfile:
        own = {k: v for k in LLM_FIELDS if (v := getattr(self, k)) is not None}
        if self.work != "llm":
            if own:
                raise ValueError(f"{', '.join(own)}: LLM fields on a {self.work!r} profile (use work_settings)")
        elif not own and not self.work_settings:
            raise ValueError("an llm profile gives prefill_tps, decode_tps and max_seqs")
        WORK_MODELS.settings(self.work, {**self.work_settings, **own})  # unknown model or setting: one line
        return self

    def settings(self) -> dict[str, Any]:
        """The work model's settings (an llm profile's own fields included)."""
        return {**self.work_settings, **{k: v for k in LLM_FIELDS if (v := getattr(self, k)) is not None}}

    def work_model(self, seed: int = 0) -> WorkModel:
        """The profile's work model, built with its settings."""
        return WORK_MODELS.build(self.work, self.settings(), seed=seed)

    @property
    def slots(self) -> int:
        """Runs one replica holds at once."""
        return self.work_model().slots

    def seconds(self, input_tokens: float, output_tokens: float) -> tuple[float, float]:
        """llm: (prefill seconds, total seconds holding a slot) of one request."""
        s = LlmSettings.model_validate(self.settings())
        prefill = input_tokens / s.prefill_tps
        return prefill, prefill + output_tokens * s.max_seqs / s.decode_tps


LLM_FIELDS = ("prefill_tps", "decode_tps", "max_seqs")


# Rough public figures for 16-bit models under vLLM (order of magnitude, not a benchmark; measure yours).
DEFAULT_PROFILES: dict[str, ReplicaProfile] = {
    p.name: p
    for p in (
        ReplicaProfile(name="llama7b-a10", gpu_type="A10", gpus=1, prefill_tps=5000, decode_tps=320, max_seqs=8),
        ReplicaProfile(name="llama7b-l4", gpu_type="L4", gpus=1, prefill_tps=4000, decode_tps=250, max_seqs=8),
        ReplicaProfile(
            name="llama13b-a100", gpu_type="A100-80GB", gpus=1, prefill_tps=6000, decode_tps=1200, max_seqs=32
        ),
        ReplicaProfile(
            name="llama70b-a100x4", gpu_type="A100-80GB", gpus=4, prefill_tps=4000, decode_tps=1000, max_seqs=32
        ),
        ReplicaProfile(
            name="llama70b-h100x2", gpu_type="H100-80GB", gpus=2, prefill_tps=6000, decode_tps=1400, max_seqs=32
        ),
        # Stable Diffusion: one run at a time per GPU; service time fitted on genai:requests (docs/serving.md)
        ReplicaProfile(name="sd-a10", gpu_type="A10", gpus=1, work="diffusion"),
        # Recommendation ranking (a DLRM-style model): ~20 ms a request alone, batches of up to 64 formed within
        # 5 ms, each extra request adding 2% (illustrative orders of magnitude; measure yours, see docs/serving.md)
        ReplicaProfile(
            name="ranking-a10",
            gpu_type="A10",
            gpus=1,
            work="fixed",
            work_settings={
                "median_s": 0.02,
                "p99_s": 0.08,
                "batch_size": 64,
                "batch_deadline_s": 0.005,
                "batch_cost": 0.02,
            },
        ),
    )
}
# `diffusion`: the diffusion work model's default profile (sd-a10; summaries name the profile it stands for)
DEFAULT_PROFILES["diffusion"] = DEFAULT_PROFILES["sd-a10"]
DEFAULT_PROFILE = "llama7b-a10"
# Cold start default: p90 of the base-model load latency in genai:basemodel-update (41.3 s; p50 21.4 s),
# `gpufleet traces show genai:basemodel-update`. A new replica serves that long after it is ordered.
DEFAULT_COLD_START_S = 41.3


def load_profile(text: str | None) -> ReplicaProfile:
    """A profile by default name, or the first row of a YAML/CSV file of ReplicaProfile fields."""
    if text is None:
        return DEFAULT_PROFILES[DEFAULT_PROFILE]
    if text in DEFAULT_PROFILES:
        return DEFAULT_PROFILES[text]
    path = Path(text)
    if not path.exists():
        names = ", ".join(DEFAULT_PROFILES)
        raise GpufleetError(f"--profile {text!r}: neither a file nor a built-in profile ({names})")
    try:
        if path.suffix in (".yaml", ".yml"):
            row = yaml.safe_load(path.read_text())
            row = row[0] if isinstance(row, list) else row
        else:
            row = pl.read_csv(path).row(0, named=True)
        return ReplicaProfile.model_validate(row)
    except ValidationError as e:
        raise SettingsError(validation_line(e, str(path), valid=list(ReplicaProfile.model_fields))) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, pl.exceptions.PolarsError, IndexError, TypeError) as e:
        raise GpufleetError(f"{path}: cannot read a profile ({type(e).__name__}: {brief(e)})") from None
