r"""Exact values of a tabular policy: the Bellman linear system, the Bellman operator, value iteration.

For a :class:`~gaelib.tabular.TabularMDP` and a policy table ``policy[s, a]`` =
:math:`\pi(a \mid s)`:

* :func:`state_values` solves :math:`(I - \gamma P_\pi) V^\pi = r_\pi`;
* :func:`action_values` and :func:`advantage_function` give :math:`Q^\pi` and
  :math:`A^\pi = Q^\pi - V^\pi`;
* :func:`bellman_backup` applies :math:`T^\pi` once, :func:`iterative_policy_evaluation`
  iterates it, :func:`value_iteration` iterates the optimality operator.

Reference: Sutton & Barto, *Reinforcement Learning: An Introduction* (2018), chapters 3 and 4.
"""

from __future__ import annotations

import numpy as np

from gaelib import _args
from gaelib.tabular.mdp import TabularMDP, check_mdp, check_policy

__all__ = ["state_values", "action_values", "advantage_function", "bellman_backup",
           "iterative_policy_evaluation", "value_iteration"]


def policy_matrices(mdp: TabularMDP, pi: np.ndarray):
    r""":math:`P_\pi` ``[S, S]`` and :math:`r_\pi` ``[S]`` of a checked policy table."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    r_pi = np.einsum("sa,sa->s", pi, mdp.rewards)
    return P_pi, r_pi


def check_terminates(mdp: TabularMDP, P_pi: np.ndarray, what: str) -> None:
    """With γ = 1, ``ValueError`` unless every state can reach a terminal state under ``P_pi``.

    That is exactly when :math:`I - P_\\pi` restricted to the non-terminal states is
    invertible (a substochastic matrix whose every state leaks has spectral radius < 1).
    """
    if mdp.gamma < 1.0:
        return
    reach = mdp.terminal.copy()
    while True:
        grown = reach | (P_pi[:, reach] > 0).any(axis=1)
        if (grown == reach).all():
            break
        reach = grown
    if not reach.all():
        stuck = np.flatnonzero(~reach).tolist()
        raise ValueError(
            f"{what}: with gamma = 1 the policy never reaches a terminal state from states "
            f"{stuck}, so their return is unbounded or undefined; use gamma < 1 or a policy "
            f"that terminates")


def solve_bellman(mdp: TabularMDP, A: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    r"""Solve :math:`(I - \gamma A) x = b` over the non-terminal states (0 at terminal states)."""
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


def state_values(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Exact state values :math:`V^\pi` by solving the Bellman linear system (policy evaluation).

    .. math::
        V^\pi = r_\pi + \gamma P_\pi V^\pi
        \quad\Longleftrightarrow\quad (I - \gamma P_\pi)\, V^\pi = r_\pi,

    with :math:`r_\pi(s) = \sum_a \pi(a\mid s) r(s,a)`,
    :math:`P_\pi(s, s') = \sum_a \pi(a\mid s) P(s'\mid s,a)`, solved over the
    non-terminal states; terminal states have value 0.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a \mid s)`; rows sum to 1 (rows of
            terminal states may be zeros).

    Returns:
        ``[S]`` float64, :math:`V^\pi(s) = \mathbb E_\pi[\sum_{t\ge0}\gamma^t r_t \mid s_0=s]`.

    Raises:
        ValueError: bad policy shape or rows, or a singular system (γ = 1 and a
            policy that does not terminate with probability 1).

    Example:
        >>> from gaelib.tabular import two_state_mdp
        >>> state_values(two_state_mdp(), np.full((2, 2), 0.5))
        array([2.75, 2.25])
    """
    pi = check_policy(mdp, policy)
    P_pi, r_pi = policy_matrices(mdp, pi)
    return solve_bellman(mdp, P_pi, r_pi, "state_values")


def _q_and_v(mdp: TabularMDP, policy):
    V = state_values(mdp, policy)
    Q = mdp.rewards + mdp.gamma * mdp.transitions @ V
    Q[mdp.terminal] = 0.0
    return Q, V


def action_values(mdp: TabularMDP, policy) -> np.ndarray:
    r"""Exact action values :math:`Q^\pi(s,a) = r(s,a) + \gamma \sum_{s'} P(s'\mid s,a) V^\pi(s')`.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float, :math:`\pi(a \mid s)`.

    Returns:
        ``[S, A]`` float64; rows of terminal states are 0. Identity:
        :math:`\sum_a \pi(a\mid s) Q^\pi(s,a) = V^\pi(s)`.
    """
    return _q_and_v(mdp, policy)[0]


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
    Q, V = _q_and_v(mdp, policy)
    return np.where(mdp.terminal[:, None], 0.0, Q - V[:, None])


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
    pi = check_policy(mdp, policy)
    V = _args.float_array("values", values, 1, shape=(mdp.n_states,), need="this MDP needs [S] =")
    return _backup(mdp, *policy_matrices(mdp, pi), V)


def _backup(mdp, P_pi, r_pi, V):
    out = r_pi + mdp.gamma * P_pi @ np.where(mdp.terminal, 0.0, V)
    out[mdp.terminal] = 0.0
    return out


def _check_sweeps(tol, max_iter):
    return _args.positive_float("tol", tol), _args.integer("max_iter", max_iter)


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
        ``[S]`` float64, the approximation of :func:`state_values`.

    Raises:
        ValueError: γ = 1 and a policy that never reaches a terminal state from some
            state (checked before the first sweep: the iteration would not converge).
        RuntimeError: no convergence within ``max_iter`` sweeps.
    """
    pi = check_policy(mdp, policy)
    tol, max_iter = _check_sweeps(tol, max_iter)
    P_pi, r_pi = policy_matrices(mdp, pi)
    check_terminates(mdp, P_pi, "iterative_policy_evaluation")
    V = np.zeros(mdp.n_states)
    for _ in range(max_iter):
        V_new = _backup(mdp, P_pi, r_pi, V)
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
        mdp: the MDP; with γ = 1 it needs a terminal state.
        tol: stopping threshold on the max-norm change of one sweep.
        max_iter: maximum number of sweeps.

    Returns:
        ``(V_star, policy)``: ``[S]`` float64 and a deterministic ``[S, A]`` one-hot
        policy greedy with respect to :math:`V^*` (terminal rows choose action 0).

    Raises:
        ValueError: γ = 1 and no terminal state (checked before the first sweep).
        RuntimeError: no convergence within ``max_iter`` sweeps (e.g. γ = 1 and a
            loop of positive rewards that never reaches a terminal state).
    """
    check_mdp(mdp)
    tol, max_iter = _check_sweeps(tol, max_iter)
    if mdp.gamma == 1.0 and not mdp.terminal.any():
        raise ValueError("value_iteration: mdp.gamma = 1 and the MDP has no terminal state, so "
                         "returns are unbounded or undefined; use gamma < 1")
    V = np.zeros(mdp.n_states)
    for _ in range(max_iter):
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
