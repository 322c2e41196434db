r"""The numpy and torch backends: a blocked log-depth scan, on any device.

The recurrence :math:`x_t = b_t + a_t x_{t+1}` (:math:`x_T = 0`) composes
associatively: applying step :math:`t` after the steps from :math:`t+1` on is

.. math:: (b_1, a_1) \circ (b_2, a_2) = (b_1 + a_1 b_2,\; a_1 a_2),

so every suffix of the sequence can be formed by doubling (Hillis and Steele, 1986):
after the round with stride :math:`k`, position :math:`t` holds the composition of
steps :math:`t, \dots, t + 2k - 1`. Past the end of a block the steps are the identity
:math:`(0, 1)`, so every round is the same two operations on every position. Doubling
over the whole time axis costs :math:`\log_2 T` passes over all the data, so
:func:`backward_scan` blocks it:

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

CHUNK_DEVICE = 4096
"""Steps per chunk on accelerators, where the operations dispatched (each a kernel launch or a
Python-to-C++ round trip) cost more than passes over the data: a time axis of up to 4096 steps is
one chunk, one level of log2 T rounds of two operations each. Chosen on operation counts
(``benchmarks/gae_kernels.py --parts ops``: 114 per ``token_gae`` call at 512×2048, against 250
with chunks of 64), not yet on a device's clock; ``--device cuda`` times the CPU chunk beside it."""


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


def _identity_buffers(b, a, axis, width):
    """Two pairs of buffers ``width`` steps long along ``axis``: ``(b0, a0)`` holding ``(b, a)`` followed by
    the identity step ``(0, 1)``, ``(b1, a1)`` only the identity tail (its head is written before it is read).

    One allocation for all four: on CPUs, four large ones freed together go back to the operating system
    and fault in again, page by page, on the next call.
    """
    C = b.shape[axis]
    shape = (4,) + tuple(b.shape[:axis]) + (width,) + tuple(b.shape[axis + 1:])
    if isinstance(b, np.ndarray):
        buf = np.empty(shape, b.dtype)
        tail = (slice(None),) * axis + (slice(C, None),)
        buf[(slice(0, 2),) + tail] = 0
        buf[(slice(2, 4),) + tail] = 1
        buf[(0,) + (slice(None),) * axis + (slice(None, C),)] = b
        buf[(2,) + (slice(None),) * axis + (slice(None, C),)] = a
    else:
        import torch

        buf = torch.empty(shape, dtype=b.dtype, device=b.device)
        buf[:2].narrow(axis + 1, C, width - C).fill_(0)
        buf[2:].narrow(axis + 1, C, width - C).fill_(1)
        buf[0].narrow(axis, 0, C).copy_(b)
        buf[2].narrow(axis, 0, C).copy_(a)
    return buf[0], buf[2], buf[1], buf[3]


def _double(b, a, axis):
    """Doubling along ``axis`` (the position inside a chunk): every position's suffix to its chunk's end.

    The chunk is followed by the identity step :math:`(0, 1)` for as far as the longest stride
    reaches past its end, so that every round is the same two operations on every position (one
    fused multiply-add for ``b``, one multiply for ``a``), written into the other of two buffers
    (a position reads its partner before anyone writes it). Returns views of ``C`` steps.
    """
    C = b.shape[axis]
    if C == 1:
        return _copy(b), _copy(a)
    kmax = 1 << ((C - 1).bit_length() - 1)  # the largest stride, the largest power of 2 below C
    b0, a0, b1, a1 = _identity_buffers(b, a, axis, C + kmax)
    if isinstance(b, np.ndarray):
        pre = (slice(None),) * axis

        def part(x, k):
            return x[pre + (slice(k, k + C),)]

        def fma(c, u, w, out):
            np.multiply(u, w, out=out)
            out += c
        mul = np.multiply
    else:
        import torch

        def part(x, k):
            return x.narrow(axis, k, C)
        fma, mul = torch.addcmul, torch.mul
    (hb0, ha0), (hb1, ha1) = (part(b0, 0), part(a0, 0)), (part(b1, 0), part(a1, 0))
    k = 1
    while k < C:
        fma(hb0, ha0, part(b0, k), out=hb1)
        mul(ha0, part(a0, k), out=ha1)
        (b0, a0, hb0, ha0), (b1, a1, hb1, ha1) = (b1, a1, hb1, ha1), (b0, a0, hb0, ha0)
        k *= 2
    return hb0, ha0


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
    x = bl.reshape(shape)[pre + (slice(None, T),)]
    return np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x.contiguous()


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
