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
from gpufleet.core.prices import price_key
from gpufleet.sim.serving.work import WORK_MODELS, LlmSettings, WorkModel


class TypeSpeed(BaseModel):
    """The profile on another GPU type: its throughput over the profile's own type, and the GPUs a replica holds
    there (default: the profile's); `source` says where the figure comes from. A bare number is the speed."""

    model_config = ConfigDict(extra="forbid")
    speed: float = Field(gt=0, allow_inf_nan=False, description="throughput over the profile's own GPU type")
    gpus: int | None = Field(None, ge=1, description="GPUs one replica holds on this type (default: the profile's)")
    source: str | None = Field(None, description="where the speed comes from")

    @model_validator(mode="before")
    @classmethod
    def _number_is_speed(cls, data: Any) -> Any:
        return {"speed": data} if isinstance(data, int | float) and not isinstance(data, bool) else data


class ReplicaProfile(BaseModel):
    """One model server on one GPU type (and, in `speeds`, how it runs on others)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    gpu_type: str = Field(description="GPU model of the replica")
    gpus: int = Field(1, ge=1, description="GPUs one replica holds (tensor parallel degree)")
    work: str = Field("llm", description="work model (WORK_MODELS registry): llm, diffusion, fixed")
    work_settings: dict[str, Any] = Field(default_factory=dict, description="the work model's settings")
    prefill_tps: float | None = Field(None, gt=0, description="llm: prompt tokens per second one replica prefills")
    decode_tps: float | None = Field(None, gt=0, description="llm: output tokens per second across a full batch")
    max_seqs: int | None = Field(None, ge=1, description="llm: sequences running at once (vLLM max_num_seqs)")
    speeds: dict[str, TypeSpeed] = Field(
        default_factory=dict,
        description="other GPU types this profile can run on: GPU type -> speed over gpu_type (or {speed, gpus,"
        " source}); heterogeneous fleets (--gpu-types) choose among them",
    )

    @model_validator(mode="after")
    def _work(self) -> ReplicaProfile:
        own = {k: v for k in LLM_FIELDS if (v := getattr(self, k)) is not None}
        if self.work != "llm":
            if own:
                raise ValueError(f"{', '.join(own)}: LLM fields on a {self.work!r} profile (use work_settings)")
        elif not own and not self.work_settings:
            raise ValueError("an llm profile gives prefill_tps, decode_tps and max_seqs")
        WORK_MODELS.settings(self.work, {**self.work_settings, **own})  # unknown model or setting: one line
        own_key = price_key(self.gpu_type)
        for name, ts in self.speeds.items():
            if price_key(name) == own_key and (ts.speed != 1.0 or (ts.gpus or self.gpus) != self.gpus):
                raise ValueError(
                    f"speeds[{name}]: {self.gpu_type} is the profile's own type (speed 1, {self.gpus} GPUs)"
                )
        return self

    def type_speed(self, gpu_type: str) -> TypeSpeed | None:
        """How this profile runs on `gpu_type` (speed 1 on its own type; None where it has no figure)."""
        key = price_key(gpu_type)
        if key == price_key(self.gpu_type):
            return TypeSpeed(speed=1.0, gpus=self.gpus)
        return next((ts for name, ts in self.speeds.items() if price_key(name) == key), None)

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


# Throughput on other GPU types over the profile's own (A10; AWS's A10G has the same memory and bandwidth).
# Stable Diffusion: HF diffusers "Accelerated PyTorch 2.0" (Mar 2023, SD 1.x fp16, batch 4, SDPA): T4 0.34,
# V100 1.24; stabilityai/stable-diffusion-xl-1.0-tensorrt model card (SDXL, 30 steps, 1024^2, PyTorch baseline):
# A100 2.54, H100 3.77; L4 is inferred, never measured beside an A10: MLPerf Inference v4.0 SDXL puts it at
# H100 / 8.7, i.e. 0.43-0.64 of an A10 through the model card's H100 figures (0.5 taken).
SD_SPEEDS: dict[str, Any] = {
    "T4": {"speed": 0.34, "source": "HF diffusers Accelerated PyTorch 2.0, SD 1.x batch 4 (2023)"},
    "V100": {"speed": 1.24, "source": "HF diffusers Accelerated PyTorch 2.0, SD 1.x batch 4 (2023)"},
    "A100-80GB": {"speed": 2.54, "source": "SDXL 1.0 TensorRT model card, PyTorch baseline, 30 steps (2023)"},
    "H100": {"speed": 3.77, "source": "SDXL 1.0 TensorRT model card, PyTorch baseline, 30 steps (2023)"},
    "L4": {"speed": 0.5, "source": "inferred: MLPerf v4.0 SDXL L4 = H100/8.7, with the model card's H100/A10"},
}
# 7B LLM decode: L4 from this table's own llama7b-l4 (decode 250 vs 320 tokens/s); A100/H100 by memory bandwidth
# (decode at small batch is bandwidth-bound: 2,039 and 3,350 GB/s over the A10's 600; spec sheets, an estimate)
LLM7B_SPEEDS: dict[str, Any] = {
    "L4": {"speed": 0.78, "source": "the llama7b-l4 profile's decode_tps over llama7b-a10's"},
    "A100-80GB": {"speed": 3.4, "source": "memory bandwidth ratio, SXM 2,039 / 600 GB/s (estimate)"},
    "H100": {"speed": 5.6, "source": "memory bandwidth ratio, SXM 3,350 / 600 GB/s (estimate)"},
}
# Recommendation ranking: MLPerf Inference DLRM-99 Offline, NVIDIA's closed submissions, samples/s per GPU
# (v0.7 T4, v1.1 A10 and A100-SXM-80GB, v3.0 L4 and H100-SXM; different rounds: +-10-15%)
DLRM_SPEEDS: dict[str, Any] = {
    "T4": {"speed": 0.35, "source": "MLPerf Inference v0.7 DLRM Offline, T4x8 (derived from its target QPS)"},
    "L4": {"speed": 0.98, "source": "MLPerf Inference v3.0 DLRM Offline, L4x1"},
    "A100-80GB": {"speed": 3.13, "source": "MLPerf Inference v1.1 DLRM Offline, A100-SXM-80GBx8"},
    "H100": {"speed": 6.95, "source": "MLPerf Inference v3.0 DLRM Offline, H100-SXMx8"},
}

# Rough public figures for 16-bit models under vLLM (order of magnitude, not a benchmark; measure yours).
DEFAULT_PROFILES: dict[str, ReplicaProfile] = {
    p.name: p
    for p in (
        ReplicaProfile(
            name="llama7b-a10",
            gpu_type="A10",
            gpus=1,
            prefill_tps=5000,
            decode_tps=320,
            max_seqs=8,
            speeds=LLM7B_SPEEDS,
        ),
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
        # Stable Diffusion: one run at a time per GPU; service time fitted on genai:requests (docs/serving.md);
        # speeds on other types from published batch-1/4 benchmarks (SD_SPEEDS: sources in docs/serving.md)
        ReplicaProfile(name="sd-a10", gpu_type="A10", gpus=1, work="diffusion", speeds=SD_SPEEDS),
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
            speeds=DLRM_SPEEDS,
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
