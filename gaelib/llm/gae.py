r"""Token-level GAE with a mask (the critic's estimator), decoupled λ (VC-PPO) and length-adaptive λ (VAPO)."""

from __future__ import annotations

import numbers

import numpy as np

from gaelib import _checks
from gaelib.advantages import GAEOutput
from gaelib.masked import masked_gae
from gaelib.llm._inputs import _np, _per_sequence
from gaelib.llm.registry import register_estimator

__all__ = ["token_gae", "decoupled_gae", "length_adaptive_lam"]


def token_gae(rewards, values, mask, *, gamma, lam) -> GAEOutput:
    r"""GAE over a batch-major ``[batch, tokens]`` batch of responses, with a mask.

    Over the valid tokens :math:`t_0 < t_1 < \dots < t_{n-1}` of a row (masked tokens
    are skipped, as in verl):

    .. math::
        \delta_k = r_{t_k} + \gamma V(s_{t_{k+1}}) - V(s_{t_k}), \qquad
        \hat A_{t_k} = \delta_k + \gamma\lambda \hat A_{t_{k+1}},

    with :math:`V(s_{t_n}) = 0` and :math:`\hat A_{t_n} = 0`: the state after the last
    valid token is terminal (EOS), so nothing is bootstrapped there. A truncated
    response (no EOS) is treated the same way, as TRL, OpenRLHF and verl do. The value
    targets are ``returns = advantages + values`` (before any whitening).
    With γ = λ = 1, :math:`\hat A_t = \sum_{k \ge t} r_k - V(s_t)`: the reward-to-go
    minus the value.

    This is the core's batch-major scan, :func:`gaelib.masked_gae`: no token
    is moved or sorted, and torch tensors stay on their device.

    Args:
        rewards: ``[batch, tokens]`` float, e.g. from :func:`token_rewards`.
        values: ``[batch, tokens]`` float, :math:`V(s_t)` read at the position that
            predicts token ``t`` (the hidden state of the token before it).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        gamma: γ in [0, 1], a float or shape ``[batch]``. 1.0 in every LLM engine.
        lam: λ in [0, 1], a float or shape ``[batch]`` (one λ per sequence, e.g.
            :func:`length_adaptive_lam`).

    Returns:
        :class:`~gaelib.GAEOutput` ``(advantages, returns)``, each ``[batch, tokens]``, in the
        library, device and dtype of the inputs (the dtype rule of :mod:`gaelib.advantages`),
        0 where ``mask`` is 0.

    Example:
        >>> adv, ret = token_gae(np.array([[0., 1., 0.]]), np.array([[.5, .5, 9.]]),
        ...                      np.array([[1, 1, 0]]), gamma=1.0, lam=1.0)
        >>> adv
        array([[0.5, 0.5, 0. ]])
    """
    return _masked_gae(rewards, values, mask, gamma, ("lam", lam), ("lam", lam))


def _masked_gae(rewards, values, mask, gamma, actor, critic):
    """Check the inputs as gaelib.llm does (every row needs a valid token; γ and λ are floats or
    ``[batch]``), then run the core's batch-major scan, :func:`gaelib.masked_gae`.

    ``actor`` and ``critic`` are ``(name, λ)`` pairs, so that errors name the caller's argument.
    """
    backend = _checks.backend_of(rewards=rewards, values=values, mask=mask)
    r = _checks.as_array("rewards", rewards, backend)
    v = _checks.as_array("values", values, backend)
    for name, x in (("rewards", r), ("values", v)):
        if x.ndim != 2 or 0 in tuple(x.shape):
            raise ValueError(f"{name} must be batch-major [batch, tokens] and non-empty; got shape {tuple(x.shape)}")
        _checks.check_float(name, x)
    _checks.check_same_shape("values", v, "rewards", r)
    m = _checks.as_array("mask", mask, backend)
    _checks.check_flags("mask", m, "rewards", r)
    B = r.shape[0]
    params = [_on_device(_per_sequence(name, p, B), r) for name, p in (("gamma", gamma), actor)]
    params.append(params[1] if critic[1] is actor[1] else _on_device(_per_sequence(*critic, B), r))
    mm = m.numpy() if _checks.is_torch(m) and m.device.type == "cpu" else m  # numpy's any is faster on CPU
    empty = ~(mm if str(mm.dtype) in ("bool", "torch.bool") else mm != 0).any(1)  # on the device
    if bool(empty.any()):
        i = int(np.flatnonzero(_np(empty))[0])
        raise ValueError(f"mask row {i} has no valid token; every response needs at least one "
                         f"(drop empty responses before computing advantages)")
    return masked_gae(r, v, m, gamma=params[0], lam=params[1], lam_returns=params[2])


