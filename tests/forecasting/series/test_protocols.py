"""The independent protocols on tiny hand-built frames: bins, series, origins and the scores."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from gpufleet.forecasting.series import Bounds
from gpufleet.forecasting.series.protocol_run import run_protocol
from gpufleet.forecasting.series.protocols import PROTOCOLS, bin_samples, evaluated, origins_of

A, B = PROTOCOLS["genai-a"], PROTOCOLS["helios-b"]
T0 = datetime(2026, 1, 5, 0, 0, 30, tzinfo=UTC)


def samples(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    """(unique_id, seconds after T0, y) rows as a raw sample frame."""
    return pl.DataFrame(
        [(u, T0 + timedelta(seconds=s), y) for u, s, y in rows],
        schema={"unique_id": pl.Utf8, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64},
        orient="row",
    )


def test_genai_bins_are_5_minute_means_on_a_grid_from_the_first_sample() -> None:
    df = samples([("p", 0, 1.0), ("p", 57, 3.0), ("p", 299, 5.0), ("p", 300, 7.0), ("q", 900, 2.0)])
    b = bin_samples(df, A)
    assert b.ids == ["p", "q"] and b.t0_us == int(T0.timestamp() * 1e6)
    assert b.bins[0].tolist() == [0, 1] and b.values[0].tolist() == [3.0, 7.0]  # (1 + 3 + 5) / 3
    assert b.bins[1].tolist() == [3]  # a missing bin stays missing (no 1 or 2 for q)
    first, y = b.series(0)
    assert first == 0 and y.tolist() == [3.0, 7.0]


def test_genai_origins_follow_each_series_end_and_need_an_hour_of_history() -> None:
    assert origins_of(0, 29, A) == [18]  # 30 bins: o = 30 - 12 = 18; 6 has only 6 bins of history
    assert origins_of(0, 22, A) == []  # 23 bins < 24: not evaluated
    assert origins_of(10, 125, A) == [30, 42, 54, 66, 78, 90, 102, 114]  # the last 8 hours of its own series
    # shifted one stride: the window of k = 2..9; the earliest (18) has only 8 bins of history
    assert origins_of(10, 125, A, shift=1) == [30, 42, 54, 66, 78, 90, 102]
    assert origins_of(10, 125, A, shift=8) == []  # wholly before the test origins: nothing left this short


def test_helios_origins_are_the_last_midnights_with_a_day_after_them() -> None:
    last = 24 * 31 - 1  # a month of hourly bins on the calendar grid (bin 0 = a midnight)
    assert origins_of(0, last, B) == [24 * d for d in range(24, 31)]
    assert origins_of(0, last - 1, B) == [24 * d for d in range(23, 30)]  # the last day is incomplete


def test_naive_and_window_mean_scores_by_hand() -> None:
    # one pod, 26 bins of one sample each: 0..23 = 1.0 except bin 13 = 3.0, then 5.0, 5.0
    vals = [1.0] * 24 + [5.0, 5.0]
    vals[13] = 3.0
    df = samples([("p", 300 * k, v) for k, v in enumerate(vals)])
    tiny = dataclasses.replace(A, n_origins=1, min_bins=24)
    summary, rows = run_protocol(bin_samples(df, tiny), tiny, [], bounds=Bounds(0.0, None))
    assert evaluated(bin_samples(df, tiny), tiny) == {"p": [14]}
    r = {(m, h): row for m, h, row in zip(rows["model"], rows["horizon"], rows.iter_rows(named=True), strict=True)}
    # origin 14: naive = bin 13 = 3.0; window-mean = mean of bins 2..13 = (11 * 1 + 3) / 12
    truth = np.array(vals[14:26])
    wm = (11 + 3) / 12
    assert np.isclose(r["naive-last", "1h_steps"]["MAE"], 100 * np.abs(truth - 3.0).mean())
    assert np.isclose(r["window-mean", "1h_steps"]["MAE"], 100 * np.abs(truth - wm).mean())
    assert np.isclose(r["window-mean", "1h_mean"]["MAE"], 100 * abs(truth.mean() - wm))
    # MASE scale: mean |diff| over bins before the first origin (0..13): one step of 2.0 in 13 diffs
    assert np.isclose(r["naive-last", "1h_steps"]["mase_scale"], 100 * 2.0 / 13)
    assert summary.filter(pl.col("model") == "naive-last")["pooled_relMAE"].to_list() == [1.0, 1.0]
