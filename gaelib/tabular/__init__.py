r"""Finite (tabular) Markov decision processes, with exact answers to compare against.

A :class:`TabularMDP` holds a transition tensor ``P[s, a, s']``, expected rewards
``r[s, a]``, a discount γ, a start distribution and a set of absorbing terminal
states. For such an MDP and a policy given as a table ``policy[s, a]`` =
:math:`\pi(a \mid s)`, everything the course estimates from samples can also be
computed exactly:

* state values :math:`V^\pi` by solving the Bellman linear system
  (:func:`state_values`), by iterating the Bellman operator
  (:func:`iterative_policy_evaluation`), and the optimal values by value
  iteration (:func:`value_iteration`);
* action values :math:`Q^\pi` and advantages :math:`A^\pi = Q^\pi - V^\pi`;
* the exact gradient of :math:`J(\theta) = \sum_s \rho_0(s) V^{\pi_\theta}(s)` for
  a softmax policy, analytically (:func:`exact_policy_gradient`) and by torch
  autograd through the linear solve (:func:`policy_gradient_autograd`).

Trajectories are sampled with a seeded generator (:func:`sample_episodes`) into
an :class:`EpisodeBatch` of time-major arrays that feed :func:`gaelib.gae`
directly, and :func:`sampled_policy_gradient` turns per-step weights (returns,
advantages, TD residuals) into the Monte Carlo policy-gradient estimate.

Where things live (import everything from ``gaelib.tabular``):

* ``mdp`` — :class:`TabularMDP`, :func:`softmax_policy`, the checks of policies;
* ``exact`` — policy evaluation, action values, advantages, value iteration;
* ``gradients`` — visitation, :math:`J`, the exact policy gradient (theorem and autograd);
* ``sampling`` — :class:`EpisodeBatch`, :func:`sample_episodes`, :func:`sampled_policy_gradient`;
* ``examples`` — :func:`two_state_mdp`, :func:`chain_mdp`, :func:`gridworld`, :func:`grid_values`.

Conventions: ``rewards[s, a]`` is the *expected* reward :math:`r(s, a)` of taking
``a`` in ``s``; the sampler returns exactly this number (rewards are
deterministic given ``(s, a)``). A terminal state is absorbing and worth 0: an
episode stops on entering it, and its rewards, transitions and policy rows are
never used (they may be left as zeros). Reference: Sutton & Barto,
*Reinforcement Learning: An Introduction* (2018), chapters 3, 4 and 13.
"""

from gaelib.tabular.exact import (
    action_values,
    advantage_function,
    bellman_backup,
    iterative_policy_evaluation,
    state_values,
    value_iteration,
)
from gaelib.tabular.examples import chain_mdp, grid_values, gridworld, two_state_mdp
from gaelib.tabular.gradients import (
    discounted_visitation,
    exact_policy_gradient,
    expected_return,
    policy_gradient_autograd,
)
from gaelib.tabular.mdp import TabularMDP, softmax_policy
from gaelib.tabular.sampling import EpisodeBatch, sample_episodes, sampled_policy_gradient

__all__ = [
    "TabularMDP",
    "EpisodeBatch",
    "softmax_policy",
    "state_values",
    "action_values",
    "advantage_function",
    "bellman_backup",
    "iterative_policy_evaluation",
    "value_iteration",
    "discounted_visitation",
    "expected_return",
    "exact_policy_gradient",
    "policy_gradient_autograd",
    "sample_episodes",
    "sampled_policy_gradient",
    "two_state_mdp",
    "chain_mdp",
    "gridworld",
    "grid_values",
]
