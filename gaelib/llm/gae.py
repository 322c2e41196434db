r"""Token-level GAE with a mask (the critic's estimator), decoupled λ (VC-PPO) and length-adaptive λ (VAPO)."""

from __future__ import annotations

import numbers

import numpy as np

from gaelib import _checks
from gaelib.advantages import GAEOutput, gae
from gaelib.llm._inputs import _back, _batch_major, _float_dtype, _mask, _nonempty_rows, _np, _per_sequence
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

    This calls :func:`gaelib.gae` on the transposed arrays (valid tokens moved to the
    front of each row, ``terminated`` at the last one, ``last_value=0``).

    Args:
        rewards: ``[batch, tokens]`` float, e.g. from :func:`token_rewards`.
        values: ``[batch, tokens]`` float, :math:`V(s_t)` read at the position that
            predicts token ``t`` (the hidden state of the token before it).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        gamma: γ in [0, 1], a float or shape ``[batch]``. 1.0 in every LLM engine.
        lam: λ in [0, 1], a float or shape ``[batch]`` (one λ per sequence, e.g.
            :func:`length_adaptive_lam`).

    Returns:
        :class:`GAEOutput` ``(advantages, returns)``, each ``[batch, tokens]``, in the
        library of ``rewards``, 0 where ``mask`` is 0.

    Example:
        >>> adv, ret = token_gae(np.array([[0., 1., 0.]]), np.array([[.5, .5, 9.]]),
        ...                      np.array([[1, 1, 0]]), gamma=1.0, lam=1.0)
        >>> adv
        array([[0.5, 0.5, 0. ]])
    """
    backend = _checks.backend_of(rewards=rewards, values=values, mask=mask)
    r = _batch_major("rewards", rewards, backend)
    v = _batch_major("values", values, backend)
    _checks.check_same_shape("values", v, "rewards", r)
    m = _mask(mask, "rewards", r, backend)
    B, T = m.shape
    gamma = _per_sequence("gamma", gamma, B)
    lam = _per_sequence("lam", lam, B)
    n = _nonempty_rows(m)
    rn, vn = _np(r), _np(v)
    dtype = _float_dtype(rn, vn)
    # valid tokens first (stable order), then time-major for the core
    order = np.argsort(~m, axis=1, kind="stable")
    valid = np.arange(T)[None, :] < n[:, None]
    rc = np.where(valid, np.take_along_axis(rn, order, 1), 0).astype(dtype)
    vc = np.where(valid, np.take_along_axis(vn, order, 1), 0).astype(dtype)
    terminated = np.arange(T)[None, :] == (n - 1)[:, None]
    adv_tm, _ = gae(rc.T, vc.T, last_value=np.zeros(B, dtype), terminated=terminated.T,
                    gamma=gamma, lam=lam)
    adv_c = np.where(valid, adv_tm.T, 0)
    adv = np.zeros((B, T), dtype)
    np.put_along_axis(adv, order, adv_c, 1)
    ret = np.where(m, adv + vn, 0).astype(dtype)
    return GAEOutput(_back(adv, r), _back(ret, r))


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
        :class:`GAEOutput` ``(advantages, returns)``.
    """
    B = _batch_major("rewards", rewards, _checks.backend_of(rewards=rewards, values=values, mask=mask)).shape[0]
    _per_sequence("lam_actor", lam_actor, B)  # checked here so that errors name them
    _per_sequence("lam_critic", lam_critic, B)
    adv, _ = token_gae(rewards, values, mask, gamma=gamma, lam=lam_actor)
    _, ret = token_gae(rewards, values, mask, gamma=gamma, lam=lam_critic)
    return GAEOutput(adv, ret)


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
