r"""Finite (tabular) Markov decision processes, with exact answers to compare against.

A :class:`TabularMDP` holds a transition tensor ``P[s, a, s']``, expected rewards
``r[s, a]``, a discount γ, a start distribution and a set of absorbing terminal
states. For such an MDP and a policy given as a table ``policy[s, a]`` =
:math:`\pi(a \mid s)`, everything the course estimates from samples can also be
computed exactly:

* state values :math:`V^\pi` by solving the Bellman linear system
  (:func:`evaluate_policy`), by iterating the Bellman operator
  (:func:`iterative_policy_evaluation`), and the optimal values by value
  iteration (:func:`value_iteration`);
* action values :math:`Q^\pi` and advantages :math:`A^\pi = Q^\pi - V^\pi`;
* the exact gradient of :math:`J(\theta) = \sum_s \rho_0(s) V^{\pi_\theta}(s)` for
  a softmax policy, analytically (:func:`policy_gradient`) and by torch autograd
  through the linear solve (:func:`policy_gradient_autograd`).

Trajectories are sampled with a seeded generator (:func:`sample_episodes`) into
time-major arrays that feed :func:`gaelib.gae` directly, and
:func:`sampled_policy_gradient` turns per-step weights (returns, advantages,
TD residuals) into the Monte Carlo policy-gradient estimate.

Conventions: ``rewards[s, a]`` is the *expected* reward :math:`r(s, a)` of taking
``a`` in ``s``; the sampler returns exactly this number (rewards are
deterministic given ``(s, a)``). A terminal state is absorbing and worth 0: an
episode stops on entering it, and its rewards and transitions are never used.
Reference: Sutton & Barto, *Reinforcement Learning: An Introduction* (2018),
chapters 3, 4 and 13.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

from gaelib import _checks

__all__ = [
    "TabularMDP",
    "Rollout",
    "softmax_policy",
    "evaluate_policy",
    "action_values",
    "advantage_function",
    "bellman_backup",
    "iterative_policy_evaluation",
    "value_iteration",
    "discounted_visitation",
    "expected_return",
    "policy_gradient",
    "policy_gradient_autograd",
    "sample_episodes",
    "sampled_policy_gradient",
    "two_state_mdp",
    "chain_mdp",
    "gridworld",
    "grid_values",
]

_ATOL = 1e-8  # tolerance for "sums to one"


# --------------------------------------------------------------------------- the MDP


def _float_array(name: str, x, ndim: int) -> np.ndarray:
    x = _checks.as_array(name, x, "numpy")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must be a float array; got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {x.shape}")
    _checks.check_finite(name, x)
    return x


def _check_distribution(name: str, x: np.ndarray, axis: int = -1) -> None:
    if (x < 0).any():
        raise ValueError(f"{name} has negative probabilities (min {x.min():.3g})")
    sums = x.sum(axis=axis)
    if not np.allclose(sums, 1.0, atol=_ATOL, rtol=0):
        bad = np.abs(sums - 1.0).max()
        raise ValueError(f"{name} must sum to 1 along its last axis; off by up to {bad:.3g}")


@dataclass(frozen=True)
class TabularMDP:
    """A finite MDP with absorbing terminal states.

    The arrays are copied to float64 (bool for ``terminal``) and made read-only.

    Args:
        transitions: ``[S, A, S]`` float, ``transitions[s, a, s2]`` =
            :math:`P(s_{t+1}=s2 \\mid s_t=s, a_t=a)`; each ``[s, a]`` row sums to 1.
        rewards: ``[S, A]`` float, the expected reward :math:`r(s, a)` received on the
            step that takes ``a`` in ``s`` (``rewards[t]`` in the course's notation).
        gamma: discount γ in [0, 1]. γ = 1 needs every evaluated policy to reach a
            terminal state with probability 1.
        initial: ``[S]`` float start distribution :math:`\\rho_0`, no mass on terminal
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
        P = _float_array("transitions", self.transitions, 3)
        S, A, S2 = P.shape
        if S != S2 or S == 0 or A == 0:
            raise ValueError(f"transitions must have shape [S, A, S] with S, A >= 1; got {P.shape}")
        _check_distribution("transitions", P)
        r = _float_array("rewards", self.rewards, 2)
        if r.shape != (S, A):
            raise ValueError(f"rewards has shape {r.shape} but transitions has shape {P.shape}; "
                             f"rewards must have shape [S, A] = {(S, A)}")
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, numbers.Real):
            raise TypeError(f"gamma must be a float in [0, 1]; got {g!r}")
        if not 0.0 <= float(g) <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1]; got {g}")
        if self.terminal is None:
            term = np.zeros(S, bool)
        else:
            term = np.asarray(self.terminal)
            if term.dtype != np.bool_:
                raise TypeError(f"terminal must be a bool array; got dtype {term.dtype}")
            if term.shape != (S,):
                raise ValueError(f"terminal has shape {term.shape}; it must have shape [S] = {(S,)}")
            term = term.copy()
        if term.all():
            raise ValueError("every state is terminal; at least one state must be non-terminal")
        if self.initial is None:
            rho = (~term).astype(np.float64) / (~term).sum()
        else:
            rho = _float_array("initial", self.initial, 1)
            if rho.shape != (S,):
                raise ValueError(f"initial has shape {rho.shape}; it must have shape [S] = {(S,)}")
            _check_distribution("initial", rho)
            if rho[term].sum() > 0:
                raise ValueError("initial puts probability on terminal states; episodes must start "
                                 "in a non-terminal state")
        for name, labels, n in (("state_names", self.state_names, S),
                                ("action_names", self.action_names, A)):
            if labels is not None:
                if len(labels) != n:
                    raise ValueError(f"{name} has {len(labels)} entries; need {n}")
                object.__setattr__(self, name, tuple(str(x) for x in labels))
        for name, x in (("transitions", P), ("rewards", r), ("initial", rho), ("terminal", term)):
            x.setflags(write=False)
            object.__setattr__(self, name, x)
        object.__setattr__(self, "gamma", float(g))

    @property
    def n_states(self) -> int:
        """Number of states ``S`` (terminal states included)."""
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return self.transitions.shape[1]


