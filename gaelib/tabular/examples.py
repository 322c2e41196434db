r"""Example MDPs of the course: the seed article's two-state MDP, a corridor, a grid world.

:func:`two_state_mdp` (the article's example, completed), :func:`chain_mdp` (a
corridor with a terminal goal), :func:`gridworld` (a grid from a text layout,
default Russell & Norvig's 4x3 world) and :func:`grid_values` (per-state numbers
back on the grid, for plotting).
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from gaelib import _args
from gaelib.tabular.mdp import TabularMDP

__all__ = ["two_state_mdp", "chain_mdp", "gridworld", "grid_values"]


def two_state_mdp(gamma: float = 0.9) -> TabularMDP:
    r"""The two-state example of the seed article (its section 4.3), completed.

    States ``s1``, ``s2`` (indices 0, 1), actions ``a1``, ``a2``, all deterministic:

    ========  ========  ==========  ======
    state     action    next state  reward
    ========  ========  ==========  ======
    s1        a1        s2          1
    s1        a2        s1 (stay)   0
    s2        a1        s2 (stay)   0
    s2        a2        s1          0
    ========  ========  ==========  ======

    The article defines only the first and last rows; the two "stay" rows are this
    course's completion (the action that does not move leaves the agent where it
    is, with no reward). Episodes start in ``s1`` and never end. Under the uniform
    policy :math:`V = (2.75, 2.25)`; under "always move" :math:`V(s_1) = 1/(1-\gamma^2)`.

    Args:
        gamma: discount, 0.9 in the article; must be < 1 (no terminal state).

    Returns:
        :class:`TabularMDP` with ``S = 2``, ``A = 2``.
    """
    if _args.unit_interval("gamma", gamma) >= 1:
        raise ValueError(f"gamma must be < 1 for the two-state MDP (it has no terminal state); got {gamma}")
    P = np.zeros((2, 2, 2))
    P[0, 0, 1] = P[0, 1, 0] = P[1, 0, 1] = P[1, 1, 0] = 1.0
    r = np.array([[1.0, 0.0], [0.0, 0.0]])
    return TabularMDP(P, r, gamma, initial=np.array([1.0, 0.0]),
                      state_names=("s1", "s2"), action_names=("a1", "a2"))


def chain_mdp(n: int = 5, *, gamma: float = 0.9, slip: float = 0.0, step_reward: float = 0.0,
              goal_reward: float = 1.0) -> TabularMDP:
    r"""A corridor of ``n`` states; the right end is a terminal goal.

    States ``0 .. n-1``; state ``n-1`` is terminal, episodes start in state 0.
    Actions ``left`` (0) and ``right`` (1) move one cell; with probability ``slip``
    the agent moves the other way. Moving left from 0 stays at 0. Every step costs
    ``step_reward``; entering the goal adds ``goal_reward``. So
    :math:`r(s,a) = \mathrm{step\_reward} + \mathrm{goal\_reward}\cdot P(s_{t+1}=n-1 \mid s,a)`.

    Args:
        n: number of states, >= 2.
        gamma: discount in [0, 1].
        slip: probability in [0, 1) of moving opposite to the action.
        step_reward: reward of every step (e.g. -0.1 for a cost).
        goal_reward: extra reward for entering the goal.

    Returns:
        :class:`TabularMDP` with ``S = n``, ``A = 2``.
    """
    n = _args.integer("n", n, minimum=2)
    slip = _args.unit_interval("slip", slip, below_one=True)
    step_reward, goal_reward = _rewards(step_reward=step_reward, goal_reward=goal_reward)
    P = np.zeros((n, 2, n))
    for s in range(n - 1):
        left, right = max(s - 1, 0), s + 1
        P[s, 0, left] += 1 - slip
        P[s, 0, right] += slip
        P[s, 1, right] += 1 - slip
        P[s, 1, left] += slip
    P[n - 1, :, n - 1] = 1.0
    r = step_reward + goal_reward * P[:, :, n - 1]
    r[n - 1] = 0.0
    terminal = np.zeros(n, bool)
    terminal[n - 1] = True
    initial = np.zeros(n)
    initial[0] = 1.0
    return TabularMDP(P, r, gamma, initial=initial, terminal=terminal,
                      state_names=tuple(str(i) for i in range(n)), action_names=("left", "right"))


_DEFAULT_LAYOUT = ("...G",
                   ".#.X",
                   "S...")
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left


def _rewards(**rewards):
    out = []
    for name, x in rewards.items():
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x):
            raise ValueError(f"{name} must be a finite number; got {x!r}")
        out.append(float(x))
    return out


def _parse_layout(layout):
    if (isinstance(layout, str) or not isinstance(layout, Sequence) or not layout
            or not all(isinstance(row, str) for row in layout)):
        raise TypeError(f"layout must be a non-empty sequence of strings, one per row; got {layout!r}")
    width = len(layout[0])
    if width == 0 or any(len(row) != width for row in layout):
        raise ValueError(f"layout rows must be non-empty and of equal length; got lengths "
                         f"{[len(r) for r in layout]}")
    bad = set("".join(layout)) - set(".#SGX")
    if bad:
        raise ValueError(f"layout may contain only '.', '#', 'S', 'G', 'X'; got {sorted(bad)}")
    cells = [(i, j) for i, row in enumerate(layout) for j, c in enumerate(row) if c != "#"]
    return cells


def gridworld(layout: Sequence[str] = _DEFAULT_LAYOUT, *, gamma: float = 0.95, slip: float = 0.2,
              step_reward: float = -0.04, goal_reward: float = 1.0,
              pit_reward: float = -1.0) -> TabularMDP:
    r"""A grid world from a text layout (default: Russell & Norvig's 4x3 world).

    Cells: ``.`` free, ``#`` wall, ``S`` start, ``G`` goal (terminal, entering it
    gives ``goal_reward``), ``X`` pit (terminal, ``pit_reward``). States are the
    non-wall cells in row-major order (:func:`grid_values` maps values back).
    Actions ``up``, ``right``, ``down``, ``left``: the intended move with probability
    ``1 - slip``, each perpendicular move with ``slip / 2``; moving into a wall or
    off the grid stays put. Every step also gives ``step_reward``. Episodes start
    at the ``S`` cells (uniformly), or at every free cell if there is none.

    Args:
        layout: rows of equal length.
        gamma: discount in [0, 1].
        slip: probability in [0, 1] of slipping sideways.
        step_reward, goal_reward, pit_reward: rewards as above.

    Returns:
        :class:`TabularMDP` with ``A = 4`` and ``state_names`` ``"(row, col)"``.
    """
    cells = _parse_layout(layout)
    slip = _args.unit_interval("slip", slip)
    step_reward, goal_reward, pit_reward = _rewards(step_reward=step_reward, goal_reward=goal_reward,
                                                    pit_reward=pit_reward)
    index = {c: k for k, c in enumerate(cells)}
    S = len(cells)
    kind = np.array([layout[i][j] for i, j in cells])
    terminal = np.isin(kind, ["G", "X"])
    enter = np.where(kind == "G", goal_reward, np.where(kind == "X", pit_reward, 0.0))
    P = np.zeros((S, 4, S))
    for k, (i, j) in enumerate(cells):
        if terminal[k]:
            P[k, :, k] = 1.0
            continue
        for a in range(4):
            for b, p in ((a, 1 - slip), ((a + 1) % 4, slip / 2), ((a + 3) % 4, slip / 2)):
                di, dj = _MOVES[b]
                P[k, a, index.get((i + di, j + dj), k)] += p
    r = step_reward + P @ enter
    r[terminal] = 0.0
    starts = kind == "S"
    if not (~terminal).any():
        raise ValueError("layout has no non-terminal cell")
    if not starts.any():
        starts = ~terminal
    return TabularMDP(P, r, gamma, initial=starts / starts.sum(), terminal=terminal,
                      state_names=tuple(f"({i}, {j})" for i, j in cells),
                      action_names=("up", "right", "down", "left"))


def grid_values(layout: Sequence[str], values) -> np.ndarray:
    """Place per-state numbers of :func:`gridworld` back on the grid, for plotting.

    Args:
        layout: the layout given to :func:`gridworld`.
        values: ``[S]`` float, one number per non-wall cell (row-major order).

    Returns:
        ``[rows, cols]`` float64 with NaN at walls.

    Example:
        >>> grid_values([".#G"], [1.0, 0.0])
        array([[ 1., nan,  0.]])
    """
    cells = _parse_layout(layout)
    v = _args.float_array("values", values, 1, shape=(len(cells),),
                          need=f"the layout has {len(cells)} non-wall cells, so it must have shape")
    out = np.full((len(layout), len(layout[0])), np.nan)
    for (i, j), x in zip(cells, v):
        out[i, j] = x
    return out
