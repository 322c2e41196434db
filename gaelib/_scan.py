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
"""Steps per chunk for numpy and CPU tensors. The doubling rounds add up to log2 T whatever
the chunk; small chunks mean fewer passes over the whole data (log2 CHUNK at the first
level), large chunks fewer levels (each adds a pad and a fix-up)."""

CHUNK_DEVICE = 64
"""Steps per chunk on accelerators, where the number of operations launched matters more
than passes over the data: fewer levels. (A choice to be measured on the device:
``benchmarks/gae_kernels.py --device cuda`` times the alternative too.)"""


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _pad_time(x, n, axis):
    """``x`` with ``n`` zero steps appended along ``axis``."""
    shape = list(x.shape)
    shape[axis] = n
    if isinstance(x, np.ndarray):
        return np.concatenate([x, np.zeros(shape, x.dtype)], axis=axis)
    import torch

    return torch.cat([x, x.new_zeros(shape)], dim=axis)


def _ops(x):
    """``(empty_like, fused multiply-add into out, multiply into out)`` for numpy or torch."""
    if isinstance(x, np.ndarray):
        def fma(c, u, w, out):
            np.multiply(u, w, out=out)
            out += c
        return np.empty_like, fma, np.multiply
    import torch

    def empty(y):
        return torch.empty_like(y, memory_format=torch.contiguous_format)

    def fma(c, u, w, out):
        torch.addcmul(c, u, w, out=out)
    return empty, fma, torch.mul


def _double(b, a, axis):
    """Doubling along ``axis`` (the position inside a chunk): every position's suffix to its chunk's end.

    Each round writes new arrays (a position reads its partner before anyone writes it): one
    fused multiply-add for ``b``, one multiply for ``a``, and a copy of the ``k`` last
    positions, which are already complete.
    """
    empty, fma, mul = _ops(b)
    C = b.shape[axis]
    pre = (slice(None),) * axis
    k = 1
    while k < C:
        head, tail, part = pre + (slice(None, -k),), pre + (slice(-k, None),), pre + (slice(k, None),)
        nb, na = empty(b), empty(a)
        fma(b[head], a[head], b[part], out=nb[head])
        nb[tail] = b[tail]
        mul(a[head], a[part], out=na[head])
        na[tail] = a[tail]
        b, a = nb, na
        k *= 2
    return b, a


def backward_scan(b, a, axis=0):
    r"""Solve :math:`x_t = b_t + a_t x_{t+1}`, :math:`x_T = 0`, along ``axis``.

    Args:
        b, a: arrays (numpy) or tensors (torch, any device) of one float dtype and the
            same shape, time along ``axis`` (0 for time-major ``[T, *batch]``, the last
            axis for batch-major ``[batch, T]``). They are not modified.
        axis: the time axis (non-negative).

    Returns:
        ``x``, the shape of ``b``, a new array laid out like a C-contiguous ``b``.
    """
    T = b.shape[axis]
    if T == 1:
        return _copy(b)
    chunk = CHUNK if isinstance(b, np.ndarray) or b.device.type == "cpu" else CHUNK_DEVICE
    n = -(-T // chunk)
    C = chunk if n > 1 else T
    if n * C != T:  # pad with (b, a) = (0, 0): x = 0 there, as after the end
        b, a = _pad_time(b, n * C - T, axis), _pad_time(a, n * C - T, axis)
    shape = tuple(b.shape)
    chunked = shape[:axis] + (n, C) + shape[axis + 1:]
    bl, al = _double(b.reshape(chunked), a.reshape(chunked), axis + 1)
    pre = (slice(None),) * axis
    if n > 1:  # x at the start of chunks 1..n-1, by the same scan one level up
        starts = backward_scan(bl[pre + (slice(1, None), 0)], al[pre + (slice(1, None), 0)], axis)
        rows = pre + (slice(None, -1),)
        bl[rows] += al[rows] * starts[pre + (slice(None), None)]
    return bl.reshape(shape)[pre + (slice(None, T),)]


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
