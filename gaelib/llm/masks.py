r"""Response masks and statistics over the valid tokens of a batch-major ``[batch, tokens]`` batch.

A 0/1 ``mask`` marks the response tokens that count (1 up to and including EOS, 0 on
padding and, in multi-turn data, on tokens the model did not generate). The statistics
here read only the entries where the mask is 1: padding neither enters a mean or a
variance nor receives a value.
"""

from __future__ import annotations

import numbers

import numpy as np

from gaelib import _checks
from gaelib.llm._inputs import _back, _finite_result, _mask, _nonempty_rows, _nonnegative, _np

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
    if isinstance(eos_id, bool) or not isinstance(eos_id, numbers.Integral):
        raise TypeError(f"eos_id must be an int token id; got {eos_id!r}")
    t = _np(tokens)
    if t.ndim != 2:
        raise ValueError(f"tokens must be [batch, tokens]; got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"tokens must hold integer token ids; got dtype {t.dtype}")
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
    _checks.check_flags("mask", m, "mask", m)
    m = m.astype(bool)
    _nonempty_rows(m)
    return (m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1)).astype(np.int64)


def _valid(x, mask, need):
    """Checked inputs of a masked statistic: ``x`` (as given), ``x`` zeroed where the mask is 0 in
    the accumulation dtype (float32 at least, so float16 sums do not overflow), the bool mask, the
    number of valid entries and a power-of-two scale ``s >= 1`` with ``max |x_valid| / s < 2``."""
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    _checks.check_float("x", x)
    m = _mask(mask, "x", x, backend)
    n = int(m.sum())
    if n < need:
        raise ValueError(f"mask selects {n} element(s) of x; this statistic needs at least {need}")
    xn = _np(x)
    # np.where, not x * mask: a NaN or inf where the mask is 0 must not reach the sums
    xz = np.where(m, xn, 0).astype(np.promote_types(xn.dtype, np.float32))
    if not np.isfinite(xz).all():
        raise ValueError("x contains NaN or infinite values where mask is 1")
    top = float(np.abs(xz).max())
    # dividing by a power of two is exact, so results are unchanged unless squares would overflow
    s = float(np.ldexp(1.0, np.frexp(top)[1] - 1)) if top > 1.0 else 1.0
    return x, xz, m, n, s


def _moments(xz, m, n, s, unbiased):
    """Mean and variance of ``xz / s`` over the valid entries (see :func:`masked_var`)."""
    xs = xz / s
    mean = xs.sum() / n
    ss = (np.where(m, xs - mean, 0) ** 2).sum()
    return mean, ss / (n - 1 if unbiased else n)


def masked_mean(x, mask):
    r"""Mean of ``x`` over the positions where ``mask`` is 1: :math:`\bar x = \sum_i m_i x_i / \sum_i m_i`.

    Entries where the mask is 0 are never read (a NaN or inf there does not matter); the sum
    accumulates in float32 at least (float16 inputs would overflow) and the result has the
    dtype of ``x``.

    Args:
        x: float array or tensor, any shape.
        mask: same shape, 0/1 or bool; selects at least one entry, where ``x`` is finite.

    Returns:
        A 0-d array (numpy) or 0-d tensor (torch), in the library and dtype of ``x``.
    """
    x, xz, m, n, _ = _valid(x, mask, 1)
    return _back(np.asarray(xz.sum() / n, dtype=_np(x).dtype), x)


def masked_var(x, mask, *, unbiased: bool = True):
    r"""Variance of ``x`` over the positions where ``mask`` is 1.

    .. math:: \hat\sigma^2 = \frac{1}{n - u}\sum_{m_i = 1} (x_i - \bar x)^2,
       \quad n = \textstyle\sum_i m_i,\; u = 1 \text{ if unbiased else } 0.

    ``unbiased=True`` (Bessel's correction) is verl's and TRL's choice, and needs
    n >= 2; OpenRLHF divides by n. Entries where the mask is 0 are never read. A
    variance too large for the dtype of ``x`` raises ``ValueError``.

    Returns:
        A 0-d array or tensor, in the library and dtype of ``x``.
    """
    x, xz, m, n, s = _valid(x, mask, 2 if unbiased else 1)
    _, var = _moments(xz, m, n, s, unbiased)
    with np.errstate(over="ignore"):
        out = np.asarray(var * s * s, dtype=_np(x).dtype)
    _finite_result(out, "the variance", "x")
    return _back(out, x)


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
        eps: added to the variance; a finite number >= 0. With ``eps=0`` the valid entries
            must not be all equal (0/0).

    Returns:
        Array like ``x``, 0 where ``mask`` is 0. Entries where the mask is 0 are never read
        (NaN or inf there does not matter). Very large values (up to the float maximum)
        are handled by an exact power-of-two rescaling.
    """
    eps = _nonnegative("eps", eps)
    x, xz, m, n, s = _valid(x, mask, 2 if unbiased else 1)
    if eps == 0.0 and xz[m].min() == xz[m].max():
        raise ValueError("eps=0 with x's valid entries all equal: whitening would divide 0 by 0; use eps > 0")
    mean, var = _moments(xz, m, n, s, unbiased)
    out = (xz / s - mean) / np.sqrt(var + eps / (s * s))
    if not shift_mean:
        out = out + mean * s
    return _back(np.where(m, out, 0).astype(_np(x).dtype), x)
