r"""The finite MDP type, the tabular softmax policy and the checks of policies and logits.

The conventions (expected rewards ``r(s, a)``, absorbing terminal states worth 0)
are stated in :mod:`gaelib.tabular`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from gaelib import _args

__all__ = ["TabularMDP", "softmax_policy"]


@dataclass(frozen=True)
class TabularMDP:
    r"""A finite MDP with absorbing terminal states.

    The arrays are copied to float64 (bool for ``terminal``) and made read-only.

    Args:
        transitions: ``[S, A, S]`` float, ``transitions[s, a, s2]`` =
            :math:`P(s_{t+1}=s2 \mid s_t=s, a_t=a)`; each ``[s, a]`` row sums to 1
            (within the rounding of the input's dtype; rows are renormalised in
            float64). Rows of terminal states may be all zeros: they are stored as
            self-loops (absorbing).
        rewards: ``[S, A]`` float, the expected reward :math:`r(s, a)` received on the
            step that takes ``a`` in ``s`` (``rewards[t]`` in the course's notation).
            Rows of terminal states are never used.
        gamma: discount γ in [0, 1]. γ = 1 needs every evaluated policy to reach a
            terminal state with probability 1.
        initial: ``[S]`` float start distribution :math:`\rho_0`, no mass on terminal
            states. ``None`` (default): uniform over the non-terminal states.
        terminal: ``[S]`` bool, absorbing terminal states (value 0; an episode stops
            on entering one). ``None`` (default): no terminal state.
        state_names, action_names: optional labels, of lengths ``S`` and ``A``.
    """

    transitions: np.ndarray
    rewards: np.ndarray
    gamma: float
    initial: Optional[np.ndarray] = None
    terminal: Optional[np.ndarray] = None
    state_names: Optional[Sequence[str]] = None
    action_names: Optional[Sequence[str]] = None

    def __post_init__(self):
        P = _args.float_array("transitions", self.transitions, 3)
        S, A, S2 = P.shape
        if S != S2 or S == 0 or A == 0:
            raise ValueError(f"transitions must have shape [S, A, S] with S, A >= 1; got {P.shape}")
        if self.terminal is None:
            term = np.zeros(S, bool)
        else:
            term = np.array(self.terminal)
            if term.dtype != np.bool_:
                raise TypeError(f"terminal must be a bool array; got dtype {term.dtype}")
            if term.shape != (S,):
                raise ValueError(f"terminal has shape {term.shape}; it must have shape [S] = {(S,)}")
        if term.all():
            raise ValueError("terminal marks every state; at least one state must be non-terminal")
        P = _args.distribution("transitions", self.transitions, 3, skip_zero_rows=term)
        P[term] = np.eye(S)[term][:, None, :]  # terminal states are absorbing
        r = _args.float_array("rewards", self.rewards, 2)
        if r.shape != (S, A):
            raise ValueError(f"rewards has shape {r.shape} but transitions has shape {P.shape}; "
                             f"rewards must have shape [S, A] = {(S, A)}")
        g = _args.unit_interval("gamma", self.gamma)
        if self.initial is None:
            rho = (~term).astype(np.float64) / (~term).sum()
        else:
            rho = _args.distribution("initial", self.initial, 1)
            if rho.shape != (S,):
                raise ValueError(f"initial has shape {rho.shape}; it must have shape [S] = {(S,)}")
            if rho[term].sum() > 0:
                raise ValueError("initial puts probability on terminal states; episodes must start "
                                 "in a non-terminal state")
        for name, labels, n in (("state_names", self.state_names, S),
                                ("action_names", self.action_names, A)):
            if labels is not None:
                if isinstance(labels, str) or len(labels) != n:
                    raise ValueError(f"{name} must be a sequence of {n} labels; got {labels!r}")
                object.__setattr__(self, name, tuple(str(x) for x in labels))
        for name, x in (("transitions", P), ("rewards", r), ("initial", rho), ("terminal", term)):
            x.setflags(write=False)
            object.__setattr__(self, name, x)
        object.__setattr__(self, "gamma", g)

    @property
    def n_states(self) -> int:
        """Number of states ``S`` (terminal states included)."""
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return self.transitions.shape[1]


def softmax_policy(logits) -> np.ndarray:
    r"""Tabular softmax policy :math:`\pi(a \mid s) = e^{\theta_{sa}} / \sum_b e^{\theta_{sb}}`.

    Args:
        logits: ``[S, A]`` float, :math:`\theta`.

    Returns:
        ``[S, A]`` float64, each row a probability distribution.

    Example:
        >>> softmax_policy(np.array([[0.0, 0.0], [np.log(3.0), 0.0]]))
        array([[0.5 , 0.5 ],
               [0.75, 0.25]])
    """
    z = _args.float_array("logits", logits, 2)
    if 0 in z.shape:
        raise ValueError(f"logits is empty (shape {z.shape})")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_mdp(mdp) -> None:
    """``TypeError`` unless ``mdp`` is a :class:`TabularMDP`."""
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP; got {type(mdp).__name__}")


def check_policy(mdp: TabularMDP, policy) -> np.ndarray:
    """``policy`` ``[S, A]`` as float64 rows summing to 1 (terminal rows may be zeros)."""
    check_mdp(mdp)
    return _args.distribution("policy", policy, 2, skip_zero_rows=mdp.terminal,
                              shape=(mdp.n_states, mdp.n_actions), need="this MDP needs [S, A] =")


def check_logits(mdp: TabularMDP, logits) -> np.ndarray:
    """``logits`` ``[S, A]`` as a finite float64 array."""
    check_mdp(mdp)
    return _args.float_array("logits", logits, 2, shape=(mdp.n_states, mdp.n_actions),
                             need="this MDP needs [S, A] =")
