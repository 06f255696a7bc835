"""The `diffusion` work model: a text-to-image request's service time from its steps, images, LoRAs, type and base
model, with the coefficients fitted on genai:requests (sim/serving/diffusion_fit.py) and persisted as JSON.

Why persisted rather than fitted at each replay: a replay must not learn from the requests it scores (the
built-in coefficients come from the first two thirds of the three weeks, their errors from the last third), the
same coefficients give the same service times in every replay, and nothing is fitted per command. Refit with
`python bench/exp_diffusion_fit.py --write` (it chooses the form and ridge on a validation window first) or pass
your own JSON (the same fields) as the `coefficients` setting.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
from pydantic import Field, ValidationError

from gpufleet.core.errors import GpufleetError, brief, validation_line
from gpufleet.sim.serving.diffusion_fit import DiffusionCoefficients, Features
from gpufleet.sim.serving.work import (
    WORK_MODELS,
    Batching,
    RequestWork,
    WorkSettings,
    column,
    own_settings,
    sorted_work,
)

BUILTIN = Path(__file__).with_name("diffusion_genai.json")


class DiffusionSettings(WorkSettings):
    """Where the coefficients come from, the spread of service times, and batching."""

    coefficients: str | None = Field(
        None, description="JSON of fitted coefficients (bench/exp_diffusion_fit.py); default: fitted on genai:requests"
    )
    noise: bool = Field(
        True, description="draw each request's time around the predicted median from the fit's residuals (seeded)"
    )
    batch_size: int = Field(1, ge=1, le=64, description="requests of one pipeline one run holds at most")
    batch_deadline_s: float = Field(
        0.0, ge=0, le=600, description="how long a run that is not full waits for more requests (s)"
    )
    batch_cost: float = Field(
        0.5, ge=0, le=1, description="a run of n takes the longest request's time x (1 + batch_cost x (n - 1))"
    )


@cache
def load_coefficients(path: str) -> DiffusionCoefficients:
    """Coefficients from a JSON file (read once per process); one line naming the file when they cannot be read."""
    try:
        return DiffusionCoefficients.model_validate_json(Path(path).read_text())
    except ValidationError as e:
        raise GpufleetError(validation_line(e, path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise GpufleetError(f"{path}: cannot read diffusion coefficients ({brief(e)})") from None


@WORK_MODELS.register("diffusion")
class Diffusion:
    """Stable Diffusion serving: one run at a time per GPU (or small batches of one pipeline); service time =
    the fitted median for the request's steps, images, LoRAs, type and base model, times a residual drawn from
    the fit's (seeded), so the replay keeps the trace's spread."""

    Settings: ClassVar[type[WorkSettings]] = DiffusionSettings
    learned: ClassVar[bool] = True  # fitted on timed requests (persisted, not refit per replay)

    def __init__(self, settings: WorkSettings | None = None, *, seed: int = 0) -> None:
        self.settings: DiffusionSettings = own_settings(self, settings, DiffusionSettings)
        self.seed = seed
        self.coefficients = load_coefficients(str(self.settings.coefficients or BUILTIN))

    @property
    def slots(self) -> int:
        """One run at a time: a diffusion pipeline fills the GPU."""
        return 1

    @property
    def batching(self) -> Batching:
        """Up to batch_size requests of one pipeline per run."""
        s = self.settings
        return Batching(s.batch_size, s.batch_deadline_s, s.batch_cost)

    def work(self, requests: pl.DataFrame) -> RequestWork:
        """Every request gets a time (missing steps or images: the fit's defaults, said in the notes)."""
        c = self.coefficients
        x = Features(requests, c.default_steps, c.default_images)
        service = c.median_s(x)
        if self.settings.noise and len(service):
            q = np.asarray(c.residual_quantiles, dtype=np.float64)
            u = np.random.default_rng(self.seed).uniform(0.0, 1.0, len(service))
            service = service * np.exp(np.interp(u, np.linspace(0.0, 1.0, len(q)), q))
        arrival = column(requests, "arrival_time")
        notes = []
        if x.filled_steps or x.filled_images:
            notes.append(
                f"diffusion: {x.filled_steps} requests without steps ({c.default_steps:g} used),"
                f" {x.filled_images} without images ({c.default_images:g} used)"
            )
        unseen = sorted({m for m in x.model if m not in c.models})
        if unseen:
            notes.append(f"diffusion: {len(unseen)} base models not in the fit get the global level")
        w = sorted_work(arrival, np.zeros(requests.height), service, np.isfinite(arrival))
        return RequestWork(w.arrival, w.prefill, w.service, w.rows, w.skipped, tuple(notes))
