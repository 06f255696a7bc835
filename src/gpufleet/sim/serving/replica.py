"""A model server in the serving replay, the pipeline it has loaded, what switching costs, and where the router
sends a request.

A replica holds one pipeline at a time: a base model, the LoRA adapters of one user group and one ControlNet.
A run whose request needs another base model reloads everything (base-model load, then the adapters); one that
needs other adapters or another ControlNet loads those. Load times are drawn from measured distributions
(SwitchCosts; genai:basemodel-update, lora-update, controlnet-update) with the replay's seeded generator.
Without Pipelines (one model per fleet, e.g. an LLM) nothing is ever switched.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
NONE = -1  # no model / adapter / ControlNet


@dataclass
class Replica:
    """One model server; `speed` divides its run times, `gpu_type` names its GPU, `gpus` how many it holds and
    `kind` its replica type in the fleet (sim/serving/gputypes.py)."""

    rid: int
    ordered: float
    ready_at: float
    speed: float = 1.0
    gpu_type: str | None = None
    gpus: int = 1
    kind: int = 0
    state: str = "starting"  # starting | ready | draining | gone
    busy: int = 0  # requests in runs
    runs: int = 0  # runs in progress
    queue: deque[int] = field(default_factory=deque)
    gone_at: float | None = None
    model: int = NONE  # the loaded pipeline
    lora: int = NONE
    control: int = NONE

    @property
    def outstanding(self) -> int:
        """Requests running or queued here."""
        return self.busy + len(self.queue)


@dataclass(frozen=True)
class Pipelines:
    """What each request needs loaded (in the replay's request order): a base model code, a LoRA key (NONE: no
    adapter) with its adapter count, a ControlNet key (NONE: none); `names` of the model codes, and `default`,
    the base model a new replica comes up with (its cold start loads it)."""

    model: I64
    lora: I64
    lora_n: I64
    control: I64
    names: list[str]
    default: int = 0

    def key(self, i: int) -> tuple[int, int, int]:
        """Requests with equal keys can share a run."""
        return int(self.model[i]), int(self.lora[i]), int(self.control[i])

    def subset(self, idx: I64) -> Pipelines:
        """The pipelines of requests `idx` (a pool's share of a trace), same codes."""
        return Pipelines(self.model[idx], self.lora[idx], self.lora_n[idx], self.control[idx], self.names, self.default)


@dataclass(frozen=True)
class SwitchCosts:
    """Measured load times (seconds) to draw from: base model, one LoRA adapter, one ControlNet."""

    base: F64
    lora: F64
    control: F64

    def __post_init__(self) -> None:
        for name in ("base", "lora", "control"):
            a = getattr(self, name)
            if len(a) == 0 or not np.isfinite(a).all() or (a < 0).any():
                raise ValueError(f"switch costs: {name} needs at least one finite, non-negative sample")


def switch(r: Replica, i: int, pipes: Pipelines, costs: SwitchCosts, rng: np.random.Generator) -> dict[str, float]:
    """Load what request i needs on r (which is idle when the base model changes); the seconds of each load."""
    loads: dict[str, float] = {}
    m, lora, control = pipes.key(i)
    if r.model != m:
        loads["base"] = float(rng.choice(costs.base))
        r.model, r.lora, r.control = m, NONE, NONE  # a new pipeline: adapters and ControlNet go with the old one
    if lora != NONE and r.lora != lora:
        loads["lora"] = float(rng.choice(costs.lora, size=max(int(pipes.lora_n[i]), 1)).sum())
        r.lora = lora
    if control != NONE and r.control != control:
        loads["control"] = float(rng.choice(costs.control))
        r.control = control
    return loads


def route(ready: list[Replica], i: int, pipes: Pipelines | None, capacity: int) -> Replica:
    """Where request i goes: the ready replica that would finish it soonest, (outstanding + 1) / speed (on one type:
    the fewest outstanding; ties: the oldest). With pipelines, warm first: a replica with its base model and room;
    else an idle one (it switches); else the least loaded with its base model (it waits for it); else the least
    loaded of all."""
    if pipes is None:
        return min(ready, key=_load)
    m = int(pipes.model[i])
    warm = [r for r in ready if r.model == m]
    room = [r for r in warm if r.outstanding < capacity]
    if room:
        return min(room, key=_load)
    idle = [r for r in ready if r.outstanding == 0]
    if idle:
        return min(idle, key=_load)
    return min(warm or ready, key=_load)


def _load(r: Replica) -> tuple[float, int]:
    # the shortest expected delay: a faster replica takes more (on one type: the fewest outstanding)
    return (r.outstanding + 1) / r.speed, r.rid
