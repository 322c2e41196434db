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


def test_bad_inputs():
    with pytest.raises(ValueError, match="lams must lie in"):
        run_sweep("CartPole-v1", TINY, gammas=[0.9], lams=[1.5], seeds=[0])
    with pytest.raises(ValueError, match="must be non-empty"):
        run_sweep("CartPole-v1", TINY, gammas=[], lams=[0.5], seeds=[0])
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        run_sweep("CartPole-v1", TINY, gammas=[0.9], lams=[0.5], seeds=[0], jobs=0)
    with pytest.raises(ValueError, match="not in the grid"):
        grid_table([dict(gamma=0.5, lam=0.0, final=1.0)], "final", [0.9], [0.0])
    with pytest.raises(ValueError, match="metric 'auc' is not a column"):
        grid_table([dict(gamma=0.9, lam=0.0, final=1.0)], "auc", [0.9], [0.0])
