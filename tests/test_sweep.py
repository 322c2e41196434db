"""Tests of gaelib.sweep (the γ–λ grid)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gaelib.ppo import PPOConfig
from gaelib.sweep import ROW_FIELDS, grid_table, plot_heatmap, plot_lambda_lines, run_one, run_sweep

TINY = PPOConfig(total_steps=256, num_envs=2, num_steps=64, num_epochs=1, minibatch_size=64)


def test_run_one_row_and_determinism():
    a = run_one("CartPole-v1", TINY, gamma=0.9, lam=0.5, seed=1, grid_points=4, window=3)
    b = run_one("CartPole-v1", TINY, gamma=0.9, lam=0.5, seed=1, grid_points=4, window=3)
    assert set(ROW_FIELDS) <= set(a) and a["curve"].shape == (4,)
    assert (a["gamma"], a["lam"], a["seed"], a["total_steps"]) == (0.9, 0.5, 1, 256)
    assert a["episodes"] > 0 and a["final"] == a["curve"][-1]
    np.testing.assert_array_equal(a["curve"], b["curve"])


def test_run_sweep_grid_order():
    seen = []
    rows = run_sweep("CartPole-v1", TINY, gammas=[0.9, 0.99], lams=[0.0, 1.0], seeds=[0],
                     grid_points=2, on_row=seen.append)
    assert [(r["gamma"], r["lam"]) for r in rows] == [(0.9, 0.0), (0.9, 1.0), (0.99, 0.0), (0.99, 1.0)]
    assert len(seen) == 4


def test_grid_table_by_hand():
    rows = [dict(gamma=0.9, lam=0.0, final=1.0), dict(gamma=0.9, lam=0.0, final=3.0),
            dict(gamma=0.99, lam=1.0, final=5.0)]
    mean, std, count = grid_table(rows, "final", [0.9, 0.99], [0.0, 1.0])
    np.testing.assert_allclose(mean, [[2.0, np.nan], [np.nan, 5.0]])
    np.testing.assert_allclose(std, [[np.sqrt(2.0), np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(count, [[2, 0], [0, 1]])
    # CSV records hold strings
    mean, _, _ = grid_table([dict(gamma="0.9", lam="0.0", final="4.5")], "final", [0.9], [0.0])
    assert mean[0, 0] == 4.5


def test_plots_draw():
    rows = [dict(gamma=g, lam=lam, final=g + lam) for g in (0.9, 0.99) for lam in (0.0, 1.0)]
    mean, std, _ = grid_table(rows, "final", [0.9, 0.99], [0.0, 1.0])
    fig, (a, b) = plt.subplots(1, 2)
    plot_heatmap(a, mean, std, [0.9, 0.99], [0.0, 1.0], fmt="{:.2f}")
    plot_lambda_lines(b, rows, "final", [0.9, 0.99], [0.0, 1.0])
    assert len(a.texts) == 4 and a.texts[0].get_text() == "0.90"
    assert len(b.get_lines()) == 2 + 4
    plt.close(fig)


_G = dict(gammas=[0.9], lams=[0.5], seeds=[0])
_ONE = dict(gamma=0.9, lam=0.5, seed=0)
_ROWS_OK = [dict(gamma=0.9, lam=0.0, final=1.0)]
_ROWS = [
    # run_one and run_sweep check everything before the first training run (these rows take no time)
    (lambda: run_one("CartPole-v1", TINY, **{**_ONE, "gamma": 1.5}), ValueError, r"gamma must lie in \[0, 1\]"),
    (lambda: run_one("CartPole-v1", TINY, **{**_ONE, "lam": "0.5"}), TypeError, "lam must be a float"),
    (lambda: run_one("CartPole-v1", TINY, **{**_ONE, "seed": -1}), ValueError, "seed must be an integer >= 0"),
    (lambda: run_one("CartPole-v1", TINY, **{**_ONE, "seed": 0.5}), ValueError, "seed must be an integer >= 0"),
    (lambda: run_one("CartPole-v1", TINY, **_ONE, grid_points=0), ValueError, "grid_points must be a positive integer"),
    (lambda: run_one("CartPole-v1", TINY, **_ONE, grid_points=1000), ValueError, "points must be <= total_steps"),
    (lambda: run_one("CartPole-v1", TINY, **_ONE, window=0), ValueError, "window must be a positive integer"),
    (lambda: run_one("CartPole-v1", {"gamma": 0.9}, **_ONE), TypeError, "config must be a gaelib.ppo.PPOConfig"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "lams": [1.5]}), ValueError, r"lams must lie in \[0, 1\]"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "gammas": [float("nan")]}), ValueError, r"gammas must lie in \[0, 1\]"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "gammas": []}), ValueError, "gammas must be a non-empty sequence"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "lams": 0.5}), ValueError, "lams must be a non-empty sequence"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "lams": [0.5, 0.5]}), ValueError, "lams has repeated values"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "seeds": [0, 0]}), ValueError, "seeds has repeated values"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "seeds": [-1]}), ValueError, "seeds must be an integer >= 0"),
    (lambda: run_sweep("CartPole-v1", TINY, **{**_G, "seeds": "0"}), ValueError, "seeds must be a non-empty sequence"),
    (lambda: run_sweep("CartPole-v1", TINY, **_G, jobs=0), ValueError, "jobs must be a positive integer"),
    (lambda: run_sweep("CartPole-v1", TINY, **_G, jobs=1.5), ValueError, "jobs must be a positive integer"),
    (lambda: run_sweep("CartPole-v1", TINY, **_G, on_row=1), TypeError, "on_row must be a function"),
    (lambda: run_sweep("CartPole-v1", TINY, **_G, window=-1), ValueError, "window must be a positive integer"),
    (lambda: run_sweep("CartPole-v1", None, **_G), TypeError, "config must be a gaelib.ppo.PPOConfig"),
    (lambda: grid_table([dict(gamma=0.5, lam=0.0, final=1.0)], "final", [0.9], [0.0]), ValueError, r"rows has gamma=0.5, which is not in gammas \[0.9\]"),
    (lambda: grid_table(_ROWS_OK, "auc", [0.9], [0.0]), ValueError, "metric 'auc' is not a column"),
    (lambda: grid_table(_ROWS_OK, "final", [0.9, 0.9], [0.0]), ValueError, "gammas has repeated values"),
    (lambda: grid_table(_ROWS_OK, "final", [0.9], [2.0]), ValueError, r"lams must lie in \[0, 1\]"),
    (lambda: grid_table([(0.9, 0.0, 1.0)], "final", [0.9], [0.0]), ValueError, r"rows\[0\] must be a dict"),
    (lambda: grid_table([dict(gamma=0.9, lam=0.0, final="n/a")], "final", [0.9], [0.0]), ValueError,
     r"rows\[0\] must hold numbers"),
    (lambda: plot_heatmap(None, np.zeros((2, 2)), np.zeros((2, 2)), [0.9], [0.0, 1.0]), ValueError,
     r"mean and std must have shape \[len\(gammas\), len\(lams\)\] = \(1, 2\)"),
    (lambda: plot_heatmap(None, np.zeros((1, 2)), np.zeros((2, 1)), [0.9], [0.0, 1.0]), ValueError, "mean and std must have shape"),
    (lambda: plot_heatmap(None, np.zeros(2), np.zeros(2), [0.9], [0.0, 1.0]), ValueError, "mean must have 2 dimensions"),
    (lambda: plot_lambda_lines(None, _ROWS_OK, "final", [0.9], [0.0, 0.0]), ValueError, "lams has repeated values"),
]


@pytest.mark.parametrize("call, exc, message", _ROWS)
def test_bad_inputs_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
