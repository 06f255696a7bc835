"""Contract of every registered WorkModel (plugins included): the policy recipe; on any REQUESTS frame, times that
are finite and non-negative, prefill within the run time, one row per usable request in arrival order, the rest
counted as skipped, the same seed giving the same times; at least one slot and a batch of at least one, a run of
one request taking exactly its own time and a fuller run never less than its longest request."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members

from gpufleet.sim.serving import WORK_MODELS, WorkModel

NAMES = members("work-model")


def requests(n: int, seed: int) -> pl.DataFrame:
    """Every column a work model of the built-ins reads: tokens, a service time, diffusion's features."""
    rng = np.random.default_rng(seed)
    with_tokens = rng.random(n) < 0.7

    def some(values: np.ndarray, keep: np.ndarray, dtype: type[pl.DataType]) -> pl.Series:
        return pl.Series([v if k else None for v, k in zip(values.tolist(), keep.tolist(), strict=True)], dtype=dtype)

    return pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_time": rng.uniform(0, 3600, n),
            "input_tokens": some(rng.integers(1, 4000, n), with_tokens, pl.Int64),
            "output_tokens": some(rng.integers(1, 500, n), with_tokens, pl.Int64),
            "service_time": some(rng.exponential(20, n), rng.random(n) < 0.9, pl.Float64),
            "model": rng.choice(["M0001", "M0002", "unseen"], n),
            "num_inference_steps": some(np.full(n, 30.0), rng.random(n) < 0.95, pl.Float64),
            "num_images_per_prompt": rng.choice([1.0, 4.0, 8.0], n),
            "num_lora": rng.integers(0, 3, n),
            "predict_type": rng.choice(["TXT_2_IMG", "IMG_2_IMG"], n),
        }
    )


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("work-model", name, WorkModel, seed=0)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 300), st.integers(0, 10_000))
def test_times_are_sane_ordered_and_seeded(name: str, n: int, seed: int) -> None:
    f = requests(n, seed)
    w = WORK_MODELS.build(name, seed=seed).work(f)
    again = WORK_MODELS.build(name, seed=seed).work(f)
    assert np.array_equal(w.service, again.service) and np.array_equal(w.arrival, again.arrival), "not seeded"
    assert len(w.arrival) == len(w.prefill) == len(w.service) == len(w.rows)
    assert len(w.rows) + w.skipped == n, "every request is replayed or counted as skipped"
    assert len(set(w.rows.tolist())) == len(w.rows) and (w.rows >= 0).all() and (w.rows < max(n, 1)).all()
    assert np.array_equal(w.arrival, f["arrival_time"].to_numpy()[w.rows]), "rows point at their requests"
    assert (np.diff(w.arrival) >= 0).all(), "in arrival order"
    assert np.isfinite(w.service).all() and (w.service >= 0).all()
    assert (w.prefill >= 0).all() and (w.prefill <= w.service + 1e-9).all()


@pytest.mark.parametrize("name", NAMES)
def test_slots_and_batches(name: str) -> None:
    m = WORK_MODELS.build(name, seed=0)
    assert m.slots >= 1 and m.batching.size >= 1 and m.batching.deadline_s >= 0
    service = np.array([3.0, 5.0, 4.0])
    assert m.batching.seconds(service, [1]) == 5.0
    assert m.batching.seconds(service, [0, 1, 2]) >= 5.0
