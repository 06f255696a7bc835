"""The autoscalers' fast paths give numpy's own floats (a replay's results must not move): the window mean is
np.nanmean, the calibrated margin's quantile is np.quantile, on any input, missing seconds included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.optimizer.autoscaling.base import window_mean
from gpufleet.optimizer.autoscaling.policies import linear_quantile

values = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 0.5, 1.0, 3.0])), min_size=1, max_size=300
)


@settings(max_examples=300, deadline=None)
@given(values, st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 0.7, 0.75, 0.8, 0.9, 0.99, 1.0])))
def test_linear_quantile_is_numpys(v: list[float], q: float) -> None:
    assert linear_quantile(sorted(v), q) == float(np.quantile(v, q))


@settings(max_examples=300, deadline=None)
@given(values, st.lists(st.integers(0, 299), max_size=5))
def test_window_mean_is_nanmean(v: list[float], missing: list[int]) -> None:
    x = np.asarray(v, dtype=float)
    for k in missing:
        if k < len(x):
            x[k] = np.nan
    if np.isnan(x).all():
        return  # nanmean warns and gives NaN; so does window_mean (not a case a replay meets)
    assert window_mean(x) == float(np.nanmean(x))
    view = np.concatenate([np.zeros(7), x])[7:]  # a slice of a longer history, as a replay hands it over
    assert window_mean(view) == float(np.nanmean(x))