class Rollout(NamedTuple):
    """Episodes sampled by :func:`sample_episodes`, time-major ``[T, N]``.

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


# --------------------------------------------------------------------------- policies


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
    z = _float_array("logits", logits, 2)
    if 0 in z.shape:
        raise ValueError(f"logits is empty (shape {z.shape})")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check_mdp(mdp) -> None:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP; got {type(mdp).__name__}")


def _check_policy(mdp: TabularMDP, policy) -> np.ndarray:
    pi = _float_array("policy", policy, 2)
    if pi.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"policy has shape {pi.shape}; this MDP needs [S, A] = "
                         f"{(mdp.n_states, mdp.n_actions)}")
    _check_distribution("policy", pi)
    return pi


def _check_logits(mdp: TabularMDP, logits) -> np.ndarray:
    z = _float_array("logits", logits, 2)
    if z.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"logits has shape {z.shape}; this MDP needs [S, A] = "
                         f"{(mdp.n_states, mdp.n_actions)}")
    return z


# --------------------------------------------------------------------------- exact evaluation


def _policy_matrices(mdp: TabularMDP, pi: np.ndarray):
    """P_π [S, S] and r_π [S] with terminal states made absorbing and rewardless."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    r_pi = np.einsum("sa,sa->s", pi, mdp.rewards)
    return P_pi, r_pi


