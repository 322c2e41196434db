r"""Sampled episodes of a tabular MDP, and the Monte Carlo policy-gradient estimate from them.

:func:`sample_episodes` draws trajectories with a seeded generator into an
:class:`EpisodeBatch` of time-major ``[T, N]`` arrays that feed :func:`gaelib.gae`
directly; :func:`sampled_policy_gradient` turns per-step weights (returns,
advantages, TD residuals) into the policy-gradient estimate whose mean is
:func:`gaelib.tabular.exact_policy_gradient`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gaelib import _args, _checks
from gaelib.tabular.mdp import TabularMDP, check_policy

__all__ = ["EpisodeBatch", "sample_episodes", "sampled_policy_gradient"]


class EpisodeBatch(NamedTuple):
    """``N`` episodes sampled by :func:`sample_episodes`, time-major ``[T, N]``.

    Episode ``n`` occupies steps ``0 .. L_n - 1`` of column ``n``; later steps are
    padding (``valid`` False, ``terminated`` True, reward 0, state = the episode's
    final state), so that they never leak into the steps before them.
    """

    states: np.ndarray
    """``[T, N]`` int, :math:`s_t`."""
    actions: np.ndarray
    """``[T, N]`` int, :math:`a_t`."""
    rewards: np.ndarray
    """``[T, N]`` float, :math:`r_t = r(s_t, a_t)` (0 on padding)."""
    next_states: np.ndarray
    """``[T, N]`` int, :math:`s_{t+1}`."""
    terminated: np.ndarray
    """``[T, N]`` bool, :math:`s_{t+1}` is terminal (True on padding)."""
    truncated: np.ndarray
    """``[T, N]`` bool, the episode was cut after step ``t`` by ``max_steps``."""
    valid: np.ndarray
    """``[T, N]`` bool, a real step (False on padding)."""


def _sample_rows(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling of one index per row of ``probs`` with uniforms ``u``."""
    cdf = np.cumsum(probs, axis=1)
    idx = (u[:, None] >= cdf).sum(axis=1)
    return np.minimum(idx, probs.shape[1] - 1)


def sample_episodes(mdp: TabularMDP, policy, n_episodes: int, max_steps: int,
                    rng: np.random.Generator) -> EpisodeBatch:
    r"""Sample ``n_episodes`` independent episodes of at most ``max_steps`` steps.

    Each episode starts from :math:`s_0 \sim \rho_0` (``mdp.initial``) and runs
    :math:`a_t \sim \pi(\cdot\mid s_t)`, :math:`s_{t+1} \sim P(\cdot\mid s_t,a_t)`,
    :math:`r_t = r(s_t,a_t)` until it enters a terminal state (``terminated``) or
    reaches ``max_steps`` steps (``truncated`` on its last step). Per step, the
    generator draws one uniform for the action and one for the next state of
    each running episode, so results depend only on the seed.

    The output feeds :func:`gaelib.gae` directly, e.g. with state values ``V``::

        gae(ep.rewards, V[ep.states], next_values=V[ep.next_states],
            terminated=ep.terminated, truncated=ep.truncated, gamma=..., lam=...)

    and the results are then read where ``ep.valid`` is True.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a\mid s)`.
        n_episodes: ``N`` >= 1.
        max_steps: ``T`` >= 1, the length of the arrays.
        rng: a ``numpy.random.Generator`` (e.g. from :func:`gaelib.seed_everything`).

    Returns:
        :class:`EpisodeBatch` of ``[T, N]`` arrays.
    """
    pi = check_policy(mdp, policy)
    N = _args.integer("n_episodes", n_episodes)
    T = _args.integer("max_steps", max_steps)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                        f"got {type(rng).__name__}")
    states = np.zeros((T, N), np.int64)
    actions = np.zeros((T, N), np.int64)
    rewards = np.zeros((T, N))
    next_states = np.zeros((T, N), np.int64)
    terminated = np.ones((T, N), bool)
    truncated = np.zeros((T, N), bool)
    valid = np.zeros((T, N), bool)
    s = _sample_rows(np.broadcast_to(mdp.initial, (N, mdp.n_states)), rng.random(N))
    live = np.arange(N)  # the episodes still running
    for t in range(T):
        states[t] = s
        next_states[t] = s  # padding stays in the final state
        sl = s[live]
        a = _sample_rows(pi[sl], rng.random(live.size))
        s2 = _sample_rows(mdp.transitions[sl, a], rng.random(live.size))
        actions[t, live], next_states[t, live] = a, s2
        rewards[t, live] = mdp.rewards[sl, a]
        valid[t, live] = True
        terminated[t, live] = mdp.terminal[s2]
        s = next_states[t].copy()
        live = live[~mdp.terminal[s2]]
        if live.size == 0:  # every episode has ended: the rest is padding
            states[t + 1:] = next_states[t + 1:] = s
            break
    truncated[T - 1, live] = True
    return EpisodeBatch(states, actions, rewards, next_states, terminated, truncated, valid)


