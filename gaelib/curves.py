r"""Learning curves on a common step grid, so that runs (seeds, settings) can be averaged.

Training logs one return per finished episode, at the environment step it
finished. Episodes end at different steps in different runs, so curves are put
on a shared grid of steps first:

.. math:: c(s) = \frac{1}{|W(s)|} \sum_{k \in W(s)} R_k ,

where :math:`W(s)` holds the last ``window`` episodes that finished at or before
step :math:`s` (NaN before the first one). Two summaries of a curve are used in
the γ–λ sweep:

* the **final return**, :math:`c(S)` at the last grid step :math:`S` (the mean of
  the last ``window`` episodes of training);
* the **area under the curve** divided by its width, the mean of :math:`c` over
  the grid: it rewards learning early as well as learning well.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["step_grid", "step_curve", "CurveSummary", "summarize_curve", "mean_and_spread"]


def step_grid(total_steps: int, points: int = 20) -> np.ndarray:
    """``points`` equally spaced steps ending at ``total_steps``: ``total_steps·k/points``, k = 1..points.

    Args:
        total_steps: last step of the grid, >= 1.
        points: number of grid points, >= 1.

    Returns:
        ``[points]`` int64 array, increasing, last entry ``total_steps``.
    """
    if int(total_steps) < 1 or int(points) < 1:
        raise ValueError(f"total_steps and points must be >= 1; got {total_steps}, {points}")
    return np.round(np.arange(1, points + 1) * (total_steps / points)).astype(np.int64)


def step_curve(episode_steps, episode_returns, grid, *, window: int = 10) -> np.ndarray:
    """Mean return of the last ``window`` episodes finished by each grid step.

    Args:
        episode_steps: ``[E]`` environment steps at which episodes finished,
            non-decreasing (as :class:`gaelib.ppo.PPOHistory` records them).
        episode_returns: ``[E]`` their returns.
        grid: ``[G]`` steps at which to read the curve.
        window: episodes averaged, >= 1.

    Returns:
        ``[G]`` float64 array; NaN at grid steps before the first finished episode.

    Example:
        >>> step_curve([10, 20, 30], [1.0, 2.0, 6.0], [5, 25, 30], window=2)
        array([nan, 1.5, 4. ])
    """
    s = np.asarray(episode_steps, dtype=np.int64).ravel()
    r = np.asarray(episode_returns, dtype=np.float64).ravel()
    g = np.asarray(grid, dtype=np.int64).ravel()
    if s.shape != r.shape:
        raise ValueError(f"episode_steps has shape {s.shape} but episode_returns has shape {r.shape}")
    if s.size > 1 and np.any(np.diff(s) < 0):
        raise ValueError("episode_steps must be non-decreasing")
    if int(window) < 1:
        raise ValueError(f"window must be >= 1; got {window}")
    csum = np.concatenate([[0.0], np.cumsum(r)])
    n = np.searchsorted(s, g, side="right")  # episodes finished by each grid step
    lo = np.maximum(n - int(window), 0)
    out = np.full(g.shape, np.nan)
    ok = n > 0
    out[ok] = (csum[n[ok]] - csum[lo[ok]]) / (n[ok] - lo[ok])
    return out


class CurveSummary(NamedTuple):
    """Two numbers per learning curve."""

    final: float
    """The curve at the last grid step."""
    auc: float
    """Mean of the curve over the grid (NaN entries ignored), i.e. the area under it per unit width."""


def summarize_curve(curve) -> CurveSummary:
    """Final value and normalised area of a curve from :func:`step_curve`.

    Args:
        curve: ``[G]`` values on a grid (NaN where undefined).

    Returns:
        :class:`CurveSummary`; both NaN if the curve is NaN everywhere.
    """
    c = np.asarray(curve, dtype=np.float64).ravel()
    if c.size == 0:
        raise ValueError("curve is empty")
    auc = float(np.nanmean(c)) if np.isfinite(c).any() else float("nan")
    return CurveSummary(float(c[-1]), auc)


def mean_and_spread(curves, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum over runs (e.g. seeds), for a shaded band.

    Args:
        curves: ``[runs, G]`` (or any array; reduced over ``axis``).
        axis: the runs' axis.

    Returns:
        ``(mean, low, high)`` arrays without ``axis``.
    """
    c = np.asarray(curves, dtype=np.float64)
    return c.mean(axis=axis), c.min(axis=axis), c.max(axis=axis)
