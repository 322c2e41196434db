r"""gaelib's token-level estimators inside verl (https://github.com/volcengine/verl), by name.

verl picks its advantage estimator by name: ``algorithm.adv_estimator=<name>`` in its config,
looked up in ``verl.trainer.ppo.core_algos`` with ``get_adv_estimator_fn`` among the functions
registered with ``register_adv_est``. :func:`register` adds gaelib's estimators to that registry,
each with verl's call signature and return values ``(advantages, returns)``:

=======================================  ========================================  ================================
name                                     gaelib                                    verl's built-in
=======================================  ========================================  ================================
``gaelib_gae``                           ``llm.token_gae``, ``llm.masked_whiten``  ``gae``
``gaelib_decoupled_gae``                 ``llm.decoupled_gae`` (VC-PPO)            --
``gaelib_vapo_gae``                      the same, ``llm.length_adaptive_lam``     --
``gaelib_grpo``                          ``llm.grpo_advantages``                   ``grpo``
``gaelib_rloo``                          ``llm.rloo_advantages``                   ``rloo``
``gaelib_reinforce_plus_plus``           ``llm.reinforce_pp_advantages``           ``reinforce_plus_plus``
``gaelib_reinforce_plus_plus_baseline``  the same, with ``groups``                 ``reinforce_plus_plus_baseline``
=======================================  ========================================  ================================

``pip install "gaelib[verl]"`` also declares a ``verl.plugins`` entry point
(``gaelib.integrations.verl_plugin``), which verl 0.9.1 loads when it is imported, so for the
critic-free estimators the config line is all a verl user changes::

    algorithm.adv_estimator=gaelib_grpo      # norm_adv_by_std_in_grpo=False gives Dr. GRPO

**The critic's estimators need one more setting.** verl 0.9.1's trainer
(``verl.trainer.ppo.ray_trainer.compute_advantage``) calls its built-in ``gae`` directly, with the
critic's ``values``, and calls every other registered estimator with only
``token_level_rewards``, ``response_mask``, ``config`` and ``index``: no ``values``. So
``algorithm.adv_estimator=gaelib_gae`` cannot reach a critic through verl's trainer, and gaelib's
GAE functions raise a ``ValueError`` saying so when called without ``values``. Instead, keep
``algorithm.adv_estimator=gae`` and make verl's ``gae`` run gaelib's: :func:`patch_builtin_gae`
replaces the attribute that branch calls (``core_algos.compute_gae_advantage_return``) in the
calling process. verl trains inside a Ray actor, so the plugin does it in every process that
imports verl when the environment variable ``GAELIB_VERL_GAE`` names the estimator; with verl's
config that is, untested here (it needs a Ray cluster)::

    algorithm.adv_estimator=gae +ray_kwargs.ray_init.runtime_env.env_vars.GAELIB_VERL_GAE=gaelib_gae

The registered ``gaelib_*gae`` names serve code that calls
``get_adv_estimator_fn(name)(token_level_rewards=..., values=..., ...)`` itself (a custom trainer).

**Where the results differ from verl's built-ins** (the equal parts are tested against verl 0.9.1
in ``tests/test_verl_integration.py``):

* *Masked positions.* gaelib returns advantage 0 and return 0 where ``response_mask`` is 0. verl's
  ``gae`` leaves the carried advantage there (then whitened) and ``returns = advantages + values``;
  its losses mask those positions out, so training is unaffected. On valid tokens the two agree to
  float32 rounding (verl's whitening divides the sum by :math:`n + 10^{-8}`, gaelib by :math:`n`).
* *A group of one.* gaelib refuses it (``ValueError``), because each of verl's estimators does
  something different with it: ``grpo`` uses mean 0 and std 1 (the advantage is the raw score),
  ``rloo`` leaves the raw score, ``reinforce_plus_plus_baseline`` uses mean 0.
* *An empty response* (a row of ``response_mask`` with no 1): refused by gaelib; verl includes its
  score in its group's statistics.
* *Sequence returns.* gaelib sums the rewards of the valid tokens only; verl sums every position
  (the same when rewards are 0 at masked positions, as verl's reward managers write them).
* *An all-equal group* gets advantage exactly 0 in gaelib; in verl :math:`(R-\bar R)/(0+\epsilon)`,
  which is 0 only up to the rounding of the mean.
* *Precision.* gaelib's group statistics are computed in float64 from the (float32) scores and the
  result is cast back; verl computes in float32.
* *REINFORCE++ with masked tokens inside a response.* verl 0.9.1 and gaelib both carry the running
  return across them and discount once per valid token; verl at commits 26b5d6b (2025-06-20) and
  b178a3c (2026-01-29) reset the running return at every masked position, so results differ
  there with holes and γ < 1.
* *GAE before verl commit 0332866* (2025-07-04) did not read the mask at all; verl 0.9.1 skips
  masked tokens as gaelib does.

The functions here need torch but not verl; only :func:`register` and :func:`patch_builtin_gae`
import verl.
"""

from __future__ import annotations

import functools

import numpy as np

