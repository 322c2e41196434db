r"""Per-token KL estimates and the KL-shaped token rewards of RLHF."""

from __future__ import annotations

import numpy as np

from gaelib import _checks
from gaelib.llm._inputs import _back, _batch_major, _finite_result, _float_dtype, _mask, _nonnegative, _np, \
    _scores
from gaelib.llm.masks import last_token_index

__all__ = ["kl_penalty", "token_rewards"]


def kl_penalty(log_probs, ref_log_probs, mask=None, *, kind: str = "k1"):
    r"""Per-token estimate of :math:`\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}})` from the sampled tokens.

    With :math:`\rho_t = \log\pi(a_t|s_t) - \log\pi_{\mathrm{ref}}(a_t|s_t)` and
    :math:`a_t \sim \pi`:

    .. math::
        k_1 = \rho_t, \qquad k_2 = \tfrac12 \rho_t^2, \qquad k_3 = e^{-\rho_t} - 1 + \rho_t .

    All three have the KL as (or near) their expectation: :math:`k_1` is unbiased but
    can be negative, :math:`k_3` is unbiased and non-negative with lower variance,
    :math:`k_2` is biased but non-negative (Schulman, "Approximating KL divergence",
    2020). k1 is the default of TRL, OpenRLHF and verl for the in-reward penalty
    (verl calls them ``kl``, ``mse``, ``low_var_kl``; verl clamps :math:`k_3` to
    [-10, 10], OpenRLHF clamps all three; gaelib does not clamp).

    Args:
        log_probs: ``[batch, tokens]`` float, :math:`\log\pi` of the sampled tokens
            under the policy that sampled them.
        ref_log_probs: same shape, under the frozen reference (SFT) policy.
        mask: optional ``[batch, tokens]`` 0/1; the result is 0 where it is 0 (whatever the
            estimate would be there: :math:`k_3` of a huge log-ratio at a pad is 0, not NaN).
        kind: ``"k1"``, ``"k2"`` or ``"k3"``.

    Returns:
        ``[batch, tokens]`` array in the library of ``log_probs``.
    """
    backend = _checks.backend_of(log_probs=log_probs, ref_log_probs=ref_log_probs, mask=mask)
    lp = _batch_major("log_probs", log_probs, backend)
    rp = _batch_major("ref_log_probs", ref_log_probs, backend)
    _checks.check_same_shape("ref_log_probs", rp, "log_probs", lp)
    if kind not in ("k1", "k2", "k3"):
        raise ValueError(f"kind must be 'k1', 'k2' or 'k3'; got {kind!r}")
    m = np.ones(tuple(lp.shape), bool) if mask is None else _mask(mask, "log_probs", lp, backend)
    with np.errstate(over="ignore", invalid="ignore"):
        # np.where, not kl * mask: k3 can overflow at a masked token, and inf * 0 is NaN
        rho = np.where(m, _np(lp) - _np(rp), 0)
        kl = {"k1": lambda: rho, "k2": lambda: 0.5 * rho**2, "k3": lambda: np.expm1(-rho) + rho}[kind]()
    if not np.isfinite(kl).all():
        raise ValueError(f"kl_penalty(kind={kind!r}) overflowed at a valid token: log_probs - ref_log_probs "
                         f"is too large in magnitude there (verl clamps the log-ratio to [-20, 20])")
    return _back(kl, lp)


def token_rewards(scores, kl, mask, *, kl_coef: float):
    r"""Shaped per-token rewards of RLHF (InstructGPT-style).

    .. math::
        r_t = -\beta\,\mathrm{KL}_t\,m_t \;+\; S\,[t = t_{\mathrm{last}}],

    where :math:`S` is the sequence score (reward model or verifier), :math:`m` the mask
    and :math:`t_{\mathrm{last}}` the last valid token (EOS, or the last token of a
    truncated response). Nothing is received after it. The sum over tokens is the
    KL-regularised objective :math:`S - \beta \sum_t \mathrm{KL}_t` of
    Ouyang et al. (2022) and Ziegler et al. (2019).

    Args:
        scores: ``[batch]`` float, one score per response.
        kl: ``[batch, tokens]`` float per-token KL estimates (:func:`kl_penalty`).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        kl_coef: β, a finite number >= 0.

    Returns:
        ``[batch, tokens]`` rewards in the library of ``kl``; 0 where ``mask`` is 0.

    Example:
        >>> token_rewards(np.array([1.0]), np.array([[0.5, 0.1, 0.0]]), np.array([[1, 1, 0]]), kl_coef=0.1)
        array([[-0.05,  0.99,  0.  ]])
    """
    backend = _checks.backend_of(scores=scores, kl=kl, mask=mask)
    k = _batch_major("kl", kl, backend)
    m = _mask(mask, "kl", k, backend)
    s = _np(_scores(scores, backend, k.shape[0]))
    kl_coef = _nonnegative("kl_coef", kl_coef)
    last = last_token_index(m)
    kn = _np(k)
    with np.errstate(over="ignore", invalid="ignore"):
        r = (np.where(m, -kl_coef * kn, 0.0) + 0.0).astype(_float_dtype(kn, s))  # + 0.0: no -0.0
        r[np.arange(len(s)), last] += s
    _finite_result(r, "the token rewards", "kl_coef * kl (or a score)")
    return _back(r, k)
