r"""The numpy and torch backends: a blocked log-depth scan, on any device.

The recurrence :math:`x_t = b_t + a_t x_{t+1}` (:math:`x_T = 0`) composes
associatively: applying step :math:`t` after the steps from :math:`t+1` on is

.. math:: (b_1, a_1) \circ (b_2, a_2) = (b_1 + a_1 b_2,\; a_1 a_2),

so every suffix of the sequence can be formed by doubling (Hillis and Steele, 1986):
after the round with stride :math:`k`, position :math:`t` holds the composition of
steps :math:`t, \dots, t + 2k - 1`. Doubling over the whole time axis costs
:math:`\log_2 T` passes over all the data, so :func:`backward_scan` blocks it:

1. cut time into chunks of :data:`CHUNK` steps and double inside every chunk at once
   (position :math:`t` then holds :math:`x_t` as if the chunk ended the sequence, and the
   product :math:`P_t` of the carries to the chunk's end);
2. solve the recurrence across chunk starts (the same scan, one level up: a sequence
   :data:`CHUNK` times shorter);
3. fix up: :math:`x_t \mathrel{+}= P_t\, x_{\mathrm{start\ of\ next\ chunk}}`.

Only multiplications and additions: a product that underflows becomes 0, which is
then its correct value to float precision, and nothing is divided, so the scan stays
exact over long sequences (a cumulative-product-and-divide trick underflows at
:math:`0.95^{8192}` and divides by zero at every episode end). The same source runs on
numpy arrays (gaelib's fallback without numba) and on torch tensors of any device; the
time axis is axis 0, any batch axes follow.

Internal module: the functions are private.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

CHUNK = 16
"""Steps per chunk. Small chunks mean fewer passes over the data (log2 of the chunk per
level, plus a fix-up); the number of levels, log_CHUNK T, stays small."""


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _pad_time(x, n):
    """``x`` with ``n`` zero steps appended along axis 0."""
    if isinstance(x, np.ndarray):
        return np.concatenate([x, np.zeros((n, *x.shape[1:]), x.dtype)], axis=0)
    import torch

    return torch.cat([x, x.new_zeros((n, *x.shape[1:]))], dim=0)


def _double(b, a):
    """Doubling along axis 1 of ``[chunks, C, *batch]``: every position's suffix to its chunk's end."""
    C = b.shape[1]
    k = 1
    while k < C:
        nb, na = _copy(b), _copy(a)
        nb[:, :-k] += a[:, :-k] * b[:, k:]
        na[:, :-k] *= a[:, k:]
        b, a = nb, na
        k *= 2
    return b, a


def backward_scan(b, a):
    r"""Solve :math:`x_t = b_t + a_t x_{t+1}`, :math:`x_T = 0`, along axis 0.

    Args:
        b, a: arrays (numpy) or tensors (torch, any device) of one float dtype and the
            same shape ``[T, *batch]``. They are not modified.

    Returns:
        ``x``, shape ``[T, *batch]``, a new array.
    """
    T = b.shape[0]
    if T == 1:
        return _copy(b)
    n = -(-T // CHUNK)
    C = CHUNK if n > 1 else T
    if n * C != T:  # pad with (b, a) = (0, 0): x = 0 there, as after the end
        b, a = _pad_time(b, n * C - T), _pad_time(a, n * C - T)
    rest = tuple(b.shape[1:])
    bl, al = _double(b.reshape(n, C, *rest), a.reshape(n, C, *rest))
    if n > 1:
        starts = backward_scan(bl[1:, 0], al[1:, 0])  # x at the start of chunks 1..n-1
        bl[:-1] += al[:-1] * starts[:, None]
    return bl.reshape(n * C, *rest)[:T]


def shift_up(x, fill):
    """``y[t] = x[t + 1]`` along axis 0, ``y[T - 1] = fill`` (a ``batch``-shaped array)."""
    if isinstance(x, np.ndarray):
        return np.concatenate([x[1:], fill[None]], axis=0)
    import torch

    return torch.cat([x[1:], fill[None]], dim=0)


def next_valid_values(v, mask):
    r"""For batch-major ``[B, L]``: the value at the next valid token after each position, 0 after the last.

    The first valid index at or after :math:`t` is a reverse running minimum of
    ``where(mask, t, L)``; it is read one position on, and gathered from ``v`` padded
    with a 0 at index ``L``. Exact (indices, no arithmetic on values).
    """
    B, L = v.shape
    if isinstance(v, np.ndarray):
        idx = np.where(mask, np.arange(L), L)
        first = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
        after = np.concatenate([first[:, 1:], np.full((B, 1), L)], axis=1)
        return np.take_along_axis(np.concatenate([v, np.zeros((B, 1), v.dtype)], axis=1), after, axis=1)
    import torch

    ar = torch.arange(L, device=v.device).expand(B, L)
    idx = torch.where(mask, ar, L)
    first = torch.flip(torch.cummin(torch.flip(idx, (1,)), dim=1).values, (1,))
    after = torch.cat([first[:, 1:], first.new_full((B, 1), L)], dim=1)
    return torch.gather(torch.cat([v, v.new_zeros((B, 1))], dim=1), 1, after)
