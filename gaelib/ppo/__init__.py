r"""Proximal Policy Optimization (PPO-Clip) with GAE, for Gymnasium environments.

Where to change what:

* ``gaelib.ppo.config``: the hyperparameters (:class:`PPOConfig`) and the tuned presets
  ``CARTPOLE``, ``ACROBOT`` and ``LUNARLANDER`` (chosen on tuning seeds, reported on others: ``benchmarks/PROTOCOL.md``);
* ``gaelib.ppo.train``: one update (:func:`ppo_update`, :func:`minibatch_loss`) and the
  training loop :func:`train_ppo`, which follows the torch chapter's algorithm box::

    seed → envs → model → for each update:
        rollout → advantages (GAE) → [epochs × minibatches: losses → gradient step] → log

* ``gaelib.ppo.evaluate``: :func:`evaluate_policy`, :func:`solve_point`, :func:`explained_variance`;
* the losses themselves (clipped surrogate, value loss, entropy bonus, approximate KL, clip
  fraction) live in :mod:`gaelib.losses`, shared with the RLHF trainer.

Reference: J. Schulman, F. Wolski, P. Dhariwal, A. Radford, O. Klimov, "Proximal Policy
Optimization Algorithms", arXiv:1707.06347, 2017; the implementation details follow Huang et
al., "The 37 implementation details of PPO" (ICLR blog track, 2022).
"""

from gaelib.ppo.config import ACROBOT, CARTPOLE, LUNARLANDER, PPOConfig
from gaelib.ppo.evaluate import evaluate_policy, explained_variance, solve_point
from gaelib.ppo.train import PPOHistory, PPOResult, TrainingHistory, minibatch_loss, normalize_advantages, ppo_update, train_ppo

__all__ = [
    "PPOConfig",
    "CARTPOLE",
    "ACROBOT",
    "LUNARLANDER",
    "PPOHistory",
    "TrainingHistory",
    "PPOResult",
    "normalize_advantages",
    "minibatch_loss",
    "ppo_update",
    "train_ppo",
    "evaluate_policy",
    "solve_point",
    "explained_variance",
]
