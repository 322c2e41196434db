r"""Token-level advantage estimators for language-model RL (RLHF, RLVR).

A response of a language model is an episode: the state :math:`s_t` is the prompt
plus the tokens generated so far, the action :math:`a_t` is the next token, and the
episode ends at the end-of-sequence token (EOS), a terminal state. The engines
people scale out on (TRL, OpenRLHF, verl) store such data **batch-major**,
``[batch, tokens]``, with a 0/1 ``mask`` marking the response tokens that count
(1 up to and including EOS, 0 on padding and, in multi-turn data, on tokens the
model did not generate). gaelib's core (:func:`gaelib.gae`) is **time-major**,
``[T, *batch]``. This module is the bridge, and the identity that ties them is
tested:

    ``token_gae(r, v, m)`` equals ``gaelib.gae(r.T, v.T, last_value=0,
    terminated=<last valid token>.T)`` on the valid tokens, for right padding.

(:func:`token_gae` literally calls :func:`gaelib.gae`, after moving each row's
valid tokens to the front, so that masked tokens inside a row are skipped, as verl
skips them from commit 0332866 (2025-07-04, "mask out observation token in GAE") on,
0.9.1 included; before it, e.g. at commit 26b5d6b, verl's GAE did not read the mask.)

The package has one module per concept (each with its equations, references and
tests in ``tests/test_llm.py``); every public name is importable from ``gaelib.llm``:

* ``gaelib.llm.masks``: :func:`response_mask`, :func:`last_token_index`,
  :func:`masked_mean`, :func:`masked_var`, :func:`masked_whiten`;
* ``gaelib.llm.rewards``: :func:`kl_penalty` (k1/k2/k3), :func:`token_rewards` (the
  InstructGPT-style shaped reward: :math:`-\beta\,\mathrm{KL}_t` on every token, the
  score added at the last valid token);
* ``gaelib.llm.gae``: :func:`token_gae` (masked GAE, per-sequence λ allowed) and its
  value targets, :func:`decoupled_gae` (VC-PPO: λ for the actor, another λ for the
  critic's targets), :func:`length_adaptive_lam` (VAPO: :math:`\lambda = 1 - 1/(\alpha l)`);
* ``gaelib.llm.critic_free``: :func:`grpo_advantages` (with and without the std, the
  latter is Dr. GRPO), :func:`rloo_advantages`, :func:`reinforce_pp_advantages`;
* ``gaelib.llm.registry``: the estimators by name (:func:`get_estimator`,
  :func:`register_estimator`, :func:`estimator_names`), as verl's ``register_adv_est``.

Estimators return :class:`gaelib.GAEOutput` ``(advantages, returns)``, the core's type.

Every function accepts numpy arrays or torch tensors (CPU) and returns the same kind,
with no gradient.

How gaelib's arguments map onto the engines (read at verl 0.9.1 from its source
distribution, TRL f2cd577, OpenRLHF 3c3be62; all three are batch-major):

.. list-table::
   :header-rows: 1

   * - gaelib (this module)
     - verl
     - TRL (``PPOTrainer``)
     - OpenRLHF
   * - ``mask``
     - ``response_mask`` (EOS included)
     - ``~padding_mask`` (EOS included)
     - ``action_mask``
   * - ``kl_penalty(kind=)``
     - ``kl_penalty``: kl / mse / low_var
     - ``kl_estimator`` k1 / k3
     - ``compute_approx_kl`` k1 / k2 / k3
   * - ``token_rewards``
     - ``apply_kl_penalty`` + reward manager (score at last valid token)
     - ``-kl_coef*kl``, score at the **first pad after EOS** (see note)
     - ``compute_reward``: score at the last ``action_mask`` position
   * - ``kl_coef``
     - ``algorithm.kl_ctrl.kl_coef``
     - ``kl_coef``
     - ``--init_kl_coef``
   * - ``gamma``, ``lam``
     - ``algorithm.gamma``, ``lam`` (1, 1)
     - ``gamma``, ``lam`` (1, 0.95)
     - ``gamma``, ``lambd`` (1, 1)
   * - ``token_gae``
     - ``compute_gae_advantage_return``
     - loop in ``train()``
     - ``get_advantages_and_returns``
   * - ``masked_whiten``
     - ``masked_whiten`` (unbiased var)
     - ``masked_whiten`` (unbiased var)
     - global norm (biased var, ``unbiased=False``)
   * - ``grpo_advantages``
     - ``adv_estimator=grpo``, ``norm_adv_by_std_in_grpo``
     - ``GRPOTrainer`` (``scale_rewards``)
     - ``group_norm`` / ``dr_grpo``
   * - ``rloo_advantages``
     - ``adv_estimator=rloo``
     - ``RLOOTrainer``
     - ``rloo``
   * - ``reinforce_pp_...``
     - ``reinforce_plus_plus`` (+baseline)
     - --
     - ``reinforce`` (+``_baseline``)

Note on TRL: its ``PPOTrainer`` adds the score one slot *after* EOS (the first padding
position) and bootstraps the EOS step from the critic's value there; this equals
putting the score on EOS only once the critic has learnt that value. gaelib puts the
score on the last valid token, as verl and OpenRLHF do. verl leaves the carried
advantage at masked positions; gaelib returns 0 there (every loss masks them out).
"""

from __future__ import annotations

from gaelib.llm.masks import last_token_index, masked_mean, masked_var, masked_whiten, response_mask
from gaelib.llm.rewards import kl_penalty, token_rewards
from gaelib.llm.gae import decoupled_gae, length_adaptive_lam, token_gae
from gaelib.llm.critic_free import grpo_advantages, reinforce_pp_advantages, rloo_advantages
from gaelib.llm.registry import Estimator, estimator_names, get_estimator, register_estimator

__all__ = [
    "response_mask",
    "last_token_index",
    "kl_penalty",
    "token_rewards",
    "token_gae",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "decoupled_gae",
    "length_adaptive_lam",
    "grpo_advantages",
    "rloo_advantages",
    "reinforce_pp_advantages",
    "Estimator",
    "register_estimator",
    "get_estimator",
    "estimator_names",
]
