r"""GAE over batch-major ``[batch, tokens]`` arrays with a mask: the layout of language-model batches.

The core estimators (:mod:`gaelib.advantages`) are time-major. Language-model engines
(TRL, verl, OpenRLHF) store responses batch-major, one row per response, with a 0/1 mask
marking the tokens that count. :func:`gaelib.masked_gae` runs the same GAE coefficients
(``gaelib._estimators``) along each row, on the row's own layout and device, with
masked tokens skipped; :mod:`gaelib.llm` builds its token-level estimators on it.
"""

from __future__ import annotations

import numbers

from gaelib import _checks, _dispatch
from gaelib.advantages import GAEOutput

__all__ = ["masked_gae"]


def masked_gae(rewards, values, mask, *, gamma, lam, lam_returns=None) -> GAEOutput:
    r"""GAE along the rows of **batch-major** ``[batch, tokens]`` arrays, skipping masked tokens.

    The layout of language-model batches (TRL, verl, OpenRLHF). Over the valid tokens
    :math:`t_0 < t_1 < \dots < t_{n-1}` of a row (``mask`` 1; masked tokens are skipped,
    as verl skips them):

    .. math::
        \delta_k = r_{t_k} + \gamma V(s_{t_{k+1}}) - V(s_{t_k}), \qquad
        \hat A_{t_k} = \delta_k + \gamma\lambda\, \hat A_{t_{k+1}},

    with :math:`V(s_{t_n}) = 0` and :math:`\hat A_{t_n} = 0`: the state after a row's last
    valid token is terminal. As one recurrence along the row, a valid token has
    :math:`(b_t, a_t) = (\delta_t, \gamma_t\lambda_t)` and a masked token
    :math:`(0, 1)`, which passes the carry through; :math:`V` of the next valid token is a
    reverse running minimum over indices. No valid token is moved, sorted or copied to
    another layout, and torch tensors stay on their device.

    Args:
        rewards: ``[batch, tokens]`` float.
        values: ``[batch, tokens]`` float, :math:`V(s_t)`.
        mask: ``[batch, tokens]`` bool or 0/1; a row with no valid token gives zeros.
        gamma: γ in [0, 1]: a float, ``[batch]`` (per sequence) or ``[batch, tokens]`` (per token).
        lam: λ in [0, 1], shaped like ``gamma``.
        lam_returns: λ for the value targets (VC-PPO's decoupled GAE), shaped like
            ``gamma``; default ``lam``.

    Returns:
        :class:`GAEOutput` ``(advantages, returns)``, each ``[batch, tokens]``, in the
        library, device and dtype rule of :func:`gae`, 0 where ``mask`` is 0; ``returns``
        is the GAE with ``lam_returns`` plus ``values``.

    Example:
        >>> import numpy as np
        >>> adv, ret = masked_gae(np.array([[0., 1., 0.]]), np.array([[.5, .5, 9.]]),
        ...                       np.array([[1, 1, 0]]), gamma=1.0, lam=1.0)
        >>> adv
        array([[0.5, 0.5, 0. ]])
    """
    lam_returns = lam if lam_returns is None else lam_returns
    backend = _checks.backend_of(rewards=rewards, values=values, mask=mask, gamma=gamma, lam=lam,
                                 lam_returns=lam_returns)
    r = _checks.as_array("rewards", rewards, backend)
    v = _checks.as_array("values", values, backend)
    if r.ndim != 2 or 0 in tuple(r.shape):
        raise ValueError(f"rewards must be batch-major [batch, tokens] and non-empty; got shape {tuple(r.shape)}")
    _checks.check_float("rewards", r)
    _checks.check_float("values", v)
    _checks.check_same_shape("values", v, "rewards", r)
    m = _checks.as_array("mask", mask, backend)
    _checks.check_flags("mask", m, "rewards", r)
    params = [_token_parameter(name, p, r, backend)
              for name, p in (("gamma", gamma), ("lam", lam), ("lam_returns", lam_returns))]
    spec = _dispatch.Spec(backend, r, [r, v], dict(rewards=r, values=v))
    return GAEOutput(*_dispatch.masked(spec, r, v, m, *params))


def _token_parameter(name, p, ref, backend):
    """γ or λ of batch-major tokens: a number, ``[batch]`` or ``[batch, tokens]``, in [0, 1]."""
    if p is None or isinstance(p, numbers.Number):
        _checks.check_unit_interval(name, p, "rewards", ref)
        return p
    p = _checks.as_array(name, p, backend)
    if p.ndim == 0:
        return _token_parameter(name, float(p), ref, backend)
    B, L = ref.shape
    if tuple(p.shape) not in ((B,), (B, L)):
        raise ValueError(f"{name} has shape {tuple(p.shape)}; with rewards of shape {(B, L)} it must be a "
                         f"float, shape ({B},) (one value per sequence) or {(B, L)} (one per token)")
    _checks.check_unit_interval(name, p.reshape(-1), "itself", p.reshape(-1))
    return p
