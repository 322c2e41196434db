r"""The numba backend: the backward recurrence as a compiled loop on the CPU.

Every estimator is :math:`x_t = b_t + a_t x_{t+1}`, :math:`x_T = 0`, with
:math:`(b_t, a_t)` from ``gaelib._estimators``. The loops below call a global
``coef``; numba compiles one copy of each loop per estimator with ``coef`` bound to that
estimator's coefficient function and inlines it (:func:`time_major`, ``masked_rows``).
Two loop orders:

* :func:`time_major` for ``[T, M]`` arrays (RL rollouts), in blocks of rows: a forward pass
  forms :math:`b` and :math:`a` into the two output buffers, then a backward pass walks time
  over those two arrays only (a probe on a 2-core x86 VM measured a backward walk over all the
  inputs at 3-8x the cost of a forward one), then a flat pass adds :math:`V(s_t)` for the
  value targets and checks finiteness;
* :func:`_masked_rows_py` for batch-major ``[B, L]`` token arrays with a mask: one backward
  walk along each row, two rows at a time, skipping masked tokens (they pass the carry through
  unchanged).

Both report whether every result is finite, so non-finite inputs and overflow are caught.
Without numba, gaelib uses the numpy scan of ``gaelib._scan`` instead. Arrays arrive validated, C-contiguous and in one float dtype from
``gaelib._dispatch``. Internal module: the functions are private.
"""

from __future__ import annotations

import types

import numpy as np

from gaelib import _estimators

coef = None  # bound to one estimator's coefficient function in each compiled copy below

try:  # numba is a declared dependency; the fallback keeps gaelib importable without it.
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__: list[str] = []


def _row(p, t):
    """Row ``t`` of a per-step ``[T, M]`` array; a constant-in-time ``[M]`` array itself."""
    return p if p.ndim == 1 else p[t]


_WIDE = 64  # batches at least this wide are walked in blocks of rows
_BLOCK = 16384  # elements per block: the block's inputs and outputs stay in the core's L2 cache


def time_major(name, M):
    """The compiled time-major loop of estimator ``name`` for ``[T, M]`` arrays.

    Its arguments are ``(r, v, nv, use_next, lv, term, trunc, g, lam, scan, x, y, plus_values, zero)``:
    ``term``, ``trunc``, ``g``, ``lam`` are ``[T, M]`` or ``[M]`` (constant in time); ``zero`` is 0
    in the arrays' dtype. On return ``x`` holds :math:`x_t`; ``y`` holds :math:`x_t + V(s_t)` if
    ``plus_values``, else scratch; it returns True when every result is finite.

    Three passes over a block of rows: the coefficients (b into ``x``, a into ``y``), the
    backward walk over ``x`` and ``y`` only, then ``y = x + V`` with the finiteness sum; kept
    apart, each loop vectorises (fused, they measured 1.5-4x slower on a 2-core x86 VM). Batches
    at least ``_WIDE`` wide go through time in blocks of about ``_BLOCK`` elements, the last
    block first, so that the three passes over a block work in the L2 cache rather than memory
    (:func:`_blocked_py`); narrower ones in one block (:func:`_narrow_py`: a loop over blocks, even
    of one block, or a compiled function choosing between the two, measured 1.3-2.4x slower
    at ``M = 8``).
    """
    return (_NARROW if M < _WIDE else _BLOCKED)[name]


def _narrow_py(r, v, nv, use_next, lv, term, trunc, g, lam, scan, x, y, plus_values, zero):
    """The loop of :func:`time_major` in one block."""
    T = r.shape[0]
    _coefficients(r, v, nv, use_next, lv, term, trunc, g, lam, x, y, zero, 0, T)
    if scan:
        _walk(x, y, 0, T - 1)
    return _plus_values_finite(x, v, y, zero) if plus_values else _finite(x, zero)


