"""Compiled kernels for backward linear recurrences on 2-D ``[T, M]`` arrays.

Every estimator in gaelib is one backward recurrence

.. math:: x_t = b_t + a_t\\, x_{t+1}, \\qquad x_T = 0,

with a per-step offset ``b`` and a per-step carry coefficient ``a`` (for GAE,
``b = δ`` and ``a = γλ`` cut at episode ends). The fast path computes ``b`` and
``a`` in one forward pass over the inputs and then walks time backwards over
those two arrays only (walking backwards over all inputs was measured to be
several times slower on this kind of CPU). Both passes are compiled with numba
when it is installed; otherwise a numpy loop over time (vectorised across the
batch) does the same arithmetic.

All arrays here are already validated and reshaped to ``[T, M]`` by the callers
in :mod:`gaelib.advantages`. ``gamma``/``lam`` arrive as ``[T, M]`` arrays that
may be broadcast views (stride 0). Internal module: the functions are private.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a declared dependency; the fallback keeps gaelib importable without it.
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__: list[str] = []


def _gae_coefficients_py(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Forward pass for GAE: ``b_t = δ_t``, ``a_t = γ_t λ_t`` (0 at episode ends)."""
    T, M = r.shape
    for t in range(T):
        last = t + 1 == T
        for m in range(M):
            if use_next:
                vn = nv[t, m]
            elif last:
                vn = lv[m]
            else:
                vn = v[t + 1, m]
            gm = zero if term[t, m] else g[t, m]
            b[t, m] = r[t, m] + gm * vn - v[t, m]
            a[t, m] = zero if trunc[t, m] else gm * l[t, m]


def _lambda_return_coefficients_py(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
    """Forward pass for λ-returns.

    ``G_t = r_t + γ_t[(1 - λ_t c_t) V(s_{t+1}) + λ_t c_t G_{t+1}]`` with ``γ_t = 0``
    after termination and ``c_t = 0`` where the trace is cut (truncation, last step).
    """
    T, M = r.shape
    one = zero + 1
    for t in range(T):
        last = t + 1 == T
        for m in range(M):
            if use_next:
                vn = nv[t, m]
            elif last:
                vn = lv[m]
            else:
                vn = v[t + 1, m]
            gm = zero if term[t, m] else g[t, m]
            lc = zero if (trunc[t, m] or last) else l[t, m]
            b[t, m] = r[t, m] + gm * (one - lc) * vn
            a[t, m] = gm * lc


def _cumsum_coefficients_py(x, disc, done, zero, b, a):
    """Forward pass for a discounted cumulative sum cut where ``done``."""
    T, M = x.shape
    for t in range(T):
        for m in range(M):
            b[t, m] = x[t, m]
            a[t, m] = zero if done[t, m] else disc[t, m]


def _backward_scan_py(b, a):
    """In place: ``b_t <- b_t + a_t b_{t+1}`` for ``t = T-2, ..., 0``."""
    T, M = b.shape
    for t in range(T - 2, -1, -1):
        for m in range(M):
            b[t, m] += a[t, m] * b[t + 1, m]


def backward_scan_numpy(b, a):
    """The same scan as a numpy loop over time, vectorised across the batch."""
    for t in range(b.shape[0] - 2, -1, -1):
        b[t] += a[t] * b[t + 1]


if HAVE_NUMBA:
    _jit = njit(cache=True, nogil=True)
    gae_coefficients = _jit(_gae_coefficients_py)
    lambda_return_coefficients = _jit(_lambda_return_coefficients_py)
    cumsum_coefficients = _jit(_cumsum_coefficients_py)
    backward_scan = _jit(_backward_scan_py)
else:  # pragma: no cover

    def _vectorised_gae(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
        if not use_next:
            nv = np.concatenate([v[1:], lv[None]], axis=0)
        gm = np.where(term, zero, g)
        b[...] = r + gm * nv - v
        a[...] = np.where(trunc, zero, gm * l)

    def _vectorised_lambda(r, v, nv, lv, use_next, term, trunc, g, l, zero, b, a):
        if not use_next:
            nv = np.concatenate([v[1:], lv[None]], axis=0)
        cut = np.array(trunc, dtype=bool)
        cut[-1] = True
        gm = np.where(term, zero, g)
        lc = np.where(cut, zero, l)
        b[...] = r + gm * (1 - lc) * nv
        a[...] = gm * lc

    def _vectorised_cumsum(x, disc, done, zero, b, a):
        b[...] = x
        a[...] = np.where(done, zero, disc)

    gae_coefficients = _vectorised_gae
    lambda_return_coefficients = _vectorised_lambda
    cumsum_coefficients = _vectorised_cumsum
    backward_scan = backward_scan_numpy
