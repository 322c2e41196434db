r"""The exact policy gradient of a tabular softmax policy, two ways, and what it is built from.

For :math:`J(\theta) = \sum_s \rho_0(s) V^{\pi_\theta}(s)`:

* :func:`discounted_visitation` gives :math:`d_\pi`, :func:`expected_return` gives :math:`J`;
* :func:`exact_policy_gradient` applies the policy-gradient theorem;
* :func:`policy_gradient_autograd` differentiates the linear solve with torch, no theorem.

The Monte Carlo estimate from sampled episodes is
:func:`gaelib.tabular.sampled_policy_gradient`. Reference: Sutton et al. (2000),
"Policy gradient methods for reinforcement learning with function approximation";
Sutton & Barto (2018), chapter 13.
"""

from __future__ import annotations

import numpy as np

from gaelib.tabular.exact import advantage_function, policy_matrices, solve_bellman, state_values
from gaelib.tabular.mdp import TabularMDP, check_logits, check_policy, softmax_policy

__all__ = ["discounted_visitation", "expected_return", "exact_policy_gradient",
           "policy_gradient_autograd"]


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
    pi = check_policy(mdp, policy)
    P_pi, _ = policy_matrices(mdp, pi)
    return solve_bellman(mdp, P_pi.T, mdp.initial, "discounted_visitation")


def expected_return(mdp: TabularMDP, policy) -> float:
    r"""The objective :math:`J(\pi) = \sum_s \rho_0(s) V^\pi(s)`, the expected discounted return.

    Args:
        mdp: the MDP.
        policy: ``[S, A]`` float.

    Returns:
        float.
    """
    return float(mdp.initial @ state_values(mdp, policy))


def exact_policy_gradient(mdp: TabularMDP, logits) -> np.ndarray:
    r"""Exact gradient of :math:`J(\theta)` for the tabular softmax policy, by the policy-gradient theorem.

    .. math::
        \nabla_\theta J = \sum_s d_\pi(s) \sum_a \pi(a\mid s)\, A^\pi(s,a)\, \nabla_\theta \log\pi(a\mid s),

    (Sutton et al. 2000). For a softmax table,
    :math:`\partial \log\pi(a\mid s) / \partial\theta_{s'b} = [s'=s]([a=b] - \pi(b\mid s))`
    and :math:`\sum_a \pi A = 0`, so the gradient is simply
    :math:`\partial J/\partial\theta_{sa} = d_\pi(s)\,\pi(a\mid s)\,A^\pi(s,a)`.

    Args:
        mdp: the MDP.
        logits: ``[S, A]`` float, :math:`\theta` (see :func:`~gaelib.tabular.softmax_policy`).

    Returns:
        ``[S, A]`` float64, :math:`\partial J / \partial\theta`; terminal rows are 0.

    Example:
        >>> from gaelib.tabular import two_state_mdp
        >>> exact_policy_gradient(two_state_mdp(), np.zeros((2, 2)))
        array([[ 0.75625, -0.75625],
               [-0.50625,  0.50625]])
    """
    pi = softmax_policy(check_logits(mdp, logits))
    return discounted_visitation(mdp, pi)[:, None] * pi * advantage_function(mdp, pi)


def policy_gradient_autograd(mdp: TabularMDP, logits) -> np.ndarray:
    r"""Gradient of :math:`J(\theta) = \rho_0^\top (I - \gamma P_{\pi_\theta})^{-1} r_{\pi_\theta}` by torch autograd.

    No policy-gradient theorem involved: torch differentiates through the softmax
    and the exact linear solve (in float64). It must equal :func:`exact_policy_gradient`.

    Args:
        mdp: the MDP.
        logits: ``[S, A]`` float, :math:`\theta`.

    Returns:
        ``[S, A]`` float64 numpy array, :math:`\partial J / \partial\theta`.
    """
    import torch

    z = check_logits(mdp, logits)
    state_values(mdp, softmax_policy(z))  # validates that the system is solvable
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