from gaelib import llm
from gaelib.llm.critic_free import _sequence_returns

__all__ = [
    "compute_gae_advantage_return",
    "compute_decoupled_gae_advantage_return",
    "compute_vapo_gae_advantage_return",
    "compute_grpo_outcome_advantage",
    "compute_rloo_outcome_advantage",
    "compute_reinforce_plus_plus_outcome_advantage",
    "compute_reinforce_plus_plus_baseline_outcome_advantage",
    "estimators",
    "register",
    "patch_builtin_gae",
]


def _from_config(value, config, key, default):
    """An explicit argument, else ``config.<key>`` (verl passes its ``AlgoConfig``), else ``default``."""
    if value is not None:
        return value
    if config is not None and config.get(key, None) is not None:
        return config.get(key)
    return default


def _needs_values(values, name):
    if values is None:
        raise ValueError(
            f"values is None: {name} is a critic's estimator and needs the critic's values. verl 0.9.1's "
            f"trainer passes values only to its built-in 'gae'; keep algorithm.adv_estimator=gae and call "
            f"gaelib.integrations.verl.patch_builtin_gae() instead of naming a gaelib_* GAE estimator")


def compute_gae_advantage_return(token_level_rewards, values=None, response_mask=None, gamma=None, lam=None,
                                 config=None, **kwargs):
    r"""verl's ``compute_gae_advantage_return``, computed by :func:`gaelib.llm.token_gae`.

    Same positional signature as verl's (``token_level_rewards, values, response_mask, gamma, lam``,
    all ``[batch, response_length]`` tensors but the two floats); ``gamma``/``lam`` default to
    ``config.gamma``/``config.lam``. Returns ``(advantages, returns)``: the advantages whitened
    over the valid tokens (unbiased variance, ε = 1e-8, as verl), the returns
    :math:`\hat A_t + V(s_t)` before whitening; both 0 where ``response_mask`` is 0.
    """
    _needs_values(values, "gaelib_gae")
    gamma = _from_config(gamma, config, "gamma", 1.0)
    lam = _from_config(lam, config, "lam", 1.0)
    adv, ret = llm.token_gae(token_level_rewards, values, response_mask, gamma=gamma, lam=lam)
    return llm.masked_whiten(adv, response_mask), ret


def _decoupled(token_level_rewards, values, response_mask, gamma, lam_actor, lam_critic, name):
    _needs_values(values, name)
    adv, ret = llm.decoupled_gae(token_level_rewards, values, response_mask, gamma=gamma, lam_actor=lam_actor,
                                 lam_critic=lam_critic)
    return llm.masked_whiten(adv, response_mask), ret


@functools.lru_cache(maxsize=None)  # one function per setting: verl refuses a second one under a name
def compute_decoupled_gae_advantage_return(lam_critic: float = 1.0):
    r"""verl-style decoupled GAE (VC-PPO): the actor's λ from ``config.lam``, the critic's λ fixed here.

    Returns a function with the signature of :func:`compute_gae_advantage_return` whose returns use
    ``lam_critic`` (verl's ``AlgoConfig`` has no field for it, so it is bound here).
    """
    def gaelib_decoupled_gae(token_level_rewards, values=None, response_mask=None, gamma=None, lam=None,
                             config=None, **kwargs):
        gamma = _from_config(gamma, config, "gamma", 1.0)
        lam = _from_config(lam, config, "lam", 1.0)
        return _decoupled(token_level_rewards, values, response_mask, gamma, lam, lam_critic,
                          "gaelib_decoupled_gae")

    return gaelib_decoupled_gae


@functools.lru_cache(maxsize=None)
def compute_vapo_gae_advantage_return(alpha: float = 0.05, lam_critic: float = 1.0):
    r"""VAPO's GAE: the actor's λ per response, :math:`1 - 1/(\alpha\, l)`, the critic's λ fixed.

    Returns a function with the signature of :func:`compute_gae_advantage_return`; ``config.lam``
    is not used (the actor's λ comes from each response's length :math:`l`, its number of valid
    tokens). The defaults, α = 0.05 and the critic's λ = 1.0, are settings of :func:`register`;
    the value of α that VAPO (Yue et al., 2025) used was not checked here against the paper.
    """

    def gaelib_vapo_gae(token_level_rewards, values=None, response_mask=None, gamma=None, lam=None,
                        config=None, **kwargs):
        gamma = _from_config(gamma, config, "gamma", 1.0)
        _needs_values(values, "gaelib_vapo_gae")
        lengths = response_mask.sum(-1)  # valid tokens per response
        lam_actor = llm.length_adaptive_lam(np.asarray(lengths.cpu() if hasattr(lengths, "cpu") else lengths),
                                            alpha=alpha)
        return _decoupled(token_level_rewards, values, response_mask, gamma, lam_actor, lam_critic,
                          "gaelib_vapo_gae")

    return gaelib_vapo_gae