def check_episodes(mdp: TabularMDP, episodes) -> None:
    """``TypeError``/``ValueError`` unless ``episodes`` is an :class:`EpisodeBatch` of this MDP."""
    if not isinstance(episodes, EpisodeBatch):
        raise TypeError(f"episodes must be an EpisodeBatch from sample_episodes; "
                        f"got {type(episodes).__name__}")
    for name, x, n in (("states", episodes.states, mdp.n_states),
                       ("actions", episodes.actions, mdp.n_actions)):
        if x.size and (x.min() < 0 or x.max() >= n):
            raise ValueError(f"episodes.{name} holds indices outside [0, {n}); were the episodes "
                             f"sampled from another MDP?")


def sampled_policy_gradient(mdp: TabularMDP, policy, episodes: EpisodeBatch, weights, *,
                            discount_steps: bool = True, per_episode: bool = False) -> np.ndarray:
    r"""Monte Carlo policy-gradient estimate for a tabular softmax policy.

    .. math::
        \hat g = \frac1N \sum_{n=1}^N \sum_{t} \gamma^t\, \Psi_t^{(n)}\,
                 \nabla_\theta \log \pi_\theta(a_t^{(n)} \mid s_t^{(n)}),
        \qquad \frac{\partial \log\pi(a\mid s)}{\partial \theta_{s b}} = [a=b] - \pi(b\mid s),

    summed over the valid steps of each episode. The weights :math:`\Psi_t` choose
    the estimator: the return-to-go :math:`G_t` (REINFORCE), :math:`G_t - b(s_t)`
    (REINFORCE with a baseline), the TD residual :math:`\delta_t` (actor-critic), or
    a GAE advantage. With :math:`\gamma^t` (``discount_steps=True``) and an unbiased
    :math:`\Psi_t`, :math:`\mathbb E[\hat g] = \nabla_\theta J`
    (:func:`~gaelib.tabular.exact_policy_gradient`); practical implementations drop
    :math:`\gamma^t`, which biases the estimate.

    Args:
        mdp: the MDP (for γ and the shapes).
        policy: ``[S, A]`` float, the policy that sampled ``episodes``.
        episodes: from :func:`sample_episodes`, arrays ``[T, N]``.
        weights: ``[T, N]`` float, :math:`\Psi_t` (ignored on padding steps).
        discount_steps: multiply step ``t`` by :math:`\gamma^t`.
        per_episode: return each episode's term instead of their mean.

    Returns:
        ``[S, A]`` float64 (or ``[N, S, A]`` with ``per_episode=True``).
    """
    pi = check_policy(mdp, policy)
    check_episodes(mdp, episodes)
    discount_steps = _args.boolean("discount_steps", discount_steps)
    per_episode = _args.boolean("per_episode", per_episode)
    w = _args.float_array("weights", weights, 2)
    _checks.check_same_shape("weights", w, "episodes.rewards", episodes.rewards)
    T, N = w.shape
    S, A = mdp.n_states, mdp.n_actions
    t, n = np.nonzero(episodes.valid)  # only real steps contribute
    s, a = episodes.states[t, n], episodes.actions[t, n]
    coef = w[t, n] * (mdp.gamma ** t if discount_steps else 1.0)
    contrib = coef[:, None] * (np.eye(A)[a] - pi[s])  # Psi_t * d log pi(a_t|s_t) / d theta_{s_t, .}
    idx = n * S + s
    out = np.stack([np.bincount(idx, weights=contrib[:, b], minlength=N * S) for b in range(A)],
                   axis=-1).reshape(N, S, A)
    return out if per_episode else out.mean(axis=0)
