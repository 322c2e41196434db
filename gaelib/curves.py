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

import numbers
from typing import NamedTuple

import numpy as np

from gaelib import _args

__all__ = ["step_grid", "step_curve", "CurveSummary", "summarize_curve", "mean_and_spread"]


def step_grid(total_steps: int, points: int = 20) -> np.ndarray:
    """``points`` equally spaced steps ending at ``total_steps``: ``total_steps·k/points``, k = 1..points.

    Args:
        total_steps: last step of the grid, >= 1.
        points: number of grid points, 1 <= points <= total_steps (so that the
            steps are distinct).

    Returns:
        ``[points]`` int64 array, strictly increasing, last entry ``total_steps``.
    """
    total_steps = _args.integer("total_steps", total_steps)
    points = _args.integer("points", points)
    if points > total_steps:
        raise ValueError(f"points must be <= total_steps = {total_steps} (distinct steps); got {points}")
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
    s = _step_array("episode_steps", episode_steps)
    r = _args.float_array("episode_returns", episode_returns, 1)
    g = _step_array("grid", grid)
    if s.shape != r.shape:
        raise ValueError(f"episode_steps has shape {s.shape} but episode_returns has shape {r.shape}")
    if s.size > 1 and np.any(np.diff(s) < 0):
        raise ValueError("episode_steps must be non-decreasing")
    window = _args.integer("window", window)
    csum = np.concatenate([[0.0], np.cumsum(r)])
    n = np.searchsorted(s, g, side="right")  # episodes finished by each grid step
    lo = np.maximum(n - int(window), 0)
    out = np.full(g.shape, np.nan)
    ok = n > 0
    out[ok] = (csum[n[ok]] - csum[lo[ok]]) / (n[ok] - lo[ok])
    return out


def _step_array(name, x) -> np.ndarray:
    """A 1-D array of whole environment steps (floats such as 10.0 are accepted, 10.5 is not)."""
    f = _args.float_array(name, x, 1)
    if not np.array_equal(f, np.round(f)):
        raise ValueError(f"{name} must hold whole numbers of steps; got {f[f != np.round(f)][:3].tolist()}")
    return f.astype(np.int64)


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
    c = _args.float_array("curve", curve, 1, finite=False)
    if c.size == 0:
        raise ValueError("curve is empty")
    if np.isinf(c).any():
        raise ValueError("curve contains infinite values (NaN marks undefined points)")
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
    c = _args.float_array("curves", curves, finite=False)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -c.ndim <= axis < c.ndim:
        raise ValueError(f"axis must be an integer in [-{c.ndim}, {c.ndim}) for curves of shape "
                         f"{c.shape}; got {axis!r}")
    if c.shape[axis] == 0:
        raise ValueError(f"curves has no runs along axis {axis} (shape {c.shape})")
    return c.mean(axis=axis), c.min(axis=axis), c.max(axis=axis)
