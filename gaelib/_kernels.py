"""Compiled kernels for backward linear recurrences on 2-D ``[T, M]`` arrays.

Every estimator in gaelib is one backward recurrence

.. math:: x_t = b_t + a_t\\, x_{t+1}, \\qquad x_T = 0,

with a per-step offset ``b`` and a per-step carry coefficient ``a`` (for GAE,
``b = δ`` and ``a = γλ`` cut at episode ends). The fast path computes ``b`` and
``a`` in one forward pass over the inputs and then walks time backwards over
those two arrays only (a probe on a 2-core x86 VM measured a backward walk over
all the inputs at 3-8x the cost of a forward one). Both passes are compiled with numba
when it is installed; otherwise a numpy loop over time (vectorised across the
batch) does the same arithmetic.

All arrays here are already validated and reshaped to C-contiguous ``[T, M]``
by the callers in :mod:`gaelib.advantages`; flags and parameters that are
constant in time arrive as ``[1, M]``. Internal module: the functions are private.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a declared dependency; the fallback keeps gaelib importable without it.
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__: list[str] = []


def _row(x, t):
    """Row ``t`` of a ``[T, M]`` array, or its only row if it has one (a per-sequence parameter)."""
    return x[t] if x.shape[0] > 1 else x[0]


def _gae_coefficients_py(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Forward pass for GAE: ``b_t = δ_t``, ``a_t = γ_t λ_t`` (0 at episode ends).

    ``term``, ``trunc``, ``g``, ``l`` are ``[T, M]`` or ``[1, M]`` (constant in time).
    """
    T, M = r.shape
    for t in range(T):
        if use_next:
            vn = nv[t]
        elif t + 1 < T:
            vn = v[t + 1]
        else:
            vn = lv
        rt, vt, bt, at = r[t], v[t], b[t], a[t]
        tm, tr, gt, lt = _row(term, t), _row(trunc, t), _row(g, t), _row(l, t)
        for m in range(M):
            gm = zero if tm[m] else gt[m]
            bt[m] = rt[m] + gm * vn[m] - vt[m]
            at[m] = zero if tr[m] else gm * lt[m]


def _lambda_return_coefficients_py(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Forward pass for λ-returns.

    ``G_t = r_t + γ_t[(1 - λ_t c_t) V(s_{t+1}) + λ_t c_t G_{t+1}]`` with ``γ_t = 0``
    after termination and ``c_t = 0`` where the trace is cut (truncation, last step).
    """
    T, M = r.shape
    one = zero + 1
    for t in range(T):
        last = t + 1 == T
        if use_next:
            vn = nv[t]
        elif not last:
            vn = v[t + 1]
        else:
            vn = lv
        rt, bt, at = r[t], b[t], a[t]
        tm, tr, gt, lt = _row(term, t), _row(trunc, t), _row(g, t), _row(l, t)
        for m in range(M):
            gm = zero if tm[m] else gt[m]
            lc = zero if (tr[m] or last) else lt[m]
            bt[m] = rt[m] + gm * (one - lc) * vn[m]
            at[m] = gm * lc


def _cumsum_coefficients_py(x, disc, done, zero, b, a):
    """Forward pass for a discounted cumulative sum cut where ``done``."""
    T, M = x.shape
    for t in range(T):
        xt, bt, at, dt, ct = x[t], b[t], a[t], _row(done, t), _row(disc, t)
        for m in range(M):
            bt[m] = xt[m]
            at[m] = zero if dt[m] else ct[m]


def _at(x, m, t):
    """``x[m, t]`` of a ``[M, T]`` array that may have one row or one column (broadcast)."""
    return x[m if x.shape[0] > 1 else 0, t if x.shape[1] > 1 else 0]


def _gae_sequence_major_py(r, v, nv, lv, use_next, term, trunc, g, l, zero, adv, ret):
    """GAE along each sequence of ``[M, T]`` arrays, in one backward pass per row.

    For batch-major token tensors (``[batch, tokens]``, rows contiguous in time), this
    walks each row backwards and never transposes the batch.
    """
    M, T = r.shape
    for m in range(M):
        carry = zero
        for t in range(T - 1, -1, -1):
            if use_next:
                vn = nv[m, t]
            elif t + 1 < T:
                vn = v[m, t + 1]
            else:
                vn = lv[m]
            gm = zero if _at(term, m, t) else _at(g, m, t)
            delta = r[m, t] + gm * vn - v[m, t]
            if _at(trunc, m, t):
                carry = delta
            else:
                carry = delta + gm * _at(l, m, t) * carry
            adv[m, t] = carry
            ret[m, t] = carry + v[m, t]


def _backward_scan_py(b, a):
    """In place: ``b_t <- b_t + a_t b_{t+1}`` for ``t = T-2, ..., 0``."""
    T, M = b.shape
    for t in range(T - 2, -1, -1):
        bt, at, bn = b[t], a[t], b[t + 1]
        for m in range(M):
            bt[m] += at[m] * bn[m]


def backward_scan_numpy(b, a):
    """The same scan as a numpy loop over time, vectorised across the batch."""
    for t in range(b.shape[0] - 2, -1, -1):
        b[t] += a[t] * b[t + 1]


def gae_coefficients_numpy(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Vectorised numpy version of the GAE forward pass (the fallback without numba)."""
    if not use_next:
        nv = np.concatenate([v[1:], lv[None]], axis=0)
    gm = np.where(term, zero, g)
    b[...] = r + gm * nv - v
    a[...] = np.where(trunc, zero, gm * l)


def lambda_return_coefficients_numpy(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Vectorised numpy version of the λ-return forward pass."""
    if not use_next:
        nv = np.concatenate([v[1:], lv[None]], axis=0)
    cut = np.broadcast_to(trunc, r.shape).copy()
    cut[-1] = True
    gm = np.where(term, zero, g)
    lc = np.where(cut, zero, l)
    b[...] = r + gm * (1 - lc) * nv
    a[...] = gm * lc


def cumsum_coefficients_numpy(x, disc, done, zero, b, a):
    """Vectorised numpy version of the discounted-cumsum forward pass."""
    b[...] = x
    a[...] = np.where(done, zero, disc)


if HAVE_NUMBA:
    _jit = njit(cache=True, nogil=True)
    _row = _jit(_row)
    _at = _jit(_at)
    gae_sequence_major = _jit(_gae_sequence_major_py)
    gae_coefficients = _jit(_gae_coefficients_py)
    lambda_return_coefficients = _jit(_lambda_return_coefficients_py)
    cumsum_coefficients = _jit(_cumsum_coefficients_py)
    backward_scan = _jit(_backward_scan_py)
else:  # pragma: no cover
    # No gae_sequence_major here: without numba, callers copy to time-major and use the scan.
    gae_coefficients = gae_coefficients_numpy
    lambda_return_coefficients = lambda_return_coefficients_numpy
    cumsum_coefficients = cumsum_coefficients_numpy
    backward_scan = backward_scan_numpy
