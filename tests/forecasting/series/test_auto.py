"""auto: which member it picks on series whose best forecaster is known, and how weights follow errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from gpufleet.forecasting.series import FORECASTERS
from gpufleet.forecasting.series.auto import weights

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(hours=1)


def frame(values: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.concat(
        pl.DataFrame({"unique_id": k, "ds": [T0 + i * STEP for i in range(len(v))], "y": v}) for k, v in values.items()
    )


def test_auto_picks_naive_on_a_random_walk_and_the_seasonal_model_on_a_clean_season() -> None:
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal(400)) + 50
    season = 10 + 5 * np.sin(2 * np.pi * np.arange(400) / 24)
    f = FORECASTERS.build(
        "auto",
        {
            "members": ("naive-last", "seasonal-naive"),
            "rule": "best",
            "horizon": 12,
            "season_length": 24,
            "step_s": 3600,
        },
    ).fit(frame({"walk": walk, "season": season}))
    assert f.choice["walk"] == {"naive-last": 1.0}
    assert f.choice["season"] == {"seasonal-naive": 1.0}
    pred = f.predict(12)
    assert np.allclose(pred.filter(pl.col("unique_id") == "walk")["mean"].to_numpy(), walk[-1])
    assert np.allclose(pred.filter(pl.col("unique_id") == "season")["mean"].to_numpy(), season[-24:-12])


def test_global_scope_makes_one_choice_and_inverse_weights_follow_errors() -> None:
    season = 10 + 5 * np.sin(2 * np.pi * np.arange(400) / 24)
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.standard_normal(400)) + 50
    df = frame({"a": season, "b": season + 3, "walk": walk})
    g = FORECASTERS.build(
        "auto",
        {
            "members": ("naive-last", "seasonal-naive"),
            "rule": "best",
            "scope": "global",
            "horizon": 12,
            "season_length": 24,
            "step_s": 3600,
        },
    ).fit(df)
    assert len({tuple(c.items()) for c in g.choice.values()}) == 1  # one choice for every series
    assert weights(np.array([2.0, 1.0, np.nan]), "inverse").tolist() == [1 / 3, 2 / 3, 0.0]
    assert weights(np.array([2.0, 1.0, 3.0]), "top2").tolist() == [0.5, 0.5, 0.0]
    assert weights(np.array([1.0, 1.0]), "best").tolist() == [1.0, 0.0]  # a tie goes to the simpler, earlier one
    assert np.isnan(weights(np.array([np.nan, np.nan]), "best")).all()


def test_a_series_without_validation_points_gets_the_pooled_choice() -> None:
    season = 10 + 5 * np.sin(2 * np.pi * np.arange(400) / 24)
    young = season[-10:]  # starts at step 390, after every validation cut (388, 376, 364)
    df = pl.concat([frame({"old": season}), frame({"young": young}).with_columns(pl.col("ds") + 390 * STEP)])
    f = FORECASTERS.build(
        "auto",
        {
            "members": ("naive-last", "seasonal-naive"),
            "rule": "best",
            "horizon": 12,
            "season_length": 24,
            "step_s": 3600,
            "min_points": 5,
        },
    ).fit(df)
    assert "young" not in f.validation_mae["naive-last"]
    assert f.choice["young"] == f.choice["old"] == {"seasonal-naive": 1.0}