def _solve(mdp: TabularMDP, A: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    live = ~mdp.terminal
    M = np.eye(int(live.sum())) - mdp.gamma * A[np.ix_(live, live)]
    sing = np.linalg.svd(M, compute_uv=False)
    if sing.min() < 1e-10 * max(1.0, sing.max()):
        raise ValueError(
            f"{what}: the Bellman system (I - gamma P_pi) V = r_pi is singular: with gamma = "
            f"{mdp.gamma} the policy never reaches a terminal state from some states, so their "
            f"return is unbounded or undefined; use gamma < 1 or a policy that terminates")
    out = np.zeros(mdp.n_states)
    out[live] = np.linalg.solve(M, b[live])
    return out


def evaluate_policy(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Exact state values :math:`V^\pi` by solving the Bellman linear system.

    .. math::
        V^\pi = r_\pi + \gamma P_\pi V^\pi
        \quad\Longleftrightarrow\quad (I - \gamma P_\pi)\, V^\pi = r_\pi,

    with :math:`r_\pi(s) = \sum_a \pi(a\mid s) r(s,a)`,
    :math:`P_\pi(s, s') = \sum_a \pi(a\mid s) P(s'\mid s,a)`, solved over the
    non-terminal states; terminal states have value 0.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a \mid s)`; rows sum to 1.

    Returns:
        ``[S]`` float64, :math:`V^\pi(s) = \mathbb E_\pi[\sum_{t\ge0}\gamma^t r_t \mid s_0=s]`.

    Raises:
        ValueError: bad policy shape or rows, or a singular system (γ = 1 and a
            policy that does not terminate with probability 1).
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    P_pi, r_pi = _policy_matrices(mdp, pi)
    return _solve(mdp, P_pi, r_pi, "evaluate_policy")


def action_values(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Exact action values :math:`Q^\pi(s,a) = r(s,a) + \gamma \sum_{s'} P(s'\mid s,a) V^\pi(s')`.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a \mid s)`.

    Returns:
        ``[S, A]`` float64; rows of terminal states are 0. Identity:
        :math:`\sum_a \pi(a\mid s) Q^\pi(s,a) = V^\pi(s)`.
    """
    V = evaluate_policy(mdp, policy)
    Q = mdp.rewards + mdp.gamma * mdp.transitions @ V
    Q[mdp.terminal] = 0.0
    return Q


def advantage_function(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Exact advantages :math:`A^\pi(s,a) = Q^\pi(s,a) - V^\pi(s)` (优势函数).

    How much better taking ``a`` in ``s`` and then following π is than following π
    from ``s`` (whose expected value is :math:`V^\pi(s)`). Identity:
    :math:`\sum_a \pi(a\mid s) A^\pi(s,a) = 0`.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a \mid s)`.

    Returns:
        ``[S, A]`` float64; rows of terminal states are 0.
    """
    V = evaluate_policy(mdp, policy)
    Q = mdp.rewards + mdp.gamma * mdp.transitions @ V
    A = Q - V[:, None]
    A[mdp.terminal] = 0.0
    return A


def bellman_backup(mdp: TabularMDP, policy, values) -> np.ndarray:
    r"""One application of the Bellman expectation operator :math:`T^\pi`.

    .. math:: (T^\pi V)(s) = \sum_a \pi(a\mid s)\Big[r(s,a) + \gamma \sum_{s'} P(s'\mid s,a) V(s')\Big]

    (0 at terminal states). :math:`V^\pi` is its unique fixed point when γ < 1, and
    :math:`T^\pi` is a γ-contraction in the max norm.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float.
        values: ``[S]`` float, the current estimate :math:`V`.

    Returns:
        ``[S]`` float64, :math:`T^\pi V`.
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    V = _float_array("values", values, 1)
    if V.shape != (mdp.n_states,):
        raise ValueError(f"values has shape {V.shape}; this MDP needs [S] = {(mdp.n_states,)}")
    P_pi, r_pi = _policy_matrices(mdp, pi)
    out = r_pi + mdp.gamma * P_pi @ np.where(mdp.terminal, 0.0, V)
    out[mdp.terminal] = 0.0
    return out


def _check_tol(tol, max_iter):
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive float; got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")


def iterative_policy_evaluation(mdp: TabularMDP, policy, tol: float = 1e-10,
                                max_iter: int = 100_000) -> np.ndarray:
    r"""State values :math:`V^\pi` by iterating the Bellman operator from :math:`V_0 = 0`.

    :math:`V_{k+1} = T^\pi V_k` (:func:`bellman_backup`) until
    :math:`\max_s |V_{k+1}(s) - V_k(s)| < \mathrm{tol}`. With γ < 1 the error then is
    at most :math:`\mathrm{tol}\,\gamma/(1-\gamma)`. Sutton & Barto (2018), section 4.1.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float.
        tol: stopping threshold on the max-norm change of one sweep.
        max_iter: maximum number of sweeps.

    Returns:
        ``[S]`` float64, the approximation of :func:`evaluate_policy`.

    Raises:
        RuntimeError: no convergence within ``max_iter`` sweeps.
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    _check_tol(tol, max_iter)
    V = np.zeros(mdp.n_states)
    for _ in range(int(max_iter)):
        V_new = bellman_backup(mdp, pi, V)
        if np.max(np.abs(V_new - V)) < tol:
            return V_new
        V = V_new
    raise RuntimeError(f"iterative_policy_evaluation did not converge to tol={tol} within "
                       f"max_iter={max_iter} sweeps (gamma={mdp.gamma})")


def value_iteration(mdp: TabularMDP, tol: float = 1e-10, max_iter: int = 100_000):
    r"""Optimal values :math:`V^*` and a greedy optimal policy, by value iteration.

    .. math:: V_{k+1}(s) = \max_a \Big[r(s,a) + \gamma \sum_{s'} P(s'\mid s,a) V_k(s')\Big]

    from :math:`V_0 = 0`, until the max-norm change is below ``tol``
    (Sutton & Barto 2018, section 4.4). Ties between actions go to the lowest index.

    Args:
        mdp: the MDP.
        tol: stopping threshold on the max-norm change of one sweep.
        max_iter: maximum number of sweeps.

    Returns:
        ``(V_star, policy)``: ``[S]`` float64 and a deterministic ``[S, A]`` one-hot
        policy greedy with respect to :math:`V^*` (terminal rows choose action 0).

    Raises:
        RuntimeError: no convergence within ``max_iter`` sweeps.
    """
    _check_mdp(mdp)
    _check_tol(tol, max_iter)
    V = np.zeros(mdp.n_states)
    for _ in range(int(max_iter)):
        Q = mdp.rewards + mdp.gamma * mdp.transitions @ V
        V_new = np.where(mdp.terminal, 0.0, Q.max(axis=1))
        if np.max(np.abs(V_new - V)) < tol:
            Q = mdp.rewards + mdp.gamma * mdp.transitions @ V_new
            policy = np.eye(mdp.n_actions)[np.argmax(Q, axis=1)]
            policy[mdp.terminal] = np.eye(mdp.n_actions)[0]
            return V_new, policy
        V = V_new
    raise RuntimeError(f"value_iteration did not converge to tol={tol} within max_iter={max_iter} "
                       f"sweeps (gamma={mdp.gamma})")


# --------------------------------------------------------------------------- policy gradients


def discounted_visitation(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Discounted state-visitation measure :math:`d_\pi(s) = \sum_{t\ge0}\gamma^t \Pr(s_t = s)`.

    Solves :math:`d_\pi^\top (I - \gamma P_\pi) = \rho_0^\top` over the non-terminal
    states (terminal states get 0). It is not normalised: it sums to the expected
    discounted episode length, :math:`1/(1-\gamma)` without terminal states.

    Args:
        mdp: the MDP (``mdp.initial`` is :math:`\rho_0`).
        policy: ``[S, A]`` float.

    Returns:
        ``[S]`` float64.
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    P_pi, _ = _policy_matrices(mdp, pi)
    return _solve(mdp, P_pi.T, mdp.initial, "discounted_visitation")


def expected_return(mdp: TabularMDP, policy) -> float:
    r"""The objective :math:`J(\pi) = \sum_s \rho_0(s) V^\pi(s)`, the expected discounted return.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float.

    Returns:
        float.
    """
    return float(mdp.initial @ evaluate_policy(mdp, policy))


def policy_gradient(mdp: TabularMDP, logits) -> np.ndarray:
    r"""Exact gradient of :math:`J(\theta)` for the tabular softmax policy, by the policy-gradient theorem.

    .. math::
        \nabla_\theta J = \sum_s d_\pi(s) \sum_a \pi(a\mid s)\, A^\pi(s,a)\, \nabla_\theta \log\pi(a\mid s),

    (Sutton et al. 2000). For a softmax table,
    :math:`\partial \log\pi(a\mid s) / \partial\theta_{s'b} = [s'=s]([a=b] - \pi(b\mid s))`
    and :math:`\sum_a \pi A = 0`, so the gradient is simply
    :math:`\partial J/\partial\theta_{sa} = d_\pi(s)\,\pi(a\mid s)\,A^\pi(s,a)`.

    Args:
        mdp: the MDP.
        logits: ``[S, A]`` float, :math:`\theta` (see :func:`softmax_policy`).

    Returns:
        ``[S, A]`` float64, :math:`\partial J / \partial\theta`; terminal rows are 0.
    """
    _check_mdp(mdp)
    pi = softmax_policy(_check_logits(mdp, logits))
    return discounted_visitation(mdp, pi)[:, None] * pi * advantage_function(mdp, pi)


def policy_gradient_autograd(mdp: TabularMDP, logits) -> np.ndarray:
    r"""Gradient of :math:`J(\theta) = \rho_0^\top (I - \gamma P_{\pi_\theta})^{-1} r_{\pi_\theta}` by torch autograd.

    No policy-gradient theorem involved: torch differentiates through the softmax
    and the exact linear solve (in float64). It must equal :func:`policy_gradient`.

    Args:
        mdp: the MDP.
        logits: ``[S, A]`` float, :math:`\theta`.

    Returns:
        ``[S, A]`` float64 numpy array, :math:`\partial J / \partial\theta`.
    """
    import torch

    _check_mdp(mdp)
    z = _check_logits(mdp, logits)
    evaluate_policy(mdp, softmax_policy(z))  # validates that the system is solvable
    theta = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    pi = torch.softmax(theta, dim=1)
    P = torch.from_numpy(np.array(mdp.transitions))
    r = torch.from_numpy(np.array(mdp.rewards))
    live = torch.from_numpy(~mdp.terminal)
    P_pi = torch.einsum("sa,sat->st", pi, P)[live][:, live]
    r_pi = (pi * r).sum(dim=1)[live]
    M = torch.eye(int(live.sum()), dtype=torch.float64) - mdp.gamma * P_pi
    V = torch.linalg.solve(M, r_pi)
    J = torch.from_numpy(np.array(mdp.initial))[live] @ V
    J.backward()
    return theta.grad.numpy().copy()


# --------------------------------------------------------------------------- sampling


def _sample_rows(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling of one index per row of ``probs`` with uniforms ``u``."""
    cdf = np.cumsum(probs, axis=1)
    idx = (u[:, None] >= cdf).sum(axis=1)
    return np.minimum(idx, probs.shape[1] - 1)


def sample_episodes(mdp: TabularMDP, policy, n_episodes: int, max_steps: int,
                    rng: np.random.Generator) -> Rollout:
    r"""Sample ``n_episodes`` independent episodes of at most ``max_steps`` steps.

    Each episode starts from :math:`s_0 \sim \rho_0` (``mdp.initial``) and runs
    :math:`a_t \sim \pi(\cdot\mid s_t)`, :math:`s_{t+1} \sim P(\cdot\mid s_t,a_t)`,
    :math:`r_t = r(s_t,a_t)` until it enters a terminal state (``terminated``) or
    reaches ``max_steps`` steps (``truncated`` on its last step). Per step, the
    generator draws one uniform for the action and one for the next state of
    each running episode, so results depend only on the seed.

    The output feeds :func:`gaelib.gae` directly, e.g. with state values ``V``::

        gae(ro.rewards, V[ro.states], next_values=V[ro.next_states],
            terminated=ro.terminated, truncated=ro.truncated, gamma=..., lam=...)

    and the results are then read where ``ro.valid`` is True.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a\mid s)`.
        n_episodes: ``N`` >= 1.
        max_steps: ``T`` >= 1, the length of the arrays.
        rng: a ``numpy.random.Generator`` (e.g. from :func:`gaelib.seed_everything`).

    Returns:
        :class:`Rollout` of ``[T, N]`` arrays.
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    for name, v in (("n_episodes", n_episodes), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                        f"got {type(rng).__name__}")
    T, N = int(max_steps), int(n_episodes)
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
    return Rollout(states, actions, rewards, next_states, terminated, truncated, valid)


def sampled_policy_gradient(mdp: TabularMDP, policy, rollout: Rollout, weights, *,
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
    :math:`\Psi_t`, :math:`\mathbb E[\hat g] = \nabla_\theta J` (:func:`policy_gradient`);
    practical implementations drop :math:`\gamma^t`, which biases the estimate.

    Args:
        mdp: the MDP (for γ and the shapes).
        policy: ``[S, A]`` float, the policy that sampled ``rollout``.
        rollout: from :func:`sample_episodes`, arrays ``[T, N]``.
        weights: ``[T, N]`` float, :math:`\Psi_t` (ignored on padding steps).
        discount_steps: multiply step ``t`` by :math:`\gamma^t`.
        per_episode: return each episode's term instead of their mean.

    Returns:
        ``[S, A]`` float64 (or ``[N, S, A]`` with ``per_episode=True``).
    """
    _check_mdp(mdp)
    pi = _check_policy(mdp, policy)
    if not isinstance(rollout, Rollout):
        raise TypeError(f"rollout must be a Rollout from sample_episodes; got {type(rollout).__name__}")
    w = _float_array("weights", weights, 2)
    _checks.check_same_shape("weights", w, "rollout.rewards", rollout.rewards)
    T, N = w.shape
    S, A = mdp.n_states, mdp.n_actions
    t, n = np.nonzero(rollout.valid)  # only real steps contribute
    s, a = rollout.states[t, n], rollout.actions[t, n]
    coef = w[t, n] * (mdp.gamma ** t if discount_steps else 1.0)
    contrib = coef[:, None] * (np.eye(A)[a] - pi[s])  # Psi_t * d log pi(a_t|s_t) / d theta_{s_t, .}
    idx = n * S + s
    out = np.stack([np.bincount(idx, weights=contrib[:, b], minlength=N * S) for b in range(A)],
                   axis=-1).reshape(N, S, A)
    return out if per_episode else out.mean(axis=0)


# --------------------------------------------------------------------------- example MDPs


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
    if isinstance(gamma, numbers.Real) and not isinstance(gamma, bool) and gamma >= 1:
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
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    if not (isinstance(slip, numbers.Real) and 0.0 <= slip < 1.0):
        raise ValueError(f"slip must lie in [0, 1); got {slip!r}")
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


def _parse_layout(layout):
    if isinstance(layout, str) or not all(isinstance(row, str) for row in layout) or not layout:
        raise TypeError("layout must be a non-empty sequence of strings, one per row")
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
    if not (isinstance(slip, numbers.Real) and 0.0 <= slip <= 1.0):
        raise ValueError(f"slip must lie in [0, 1]; got {slip!r}")
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
    if not starts.any():
        starts = ~terminal
    if not (~terminal).any():
        raise ValueError("layout has no non-terminal cell")
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
    v = _float_array("values", values, 1)
    if v.shape != (len(cells),):
        raise ValueError(f"values has shape {v.shape}; the layout has {len(cells)} non-wall cells")
    out = np.full((len(layout), len(layout[0])), np.nan)
    for (i, j), x in zip(cells, v):
        out[i, j] = x
    return out