def compute_grpo_outcome_advantage(token_level_rewards, response_mask, index, epsilon=1e-6,
                                   norm_adv_by_std_in_grpo=None, config=None, **kwargs):
    """verl's ``compute_grpo_outcome_advantage``, computed by :func:`gaelib.llm.grpo_advantages`.

    ``index`` holds the group ids (verl's ``uid``); ``norm_adv_by_std_in_grpo`` defaults to
    ``config.norm_adv_by_std_in_grpo`` (False: Dr. GRPO). Returns ``(advantages, advantages)``,
    as verl does.
    """
    scale = _from_config(norm_adv_by_std_in_grpo, config, "norm_adv_by_std_in_grpo", True)
    adv = llm.grpo_advantages(_sequence_returns(token_level_rewards, response_mask), index, response_mask,
                              scale_by_std=bool(scale), eps=epsilon)
    return adv, adv


def compute_rloo_outcome_advantage(token_level_rewards, response_mask, index, epsilon=1e-6, config=None,
                                   **kwargs):
    """verl's ``compute_rloo_outcome_advantage``, by :func:`gaelib.llm.rloo_advantages`; ``(adv, adv)``."""
    adv = llm.rloo_advantages(_sequence_returns(token_level_rewards, response_mask), index, response_mask)
    return adv, adv


def compute_reinforce_plus_plus_outcome_advantage(token_level_rewards, response_mask, config=None, gamma=None,
                                                  **kwargs):
    """verl's ``compute_reinforce_plus_plus_outcome_advantage``, by :func:`gaelib.llm.reinforce_pp_advantages`.

    ``gamma`` defaults to ``config.gamma``. Returns ``(advantages, returns)``: the whitened
    advantages and the discounted returns before whitening (0 where ``response_mask`` is 0).
    """
    gamma = _from_config(gamma, config, "gamma", 1.0)
    adv = llm.reinforce_pp_advantages(token_level_rewards, response_mask, gamma=gamma)
    zero_critic = token_level_rewards * 0  # with V = 0 and λ = 1, GAE's returns are the discounted returns
    returns = llm.token_gae(token_level_rewards, zero_critic, response_mask, gamma=gamma, lam=1.0).returns
    return adv, returns


def compute_reinforce_plus_plus_baseline_outcome_advantage(token_level_rewards, response_mask, index,
                                                           epsilon=1e-6, config=None, **kwargs):
    """verl's ``reinforce_plus_plus_baseline``, by :func:`gaelib.llm.reinforce_pp_advantages` with groups."""
    adv = llm.reinforce_pp_advantages(token_level_rewards, response_mask, gamma=1.0, groups=index)
    return adv, adv


def estimators(*, lam_critic: float = 1.0, alpha: float = 0.05) -> dict:
    """The name -> function table :func:`register` installs (the GAE variants bound to the settings)."""
    return {
        "gaelib_gae": compute_gae_advantage_return,
        "gaelib_decoupled_gae": compute_decoupled_gae_advantage_return(lam_critic),
        "gaelib_vapo_gae": compute_vapo_gae_advantage_return(alpha, lam_critic),
        "gaelib_grpo": compute_grpo_outcome_advantage,
        "gaelib_rloo": compute_rloo_outcome_advantage,
        "gaelib_reinforce_plus_plus": compute_reinforce_plus_plus_outcome_advantage,
        "gaelib_reinforce_plus_plus_baseline": compute_reinforce_plus_plus_baseline_outcome_advantage,
    }


def register(*, lam_critic: float = 1.0, alpha: float = 0.05) -> tuple[str, ...]:
    """Register gaelib's estimators in verl's registry (``register_adv_est``); returns their names.

    Calling it again with the same settings is a no-op; with other settings verl raises its
    ``ValueError`` (a name is registered to another function).
    """
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn, register_adv_est

    table = estimators(lam_critic=lam_critic, alpha=alpha)
    for name, fn in table.items():
        register_adv_est(name)(fn)
    assert all(get_adv_estimator_fn(name) is fn for name, fn in table.items())
    return tuple(table)


def patch_builtin_gae(name: str = "gaelib_gae", *, lam_critic: float = 1.0, alpha: float = 0.05):
    """Make verl's built-in ``gae`` branch run one of gaelib's GAE estimators; returns verl's original.

    verl 0.9.1's trainer calls ``core_algos.compute_gae_advantage_return`` (with the critic's
    values) when ``algorithm.adv_estimator=gae``; this replaces that attribute in the calling
    process (the driver, where verl computes advantages). Restore it with
    ``verl.trainer.ppo.core_algos.compute_gae_advantage_return = original``.
    """
    if name not in ("gaelib_gae", "gaelib_decoupled_gae", "gaelib_vapo_gae"):
        raise ValueError(f"name must be one of gaelib's GAE estimators ('gaelib_gae', 'gaelib_decoupled_gae', "
                         f"'gaelib_vapo_gae'); got {name!r}")
    from verl.trainer.ppo import core_algos

    table = estimators(lam_critic=lam_critic, alpha=alpha)
    original = core_algos.compute_gae_advantage_return
    core_algos.compute_gae_advantage_return = table[name]
    return original
