"""The diffusion work model: its fit beats the baselines on held-back requests where the features carry signal, and
falls back to the median per base model where they mislead; the persisted coefficients carry their split and
held-back errors (and beat their baselines); replays draw the same times for the same seed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gpufleet.sim.serving import WORK_MODELS
from gpufleet.sim.serving.diffusion import BUILTIN, load_coefficients
from gpufleet.sim.serving.diffusion_fit import Features, fit, scored, select


def synthetic(n: int, seed: int, start: float = 0.0, misleading: bool = False) -> pl.DataFrame:
    """Requests whose time grows with steps and images and depends on the base model (x1.0, x2.5, x0.8), with
    lognormal noise. `misleading`: the time depends on the model alone, and each model always runs the same
    steps (A 20, B 50, C 30), so steps seem to matter."""
    rng = np.random.default_rng(seed)
    model = rng.choice(["A", "B", "C"], n)
    steps = rng.choice([20.0, 30.0, 50.0], n)
    images = rng.choice([1.0, 2.0, 4.0, 8.0], n)
    factor = np.select([model == "A", model == "B"], [1.0, 2.5], 0.8)
    secs = 0.6 * steps**0.9 * images**0.3 * factor * np.exp(rng.normal(0, 0.15, n))
    if misleading:
        steps = np.select([model == "A", model == "B"], [20.0, 50.0], 30.0)
        secs = 20.0 * factor * np.exp(rng.normal(0, 0.15, n))
    return pl.DataFrame(
        {
            "arrival_time": start + np.sort(rng.uniform(0, 1000, n)),
            "model": model,
            "num_inference_steps": steps,
            "num_images_per_prompt": images,
            "num_lora": np.zeros(n, dtype=np.int64),
            "predict_type": ["TXT_2_IMG"] * n,
            "predict_status": ["SUCCEED"] * n,
            "service_time": secs,
        }
    )


def test_the_fit_beats_both_baselines_on_held_back_requests_when_features_matter() -> None:
    train, valid, test = synthetic(3000, 1), synthetic(800, 2, 1000), synthetic(2000, 3, 2000)
    form, ridge, _ = select(train, valid)
    assert form == "log-linear" and ridge is not None
    errs = scored(fit(pl.concat([train, valid]), ridge), pl.concat([train, valid]), test)
    assert errs["fitted"]["mae_s"] < 0.8 * errs["median per base model"]["mae_s"]
    assert errs["fitted"]["mae_s"] < errs["global median"]["mae_s"]
    c = fit(train, ridge)
    assert c.log_steps == pytest.approx(0.9, abs=0.05) and c.log_images == pytest.approx(0.3, abs=0.05)


def test_it_falls_back_to_the_median_per_model_when_the_features_mislead() -> None:
    # in the fit window each model always runs the same steps, so the fit cannot tell a model's speed from its
    # steps' (the ridge on model effects hands most of it to the steps); in validation the steps vary and do not
    # matter: the fit mispredicts where the median per base model is right
    train = synthetic(3000, 4, misleading=True)
    valid = synthetic(1000, 5, 1000, misleading=True).with_columns(
        pl.Series("num_inference_steps", np.random.default_rng(9).choice([20.0, 30.0, 50.0], 1000))
    )
    form, ridge, mae = select(train, valid, ridges=(100.0,))
    assert form == "median per base model" and ridge is None
    assert mae["median per base model"] < mae["ridge 100"]


def test_the_persisted_coefficients_say_how_they_were_fitted_and_beat_their_baselines() -> None:
    c = load_coefficients(str(BUILTIN))
    on = c.fitted_on
    assert on["trace"] == "genai:requests" and on["fit_window_s"][1] == on["test_window_s"][0]
    assert on["validation_window_s"][1] == on["fit_window_s"][1], "validation ends where the test window begins"
    e = c.errors["test_window"]
    assert e["fitted"]["mae_s"] < e["median per base model"]["mae_s"] < e["global median"]["mae_s"]
    assert e["fitted"]["requests"] > 10_000
    assert len(c.residual_quantiles) == 101 and c.residual_quantiles[50] == pytest.approx(0.0, abs=1e-9)


def test_replays_draw_the_same_times_for_a_seed_and_fill_missing_features() -> None:
    f = synthetic(200, 6).with_columns(pl.lit(None, pl.Float64).alias("num_inference_steps"))
    a = WORK_MODELS.build("diffusion", seed=7).work(f)
    b = WORK_MODELS.build("diffusion", seed=7).work(f)
    c = WORK_MODELS.build("diffusion", seed=8).work(f)
    assert np.array_equal(a.service, b.service) and not np.array_equal(a.service, c.service)
    assert any("200 requests without steps" in n for n in a.notes)
    plain = WORK_MODELS.build("diffusion", {"noise": False}).work(f)
    x = Features(f, 30.0, 1.0)
    assert np.allclose(np.sort(plain.service), np.sort(load_coefficients(str(BUILTIN)).median_s(x)))