def _blocked_py(r, v, nv, use_next, lv, term, trunc, g, lam, scan, x, y, plus_values, zero):
    """The loop of :func:`time_major` in blocks of rows, the last block first."""
    T, M = r.shape
    rows = max(1, _BLOCK // M)
    finite = True
    for k in range((T + rows - 1) // rows):
        t1 = T - k * rows
        t0 = max(0, t1 - rows)
        _coefficients(r, v, nv, use_next, lv, term, trunc, g, lam, x, y, zero, t0, t1)
        if scan:  # row t1 (if any) is final: the carry into this block
            _walk(x, y, t0, min(t1, T - 1))
        if plus_values:
            finite &= _plus_values_finite(x[t0:t1], v[t0:t1], y[t0:t1], zero)
        else:
            finite &= _finite(x[t0:t1], zero)
    return finite


def _coefficients_py(r, v, nv, use_next, lv, term, trunc, g, lam, x, y, zero, t0, t1):
    """Rows ``t0 .. t1 - 1``: :math:`b_t` into ``x``, :math:`a_t` into ``y`` (the trace is cut after the last row)."""
    T, M = r.shape
    one = np.float32(1)  # a constant that widens nothing: the compiler drops the multiplications by it
    for t in range(t0, t1):
        keep_last = zero if t == T - 1 else one
        tf, tc, gt, lt = _row(term, t), _row(trunc, t), _row(g, t), _row(lam, t)
        if use_next:
            for m in range(M):
                x[t, m], y[t, m] = coef(r[t, m], v[t, m], nv[t, m], zero if tf[m] else one,
                                        zero if tc[m] else keep_last, gt[m], lt[m])
        elif t + 1 < T:
            for m in range(M):
                x[t, m], y[t, m] = coef(r[t, m], v[t, m], v[t + 1, m], zero if tf[m] else one,
                                        zero if tc[m] else keep_last, gt[m], lt[m])
        else:
            for m in range(M):
                x[t, m], y[t, m] = coef(r[t, m], v[t, m], lv[m], zero if tf[m] else one,
                                        zero if tc[m] else keep_last, gt[m], lt[m])


def _walk(x, a, t0, t1):
    """:math:`x_t \\mathrel{+}= a_t x_{t+1}` for ``t = t1 - 1`` down to ``t0`` (``x[t1]`` is final)."""
    M = x.shape[1]
    for t in range(t1 - 1, t0 - 1, -1):
        for m in range(M):
            x[t, m] += a[t, m] * x[t + 1, m]


def _plus_values_finite(x, v, y, zero):
    """``y = x + v`` elementwise; True when every ``y`` is finite (then so is every ``x``)."""
    xf, vf, yf = x.ravel(), v.ravel(), y.ravel()
    s = zero
    for i in range(xf.size):
        yi = xf[i] + vf[i]
        yf[i] = yi
        s += yi * zero  # 0, or NaN once any yi is NaN or infinite
    return s == zero


def _finite(x, zero):
    """True when every element of ``x`` is finite."""
    xf = x.ravel()
    s = zero
    for i in range(xf.size):
        s += xf[i] * zero
    return s == zero


def _masked_rows_py(r, v, mask, g, a, a2, adv, ret, zero):
    """GAE along each row of batch-major ``[B, L]`` arrays, skipping masked tokens.

    Over the valid tokens of a row, :math:`V(s_{t+1})` is the value at the next valid
    token (0 after the last one) and the carry skips the masked tokens in between (a
    masked token is the step :math:`(b, a) = (0, 1)`). ``g`` is γ; ``a`` and ``a2`` are the
    carry coefficients :math:`a_t` of a valid token for the advantages and for the value targets
    (γλ, from the estimator's coefficients, computed by the caller); each is ``[B, L]`` or ``[B]``,
    and ``a2`` None means ``a`` (one recursion instead of two). ``adv`` gets the advantages;
    ``ret`` the value targets (the second recursion plus :math:`V(s_t)`); both are 0 where the
    mask is 0. Returns True when every result is finite; a non-finite input on a masked token
    counts too.

    Rows go two at a time (:func:`_two_rows`): a row's walk is one chain of dependent
    multiply-adds, and two independent chains keep the core busy while each waits for its
    last result. With :math:`a` read from an argument rather than formed in the loop, and
    multiply-adds fused, ``token_gae`` measured 1.5-1.8x faster than with one row at a time and
    :math:`a` formed per token, on a 2-core x86 VM (four rows at a time was slower).
    """
    B = r.shape[0]
    finite = True
    for i in range(0, B, 2):
        finite &= _two_rows(r, v, mask, g, a, a2, adv, ret, zero, i, min(i + 1, B - 1))
    return finite


def _two_rows(r, v, mask, g, a, a2, adv, ret, zero, i, j):
    """Rows ``i`` and ``j`` of :func:`_masked_rows_py`, walked together (``j == i``, for an odd last
    row, walks it twice and writes the same values twice)."""
    # rows as 1-D views and per-sequence parameters as numbers, read once: the loop then
    # loads only what changes from token to token
    ri, vi, mi, ai, oi, gi, ci, c2i = r[i], v[i], mask[i], adv[i], ret[i], g[i], a[i], _row_of(a2, i)
    rj, vj, mj, aj, oj, gj, cj, c2j = r[j], v[j], mask[j], adv[j], ret[j], g[j], a[j], _row_of(a2, j)
    xi = x2i = ni = xj = x2j = nj = zero  # carries, and V of the next valid token
    finite = True
    for t in range(r.shape[1] - 1, -1, -1):
        xi, x2i, ni, fi = _masked_step(ri, vi, mi, gi, ci, c2i, ai, oi, t, xi, x2i, ni, zero)
        xj, x2j, nj, fj = _masked_step(rj, vj, mj, gj, cj, c2j, aj, oj, t, xj, x2j, nj, zero)
        finite &= fi & fj
    # a non-finite step reaches the row's first valid token (0 * nan is nan)
    return finite & (xi - xi == 0) & (xj - xj == 0)


def _masked_step(r, v, m, g, a, a2, adv, ret, t, x, x2, nxt, zero):
    """Token ``t`` of one row: ``(x, x2, nxt, finite)`` after it, writing ``adv[t]`` and ``ret[t]``."""
    # a constant that widens nothing (float32 * float32 stays float32), so the compiler drops the
    # multiplications by it: formed from ``zero`` they stay in the loop and measured 2x slower
    one = np.float32(1)
    vt = v[t]
    if m[t]:
        b = coef(r[t], vt, nxt, one, one, _tok(g, t), zero)[0]  # b_t; a_t comes from the caller's ``a``
        x = b + _tok(a, t) * x
        x2 = _second(x, x2, b, a2, t)
        adv[t] = x
        rt = x2 + vt
        ret[t] = rt
        return x, x2, vt, abs(rt) < np.inf  # a boolean: cheaper than summing
    adv[t] = zero
    ret[t] = zero
    return x, x2, nxt, abs(r[t] + vt) < np.inf


def _tok(p, t):
    """``p[t]`` of a row of a per-token parameter; a per-sequence parameter's number itself."""
    return p if np.ndim(p) == 0 else p[t]


def _second(x, x2, b, a2, t):
    """The value targets' carry after a valid token: ``x`` itself when ``a2`` is None (one λ)."""
    return x if a2 is None else b + _tok(a2, t) * x2


def _row_of(p, i):
    """``p[i]``, or None for None (``a2`` when there is one λ)."""
    return None if p is None else p[i]


if HAVE_NUMBA:
    import numba
    from numba.extending import overload

    @overload(_row, inline="always")
    def _row_overload(p, t):  # chosen by the array's rank when numba compiles the caller
        return (lambda p, t: p) if p.ndim == 1 else (lambda p, t: p[t])

    @overload(_tok, inline="always")
    def _tok_overload(p, t):  # a number (per sequence) or a row (per token), by type at compile time
        return (lambda p, t: p[t]) if isinstance(p, numba.types.Array) else (lambda p, t: p)

    @overload(_second, inline="always")
    def _second_overload(x, x2, b, a2, t):
        if isinstance(a2, numba.types.NoneType):
            return lambda x, x2, b, a2, t: x
        return lambda x, x2, b, a2, t: b + _tok(a2, t) * x2

    @overload(_row_of, inline="always")
    def _row_of_overload(p, i):
        return (lambda p, i: None) if isinstance(p, numba.types.NoneType) else (lambda p, i: p[i])

    _jit = njit(cache=True, nogil=True)
    # the finiteness sums may be reordered (so they vectorise); NaN and infinity still reach them
    _sum_jit = njit(cache=True, nogil=True, fastmath={"reassoc"})  # not inlined: it keeps its own flags

    def _bound(py_func, name, **names):
        """A copy of ``py_func`` named ``name`` whose globals ``names`` are rebound."""
        f = types.FunctionType(py_func.__code__, dict(py_func.__globals__, **names), name)
        f.__qualname__, f.__module__, f.__doc__ = name, __name__, py_func.__doc__
        return f

    _finite_jit, _plus_values_finite_jit = _sum_jit(_finite), _sum_jit(_plus_values_finite)
    # Inlined into numba's IR of the caller, so the loops compile as if written in place (as
    # calls, they measured up to 1.4x slower).
    _inline = njit(cache=True, inline="always")
    _walk_jit = _inline(_walk)

    def _specialise(py_func, name, coef):
        """``py_func`` compiled with the global ``coef`` bound to one estimator's coefficients.

        Passing the coefficient function as an argument works too, but costs microseconds of
        dispatch on every call; a copy per estimator makes it a compile-time constant (and
        numba caches each copy under its own name).
        """
        coefficients = _inline(_bound(_coefficients_py, f"coefficients_{name}", coef=coef))
        return _jit(_bound(py_func, name, coef=coef, _coefficients=coefficients, _walk=_walk_jit,
                           _finite=_finite_jit, _plus_values_finite=_plus_values_finite_jit))

    _COEF = {name: _inline(f) for name, (f, _, _) in _estimators.ESTIMATORS.items()}
    _NARROW = {name: _specialise(_narrow_py, f"narrow_{name}", c) for name, c in _COEF.items()}
    _BLOCKED = {name: _specialise(_blocked_py, f"blocked_{name}", c) for name, c in _COEF.items()}
    # fused multiply-adds in the row walk: one rounding per step instead of two, and a shorter chain
    _masked_step_jit = _inline(_bound(_masked_step, "masked_step_gae", coef=_COEF["gae"]))
    _two_rows_jit = _inline(_bound(_two_rows, "two_rows_gae", _masked_step=_masked_step_jit))
    masked_rows = njit(cache=True, nogil=True, fastmath={"contract"})(
        _bound(_masked_rows_py, "masked_rows_gae", _two_rows=_two_rows_jit))
