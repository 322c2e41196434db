"""Tests of gaelib.curves (learning curves on a step grid)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaelib.curves import mean_and_spread, step_curve, step_grid, summarize_curve


def test_step_grid_by_hand():
    np.testing.assert_array_equal(step_grid(100, 4), [25, 50, 75, 100])
    np.testing.assert_array_equal(step_grid(10, 3), [3, 7, 10])
    np.testing.assert_array_equal(step_grid(5, 1), [5])


def test_step_curve_by_hand():
    steps, rets = [10, 20, 30, 30], [1.0, 2.0, 6.0, 8.0]
    # by step 5: no episode; by 10: [1]; by 25: [1, 2]; by 30: the last two of four, [6, 8]
    np.testing.assert_allclose(step_curve(steps, rets, [5, 10, 25, 30], window=2), [np.nan, 1.0, 1.5, 7.0])
    np.testing.assert_allclose(step_curve(steps, rets, [30], window=10), [17.0 / 4])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.floats(-100, 100)), min_size=1, max_size=30),
       st.integers(1, 8), st.integers(0, 60))
def test_step_curve_matches_a_loop(episodes, window, at):
    episodes = sorted(episodes, key=lambda e: e[0])
    steps = [s for s, _ in episodes]
    rets = [r for _, r in episodes]
    done = [r for s, r in episodes if s <= at]
    expected = np.mean(done[-window:]) if done else np.nan
    np.testing.assert_allclose(step_curve(steps, rets, [at], window=window), [expected], rtol=1e-9, atol=1e-9)


def test_summarize_curve():
    s = summarize_curve([np.nan, 1.0, 3.0])
    assert s.final == 3.0 and s.auc == 2.0
    s = summarize_curve([np.nan, np.nan])
    assert np.isnan(s.final) and np.isnan(s.auc)


def test_mean_and_spread():
    m, lo, hi = mean_and_spread([[0.0, 2.0], [2.0, 6.0]])
    np.testing.assert_allclose(m, [1.0, 4.0])
    np.testing.assert_allclose(lo, [0.0, 2.0])
    np.testing.assert_allclose(hi, [2.0, 6.0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="total_steps and points must be >= 1"):
        step_grid(0, 3)
    with pytest.raises(ValueError, match=r"episode_steps has shape \(2,\) but episode_returns has shape \(3,\)"):
        step_curve([1, 2], [1.0, 2.0, 3.0], [2])
    with pytest.raises(ValueError, match="non-decreasing"):
        step_curve([2, 1], [1.0, 2.0], [2])
    with pytest.raises(ValueError, match="window must be >= 1"):
        step_curve([1], [1.0], [2], window=0)
    with pytest.raises(ValueError, match="curve is empty"):
        summarize_curve([])
