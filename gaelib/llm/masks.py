r"""Response masks and statistics over the valid tokens of a batch-major ``[batch, tokens]`` batch.

A 0/1 ``mask`` marks the response tokens that count (1 up to and including EOS, 0 on
padding and, in multi-turn data, on tokens the model did not generate). The statistics
here read only the entries where the mask is 1: padding neither enters a mean or a
variance nor receives a value.
"""

from __future__ import annotations

import numpy as np

from gaelib import _checks
from gaelib.llm._inputs import _back, _mask, _nonempty_rows, _np

__all__ = ["response_mask", "last_token_index", "masked_mean", "masked_var", "masked_whiten"]


def response_mask(tokens, eos_id: int):
    """Mask of a right-padded batch of responses: 1 up to *and including* the first EOS.

    A row with no EOS (generation stopped at the length limit) is all ones. This is
    verl's ``get_response_mask`` and TRL's ``~padding_mask``.

    Args:
        tokens: ``[batch, tokens]`` integer token ids of the responses (no prompt).
        eos_id: the end-of-sequence token id.

    Returns:
        ``[batch, tokens]`` bool mask, in the library of ``tokens``.

    Example:
        >>> response_mask(np.array([[5, 7, 2, 0, 0], [5, 5, 5, 5, 5]]), eos_id=2).astype(int)
        array([[1, 1, 1, 0, 0],
               [1, 1, 1, 1, 1]])
    """
    t = _np(tokens)
    if t.ndim != 2:
        raise ValueError(f"tokens must be [batch, tokens]; got shape {t.shape}")
    is_eos = t == eos_id
    after = np.cumsum(is_eos, axis=1) - is_eos  # number of EOS strictly before each position
    out = after == 0
    if _checks.is_torch(tokens):
        import torch

        return torch.from_numpy(out).to(tokens.device)
    return out


def last_token_index(mask):
    """Index of the last valid token of every row (where the score goes).

    Args:
        mask: ``[batch, tokens]`` bool or 0/1; every row needs a valid token.

    Returns:
        ``[batch]`` int64 numpy array.
    """
    m = _np(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be [batch, tokens]; got shape {m.shape}")
    m = m.astype(bool)
    _nonempty_rows(m)
    return (m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1)).astype(np.int64)


def masked_mean(x, mask):
    """Mean of ``x`` over the positions where ``mask`` is 1 (a 0-d array / tensor)."""
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    _checks.check_float("x", x)
    m = _mask(mask, "x", x, backend)
    if m.sum() == 0:
        raise ValueError("mask selects no element; a masked mean needs at least one")
    xn = _np(x)
    return _back(np.asarray((xn * m).sum() / m.sum(), dtype=xn.dtype), x)


def masked_var(x, mask, *, unbiased: bool = True):
    r"""Variance of ``x`` over the positions where ``mask`` is 1.

    .. math:: \hat\sigma^2 = \frac{1}{n - u}\sum_{m_i = 1} (x_i - \bar x)^2,
       \quad n = \textstyle\sum_i m_i,\; u = 1 \text{ if unbiased else } 0.

    ``unbiased=True`` (Bessel's correction) is verl's and TRL's choice, and needs
    n >= 2; OpenRLHF divides by n.
    """
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    _checks.check_float("x", x)
    m = _mask(mask, "x", x, backend)
    n = int(m.sum())
    if n < (2 if unbiased else 1):
        raise ValueError(f"mask selects {n} element(s); the {'unbiased ' if unbiased else ''}variance needs "
                         f"at least {2 if unbiased else 1}")
    xn = _np(x)
    mean = (xn * m).sum() / n
    ss = (((xn - mean) * m) ** 2).sum()
    return _back(np.asarray(ss / (n - 1 if unbiased else n), dtype=xn.dtype), x)


def masked_whiten(x, mask, *, shift_mean: bool = True, unbiased: bool = True, eps: float = 1e-8):
    r"""Standardise ``x`` with the mean and variance of its valid entries only.

    .. math::
        \tilde x_i = \frac{x_i - \bar x}{\sqrt{\hat\sigma^2 + \epsilon}}
        \;\; (+\,\bar x \text{ if not shift\_mean}), \qquad 0 \text{ where } m_i = 0,

    with :math:`\bar x`, :math:`\hat\sigma^2` from :func:`masked_mean` and
    :func:`masked_var` over the whole batch (one mean for all tokens, not per row).
    Pads neither enter the statistics nor receive a value. The default is the
    advantage whitening of TRL and verl (unbiased variance, ε = 1e-8, mean shifted
    to 0); ``shift_mean=False`` rescales but keeps the mean (TRL's reward whitening);
    ``unbiased=False`` matches OpenRLHF.

    Args:
        x: ``[batch, tokens]`` (any shape) float.
        mask: same shape, 0/1.
        shift_mean: subtract the mean (True) or keep it (False).
        unbiased: Bessel-corrected variance.
        eps: added to the variance.

    Returns:
        Array like ``x``.
    """
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    mean = _np(masked_mean(x, mask))
    var = _np(masked_var(x, mask, unbiased=unbiased))
    m = _np(mask).astype(bool)
    xn = _np(x)
    out = (xn - mean) / np.sqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return _back(np.where(m, out, 0).astype(xn.dtype), x)
