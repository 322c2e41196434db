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


_CURVE = dict(episode_steps=[10, 20], episode_returns=[1.0, 2.0], grid=[15, 25])
_ROWS = [
    (step_grid, dict(total_steps=0, points=3), ValueError, "total_steps must be a positive integer"),
    (step_grid, dict(total_steps=10.5, points=3), ValueError, "total_steps must be a positive integer"),
    (step_grid, dict(total_steps=100, points=0), ValueError, "points must be a positive integer"),
    (step_grid, dict(total_steps=100, points="4"), ValueError, "points must be a positive integer"),
    (step_grid, dict(total_steps=3, points=20), ValueError, "points must be <= total_steps = 3"),
    (step_curve, dict(episode_returns=[1.0, 2.0, 3.0]), ValueError,
     r"episode_steps has shape \(2,\) but episode_returns has shape \(3,\)"),
    (step_curve, dict(episode_steps=[20, 10]), ValueError, "episode_steps must be non-decreasing"),
    (step_curve, dict(episode_steps=[10.5, 20]), ValueError, "episode_steps must hold whole numbers"),
    (step_curve, dict(episode_steps=[np.nan, 20]), ValueError, "episode_steps contains NaN"),
    (step_curve, dict(episode_steps=[[10, 20]]), ValueError, "episode_steps must have 1 dimensions"),
    (step_curve, dict(episode_returns=[1.0, np.nan]), ValueError, "episode_returns contains NaN"),
    (step_curve, dict(episode_returns=["a", "b"]), TypeError, "episode_returns must be a real-valued"),
    (step_curve, dict(grid=[15.5]), ValueError, "grid must hold whole numbers"),
    (step_curve, dict(grid=[[15, 25]]), ValueError, "grid must have 1 dimensions"),
    (step_curve, dict(window=0), ValueError, "window must be a positive integer"),
    (step_curve, dict(window=2.5), ValueError, "window must be a positive integer"),
    (summarize_curve, dict(curve=[]), ValueError, "curve is empty"),
    (summarize_curve, dict(curve=[[1.0, 2.0], [3.0, 4.0]]), ValueError, "curve must have 1 dimensions"),
    (summarize_curve, dict(curve=[1.0, np.inf]), ValueError, "curve contains infinite values"),
    (summarize_curve, dict(curve=["x"]), TypeError, "curve must be a real-valued"),
    (mean_and_spread, dict(curves=np.zeros((3, 4)), axis=2), ValueError, r"axis must be an integer in \[-2, 2\)"),
    (mean_and_spread, dict(curves=np.zeros((3, 4)), axis=0.5), ValueError, "axis must be an integer"),
    (mean_and_spread, dict(curves=np.zeros((0, 4))), ValueError, "curves has no runs along axis 0"),
    (mean_and_spread, dict(curves=[["a"]]), TypeError, "curves must be a real-valued"),
]


@pytest.mark.parametrize("fn, kwargs, exc, message", _ROWS)
def test_bad_inputs_are_named(fn, kwargs, exc, message):
    args = dict(_CURVE) if fn is step_curve else {}
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        fn(**args)


def test_nan_curves_are_undefined_points_not_errors():
    assert np.isnan(summarize_curve([np.nan, np.nan])).all()
    mean, low, high = mean_and_spread([[np.nan, 1.0], [2.0, 3.0]])
    assert np.isnan(mean[0]) and mean[1] == 2.0