def _on_device(p, like):
    """A per-sequence parameter (float or numpy ``[batch]``) in the library and on the device of ``like``."""
    if isinstance(p, float) or not _checks.is_torch(like):
        return p
    import torch

    return torch.as_tensor(p, device=like.device)


def decoupled_gae(rewards, values, mask, *, gamma, lam_actor, lam_critic=1.0) -> GAEOutput:
    r"""Decoupled GAE (VC-PPO): one λ for the policy's advantages, another for the critic's targets.

    .. math::
        \hat A_t = \mathrm{GAE}(\gamma, \lambda_{\mathrm{actor}})_t, \qquad
        G_t = \mathrm{GAE}(\gamma, \lambda_{\mathrm{critic}})_t + V(s_t).

    Yuan et al. (2025) trace PPO's collapse on long chains of thought partly to the
    terminal reward reaching token :math:`t` only with weight
    :math:`(\gamma\lambda)^{T-t-1}`: with λ < 1 and thousands of tokens the critic's
    targets barely see the reward. Their fix trains the critic on λ_critic = 1
    (Monte Carlo) targets while the actor keeps a λ_actor < 1 for lower variance.
    VAPO (Yue et al., 2025) keeps this and makes λ_actor depend on the length
    (:func:`length_adaptive_lam`). With ``lam_actor == lam_critic`` this is
    :func:`token_gae`.

    Args:
        rewards, values, mask, gamma: as in :func:`token_gae`.
        lam_actor: λ for the advantages; float or ``[batch]``.
        lam_critic: λ for the value targets; float or ``[batch]`` (default 1.0).

    Returns:
        :class:`~gaelib.GAEOutput` ``(advantages, returns)``.
    """
    return _masked_gae(rewards, values, mask, gamma, ("lam_actor", lam_actor), ("lam_critic", lam_critic))


def length_adaptive_lam(lengths, *, alpha: float):
    r"""VAPO's length-adaptive λ for the policy: :math:`\lambda = 1 - 1/(\alpha\, l)`.

    The effective horizon of GAE is :math:`\sum_{k\ge0}\lambda^k = 1/(1-\lambda)`;
    VAPO (Yue et al., 2025) makes it proportional to the response length :math:`l`,
    :math:`1/(1-\lambda) = \alpha l`, so long responses get λ close to 1 (less decay
    of the terminal reward) and short ones a smaller λ (less variance). The result is
    clipped to [0, 1]: :math:`\alpha l \le 1` gives λ = 0. α is a hyperparameter; the
    paper's regime is responses of thousands of tokens, so toy lengths need a much
    larger α than the paper's.

    Args:
        lengths: ``[batch]`` response lengths (number of valid tokens), > 0.
        alpha: α > 0.

    Returns:
        ``[batch]`` float64 numpy array of λ in [0, 1] (pass it as ``lam`` to
        :func:`token_gae` or ``lam_actor`` to :func:`decoupled_gae`).

    Example:
        >>> length_adaptive_lam(np.array([1, 4, 100]), alpha=0.5)
        array([0.  , 0.5 , 0.98])
    """
    lengths = _np(lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths must have shape [batch]; got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.number) or np.issubdtype(lengths.dtype, np.bool_) \
            or not (lengths > 0).all() or not np.isfinite(lengths).all():
        raise ValueError("lengths must be finite positive numbers (valid tokens per response)")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0; got {alpha!r}")
    return np.clip(1.0 - 1.0 / (alpha * lengths.astype(np.float64)), 0.0, 1.0)


@register_estimator("gae", critic=True)
def _gae_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"gae"``: :func:`decoupled_gae`, coupled (:func:`token_gae`) when ``lam_critic`` is None."""
    if values is None:
        raise ValueError("values is required by the estimator 'gae' (it has a critic)")
    return decoupled_gae(rewards, values, mask, gamma=gamma, lam_actor=lam,
                         lam_critic=lam if lam_critic is None else lam_critic)
