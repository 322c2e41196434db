r"""Bias, variance and mean squared error of advantage and policy-gradient estimators.

The derivation chapter measures the λ trade-off instead of asserting it. On a
tabular MDP the exact advantage :math:`A^\pi(s, a)` and the exact policy gradient
are known, so an estimator's error splits exactly into a bias and a variance:

.. math::
    \underbrace{\mathbb{E}\big[(\hat X - x)^2\big]}_{\text{MSE}}
    = \underbrace{\big(\mathbb{E}[\hat X] - x\big)^2}_{\text{bias}^2}
    + \underbrace{\mathbb{E}\big[(\hat X - \mathbb{E}[\hat X])^2\big]}_{\text{variance}}.

* :func:`grouped_error` applies it to advantage estimates: samples are grouped by
  their state–action pair (the target :math:`A^\pi(s, a)` is one number per group)
  and the per-group terms are averaged with the visit counts as weights.
* :func:`estimator_error` applies it to vector-valued estimates (policy gradients),
  summing over components.
* :func:`expected_gae` computes :math:`\mathbb{E}[\hat A_t \mid s_t = s, a_t = a]`
  exactly, by linear algebra, for any critic: the exact bias, to check the sampled one.
* :func:`advantage_error_sweep` and :func:`gradient_error_sweep` run GAE over a
  grid of λ on one batch of sampled episodes and return the three error terms per λ.

MDPs and sampled episodes are read by attribute (``transitions``, ``rewards``,
``terminal``; ``states``, ``actions``, ``rewards``, ``next_states``, ``terminated``,
``truncated``, ``valid``), as produced by :mod:`gaelib.tabular` (a
:class:`~gaelib.tabular.TabularMDP` and an :class:`~gaelib.tabular.EpisodeBatch`). numpy only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gaelib import _args, _checks
from gaelib.advantages import gae

__all__ = [
    "ErrorDecomposition",
    "grouped_error",
    "estimator_error",
    "expected_gae",
    "advantage_error_sweep",
    "gradient_error_sweep",
]


class ErrorDecomposition(NamedTuple):
    """Mean squared error split into squared bias and variance (``mse == bias2 + variance``)."""

    bias2: Any
    """Squared bias (float, or an array with one entry per setting in a sweep)."""
    variance: Any
    """Variance, same shape as ``bias2``."""
    mse: Any
    """Mean squared error, same shape as ``bias2``."""


def grouped_error(estimates, targets, groups, *, valid=None):
    r"""Bias², variance and MSE of estimates grouped by what they estimate.

    For each group :math:`g` (for advantages: one state–action pair) with
    :math:`n_g` samples of the error :math:`e_i = \hat X_i - x_i`,

    .. math::
        b_g = \frac{1}{n_g}\sum_{i \in g} e_i, \qquad
        v_g = \frac{1}{n_g}\sum_{i \in g} (e_i - b_g)^2,

    and the averages over all :math:`n = \sum_g n_g` samples are
    :math:`\text{bias}^2 = \sum_g \frac{n_g}{n} b_g^2`,
    :math:`\text{variance} = \sum_g \frac{n_g}{n} v_g` and
    :math:`\text{MSE} = \frac{1}{n}\sum_i e_i^2 = \text{bias}^2 + \text{variance}`
    (exactly). Weighting by the visit counts averages over the on-policy visitation
    distribution. When the target is the same within a group, :math:`v_g` is the
    variance of the estimates themselves. Sample estimates: :math:`b_g^2` overstates
    the squared bias by about :math:`v_g / n_g`, so groups need many samples.

    Args:
        estimates: float array, any shape (e.g. ``[T, N]`` advantages).
        targets: float array, same shape: the exact value each sample estimates.
        groups: int array, same shape, values ``>= 0``: the group of each sample
            (e.g. ``state * n_actions + action``).
        valid: optional bool array, same shape; samples where it is False are ignored
            (padding after an episode ended).

    Returns:
        :class:`ErrorDecomposition` of floats.

    Raises:
        ValueError: mismatched shapes, negative group ids, no valid sample.
        TypeError: non-numeric estimates or non-integer groups.

    Example:
        >>> grouped_error(np.array([1., 3., 5.]), np.array([2., 2., 5.]), np.array([0, 0, 1]))
        ErrorDecomposition(bias2=0.0, variance=0.6666666666666666, mse=0.6666666666666666)
    """
    est = _args.float_array("estimates", estimates)
    tgt = _args.float_array("targets", targets)
    grp = np.asarray(groups)
    if est.ndim == 0:
        raise ValueError("estimates must be an array of samples; got a scalar")
    _checks.check_same_shape("targets", tgt, "estimates", est)
    _checks.check_same_shape("groups", grp, "estimates", est)
    if not np.issubdtype(grp.dtype, np.integer):
        raise TypeError(f"groups must be an integer array; got dtype {grp.dtype}")
    if valid is None:
        mask = np.ones(est.shape, bool)
    else:
        mask = np.asarray(valid)
        _checks.check_flags("valid", mask, "estimates", est)
        mask = mask.astype(bool)
    err = (est - tgt)[mask]
    g = grp[mask]
    if err.size == 0:
        raise ValueError("grouped_error: no valid sample (valid is False everywhere)")
    if g.min() < 0:
        raise ValueError(f"groups must be >= 0; got {int(g.min())}")
    _, g = np.unique(g, return_inverse=True)  # group ids 0..G-1 (ids may be large and sparse)
    g = g.ravel()
    counts = np.bincount(g)
    mean = np.bincount(g, weights=err) / counts
    n = err.size
    mse = float(np.mean(err ** 2))
    bias2 = float(np.sum(counts * mean ** 2) / n)
    variance = float(np.sum((err - mean[g]) ** 2) / n)
    return ErrorDecomposition(bias2, variance, mse)


def estimator_error(samples, target):
    r"""Bias², variance and MSE of a vector-valued estimator (e.g. a policy gradient).

    With :math:`N \ge 2` independent samples :math:`\hat g_1, \dots, \hat g_N` of an
    estimate of :math:`g`, their mean :math:`\bar g` and sample variance
    :math:`s^2 = \frac{1}{N-1}\sum_i \lVert \hat g_i - \bar g \rVert^2`:

    .. math::
        \text{MSE} = \frac{1}{N}\sum_i \lVert \hat g_i - g \rVert^2, \quad
        \text{variance} = s^2, \quad
        \text{bias}^2 = \lVert \bar g - g \rVert^2 - \frac{s^2}{N},

    summed over all components. All three are unbiased estimates of the
    one-sample quantities (:math:`\lVert \bar g - g\rVert^2` alone overstates the
    squared bias by the variance of the mean, :math:`s^2/N`; the correction can make
    ``bias2`` slightly negative when the true bias is about 0), and
    ``mse == bias2 + variance`` exactly. The mean of :math:`B` independent samples
    has MSE ``bias2 + variance / B``.

    Args:
        samples: float array ``[N, *shape]``, one estimate per row (``N >= 2``).
        target: float array ``shape``, the exact value.

    Returns:
        :class:`ErrorDecomposition` of floats.

    Example:
        >>> estimator_error(np.array([[1., 0.], [3., 0.]]), np.array([1., 1.]))
        ErrorDecomposition(bias2=1.0, variance=2.0, mse=3.0)
    """
    x = _args.float_array("samples", samples)
    g = _args.float_array("target", target)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"samples must have shape [N, *shape] with N >= 2; got {x.shape}")
    if x.shape[1:] != g.shape:
        raise ValueError(f"samples has shape {x.shape}; target must have shape {x.shape[1:]}, "
                         f"got {g.shape}")
    n = x.shape[0]
    x = x.reshape(n, -1)
    g = g.reshape(-1)
    mean = x.mean(axis=0)
    variance = float(np.sum((x - mean) ** 2) / (n - 1))
    bias2 = float(np.sum((mean - g) ** 2)) - variance / n
    mse = float(np.mean(np.sum((x - g) ** 2, axis=1)))
    return ErrorDecomposition(bias2, variance, mse)


def _mdp_arrays(mdp, policy, values):
    if not (hasattr(mdp, "transitions") and hasattr(mdp, "rewards")):
        raise TypeError(f"mdp must have the fields transitions [S, A, S] and rewards [S, A] (e.g. a "
                        f"gaelib.tabular.TabularMDP); got {type(mdp).__name__}")
    P = _args.float_array("mdp.transitions", mdp.transitions)
    R = _args.float_array("mdp.rewards", mdp.rewards)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or R.shape != P.shape[:2]:
        raise ValueError(f"mdp.transitions must be [S, A, S] and mdp.rewards [S, A]; got "
                         f"{P.shape} and {R.shape}")
    S, A = R.shape
    terminal = np.asarray(getattr(mdp, "terminal", np.zeros(S, bool)))
    if terminal.dtype != np.bool_ or terminal.shape != (S,):
        raise ValueError(f"mdp.terminal must be a bool array of shape {(S,)}; got dtype "
                         f"{terminal.dtype}, shape {terminal.shape}")
    P = _args.distribution("mdp.transitions", P, 3, skip_zero_rows=terminal)
    pi = _args.distribution("policy", policy, 2, skip_zero_rows=terminal, shape=(S, A),
                            need="the MDP needs [S, A] =")
    return P, R, terminal, pi, _state_table("values", values, S)


def _state_table(name, values, S):
    return _args.float_array(name, values, 1, shape=(S,), need="the MDP needs [S] =")


def expected_gae(mdp, policy, values, *, gamma, lam):
    r"""Exact conditional mean of the GAE estimate, :math:`\mathbb{E}[\hat A_t \mid s_t = s, a_t = a]`.

    For episodes that run until they enter a terminal state (no truncation), with a
    fixed critic :math:`V` (terminal states count as 0) and the expected TD residual

    .. math::
        d(s, a) = r(s, a) + \gamma \sum_{s'} P(s' \mid s, a)\, V(s') - V(s),

    the mean of :math:`\hat A_t = \sum_l (\gamma\lambda)^l \delta_{t+l}` given
    :math:`(s_t, a_t)` is

    .. math::
        \mathbb{E}[\hat A_t \mid s, a] = d(s, a) + \gamma\lambda \sum_{s'} P(s' \mid s, a)\, h(s'),
        \qquad h = (I - \gamma\lambda P_\pi)^{-1} d_\pi,

    where :math:`d_\pi(s) = \sum_a \pi(a \mid s)\, d(s, a)` and :math:`P_\pi` is the
    state-to-state transition matrix of the policy restricted to non-terminal states
    (the λ-trace stops on entering a terminal state). With :math:`V = V^{\pi}` for the
    same γ, :math:`d_\pi = 0` and the result is :math:`A^\pi(s, a)` for every λ
    (GAE is unbiased). λ = 0 gives :math:`d(s, a)`; with :math:`V = 0` and λ = 1 it
    gives :math:`Q^\pi(s, a)`. Subtract the exact advantage to get the bias.

    Args:
        mdp: an object with ``transitions`` ``[S, A, S]``, ``rewards`` ``[S, A]`` and
            ``terminal`` ``[S]`` bool (e.g. :class:`gaelib.tabular.TabularMDP`).
            ``mdp.gamma`` is not used: pass ``gamma``.
        policy: ``[S, A]`` action probabilities, rows summing to 1.
        values: ``[S]``, the critic :math:`V(s)` (entries of terminal states are ignored).
        gamma: γ used by the estimator, in [0, 1].
        lam: λ in [0, 1].

    Returns:
        ``[S, A]`` array; rows of terminal states are 0 (never visited).

    Raises:
        ValueError: bad shapes, γ or λ outside [0, 1], or γλ = 1 with a policy that
            may never terminate (singular system).
    """
    P, R, terminal, pi, V = _mdp_arrays(mdp, policy, values)
    gamma, lam = _args.unit_interval("gamma", gamma), _args.unit_interval("lam", lam)
    live = ~terminal
    Vz = np.where(live, V, 0.0)
    d = R + gamma * P @ Vz - Vz[:, None]
    d[terminal] = 0.0
    P_live = P * live[None, None, :]  # the trace stops on entering a terminal state
    d_pi = np.sum(pi * d, axis=1)
    M = np.einsum("sa,sat->st", pi, P_live) * live[:, None]
    S = len(V)
    system = np.eye(S) - gamma * lam * M
    try:
        h = np.linalg.solve(system, d_pi)
    except np.linalg.LinAlgError:
        raise ValueError("expected_gae: I - γλ P_π is singular (γλ = 1 and the policy may never "
                         "reach a terminal state); use γλ < 1") from None
    if not np.all(np.isfinite(h)) or np.linalg.cond(system) > 1e12:
        raise ValueError("expected_gae: I - γλ P_π is (nearly) singular (γλ = 1 and the policy "
                         "may never reach a terminal state); use γλ < 1")
    out = d + gamma * lam * P_live @ h
    out[terminal] = 0.0
    return out


_EPISODE_FIELDS = ("states", "actions", "rewards", "next_states", "terminated", "truncated", "valid")


def _check_sweep_args(episodes, values, table, table_name, gamma, lams):
    """Check the common arguments of the two sweeps; return (V, table, lams)."""
    missing = [f for f in _EPISODE_FIELDS if not hasattr(episodes, f)]
    if missing:
        raise TypeError(f"episodes must have the fields {_EPISODE_FIELDS} (an EpisodeBatch from "
                        f"gaelib.tabular.sample_episodes); {type(episodes).__name__} lacks {missing}")
    tbl = _args.float_array(table_name, table, 2)
    S, A = tbl.shape
    V = _state_table("values", values, S)
    for name, n in (("states", S), ("next_states", S), ("actions", A)):
        x = np.asarray(getattr(episodes, name))
        if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() >= n)):
            raise ValueError(f"episodes.{name} must hold integer indices in [0, {n}) to match "
                             f"{table_name} of shape {tbl.shape}")
    _args.unit_interval("gamma", gamma)
    if isinstance(lams, (str, bytes)) or not hasattr(lams, "__len__") or len(lams) == 0:
        raise ValueError(f"lams must be a non-empty sequence of numbers in [0, 1]; got {lams!r}")
    return V, tbl, [_args.unit_interval("lams", lam) for lam in lams]


def _episodes_gae(episodes, V, gamma, lam):
    return gae(np.asarray(episodes.rewards, np.float64), V[episodes.states],
               next_values=V[episodes.next_states], terminated=episodes.terminated,
               truncated=episodes.truncated, gamma=gamma, lam=lam).advantages


def advantage_error_sweep(episodes, values, advantage, *, gamma, lams):
    r"""Bias², variance and MSE of GAE advantages against the exact advantage, per λ.

    Computes :func:`gaelib.gae` on the sampled episodes with the critic ``values``
    for each λ in ``lams`` and compares :math:`\hat A_t` with
    ``advantage[s_t, a_t]`` through :func:`grouped_error` (groups: state–action
    pairs; averages weighted by how often each pair is visited).

    Args:
        episodes: sampled episodes with ``[T, N]`` fields ``states``, ``actions``,
            ``rewards``, ``next_states``, ``terminated``, ``truncated``, ``valid``
            (an :class:`~gaelib.tabular.EpisodeBatch` from :func:`gaelib.tabular.sample_episodes`).
        values: ``[S]`` critic used for :math:`V(s_t)` and :math:`V(s_{t+1})`.
        advantage: ``[S, A]`` the exact advantage (the target).
        gamma: γ used by the estimator.
        lams: sequence of λ values.

    Returns:
        :class:`ErrorDecomposition` of arrays ``[len(lams)]``.
    """
    V, adv_table, lams = _check_sweep_args(episodes, values, advantage, "advantage", gamma, lams)
    A = adv_table.shape[1]
    groups = np.asarray(episodes.states) * A + np.asarray(episodes.actions)
    target = adv_table[episodes.states, episodes.actions]
    out = [grouped_error(_episodes_gae(episodes, V, gamma, lam), target, groups,
                         valid=episodes.valid) for lam in lams]
    return ErrorDecomposition(*(np.array(x) for x in zip(*out)))


def gradient_error_sweep(mdp, policy, episodes, values, gradient, *, gamma, lams,
                         discount_steps=True):
    r"""Bias², variance and MSE of the one-episode policy-gradient estimate, per λ.

    For each λ: GAE advantages with the critic ``values``, then one policy-gradient
    estimate per episode, :math:`\hat g_n = \sum_t \gamma^t \hat A_{t,n}
    \nabla_\theta \log \pi(a_{t,n} \mid s_{t,n})` for the tabular softmax policy
    (:func:`gaelib.tabular.sampled_policy_gradient` with ``per_episode=True``; the
    :math:`\gamma^t` uses ``mdp.gamma``), then :func:`estimator_error` against the
    exact ``gradient``. The variance is that of a one-episode estimate; the mean of
    :math:`B` episodes has :math:`1/B` of it.

    Args:
        mdp: the :class:`gaelib.tabular.TabularMDP` that generated the episodes.
        policy: ``[S, A]`` the softmax policy that generated the episodes.
        episodes: sampled episodes, as in :func:`advantage_error_sweep`.
        values: ``[S]`` critic.
        gradient: ``[S, A]`` exact :math:`\nabla_\theta J` (e.g.
            :func:`gaelib.tabular.exact_policy_gradient`).
        gamma: γ used by the estimator.
        lams: sequence of λ values.
        discount_steps: weight step ``t`` by :math:`\gamma^t` (``mdp.gamma``), as the
            policy gradient theorem asks; False drops the weights, as most
            implementations do (a biased estimate).

    Returns:
        :class:`ErrorDecomposition` of arrays ``[len(lams)]``.
    """
    from gaelib import tabular
    from gaelib.tabular.mdp import check_mdp

    check_mdp(mdp)
    discount_steps = _args.boolean("discount_steps", discount_steps)
    V, grad, lams = _check_sweep_args(episodes, values, gradient, "gradient", gamma, lams)
    if grad.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"gradient has shape {grad.shape}; the MDP needs [S, A] = "
                         f"{(mdp.n_states, mdp.n_actions)}")
    out = []
    for lam in lams:
        g = tabular.sampled_policy_gradient(mdp, policy, episodes, _episodes_gae(episodes, V, gamma, lam),
                                            discount_steps=discount_steps, per_episode=True)
        out.append(estimator_error(g, gradient))
    return ErrorDecomposition(*(np.array(x) for x in zip(*out)))
