"""Which backend runs an estimator, the inputs in its form, and the one result rule.

Backends (each runs every estimator of ``gaelib._estimators``):

* ``"numba"``: the compiled loops of ``gaelib._kernels``, for numpy arrays and CPU
  torch tensors (read and returned without a copy);
* ``"numpy"``: the blocked scan of ``gaelib._scan`` on numpy arrays (used when numba
  is not installed);
* ``"torch"``: the same blocked scan on torch tensors, on their own device (every
  accelerator; CPU tensors when numba is not installed).

Every backend returns results in the dtype of :func:`gaelib._checks.result_dtype`,
on the input's device, without gradient, and checks them for NaN and infinity (after
the cast back to float16/bfloat16); a non-finite result is blamed on the first
non-finite input, or reported as an overflow. :func:`forced` picks a backend by hand
(the tests run every test on every backend with it).

Internal module: the functions are private.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np

from gaelib import _checks, _estimators, _kernels, _scan

__all__: list[str] = []

BACKENDS = ("numba", "numpy", "torch")
_forced: str | None = None


@contextlib.contextmanager
def forced(name: str):
    """Run every estimator inside the ``with`` block on backend ``name``."""
    global _forced
    if name not in BACKENDS or (name == "numba" and not _kernels.HAVE_NUMBA):
        raise ValueError(f"backend must be one of {BACKENDS} (numba only where installed); got {name!r}")
    old, _forced = _forced, name
    try:
        yield
    finally:
        _forced = old


def choose(lib: str, ref) -> str:
    """The backend for inputs of library ``lib`` (``"numpy"`` or ``"torch"``) like ``ref``."""
    on_cpu = lib == "numpy" or ref.device.type == "cpu"
    if _forced is not None:
        ok = {"numba": on_cpu, "numpy": lib == "numpy", "torch": lib == "torch"}[_forced]
        if not ok:
            raise ValueError(f"backend {_forced!r} cannot run {lib} inputs on {getattr(ref, 'device', 'cpu')}")
        return _forced
    if on_cpu and _kernels.HAVE_NUMBA:
        return "numba"
    return lib


# --------------------------------------------------------------------------- converting inputs


def _is_number(x):
    return type(x) is float or isinstance(x, numbers.Number)


def _numpy(x, dtype):
    """A numpy array in ``dtype`` (torch CPU tensors without a copy where possible)."""
    if type(x) is np.ndarray and x.dtype == dtype and x.flags.c_contiguous:
        return x
    if _checks.is_torch(x):
        x = x.detach()
        if x.dtype.itemsize < 4 and x.is_floating_point():
            x = x.float()
        x = x.numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _torch(x, dtype, device):
    import torch

    return torch.as_tensor(x, device=device).detach().to(dtype)


def _rows(x, shape, M, flat=False):
    """A parameter or flag, already an array of the backend, as ``[T, M]``, or as ``[1, M]``
    (``[M]`` if ``flat``) when it is constant in time."""
    if tuple(x.shape) == shape and shape[0] > 1:
        return x.reshape(shape[0], M)
    return x.reshape(M) if flat else x.reshape(1, M)


_CONSTANTS: dict = {}


def _constant(M, value, dtype):
    """A read-only ``[M]`` array filled with ``value``, reused across calls (small calls
    would otherwise spend a noticeable part of their time allocating it)."""
    key = (M, value, dtype)
    c = _CONSTANTS.get(key)
    if c is None:
        if len(_CONSTANTS) > 256:
            _CONSTANTS.clear()
        c = _CONSTANTS[key] = np.full(M, value, dtype)
        c.flags.writeable = False
    return c



class Spec:
    """Validated inputs of one call, with what the result must look like."""

    __slots__ = ("lib", "backend", "shape", "out_dtype", "dtype", "device", "blame")

    def __init__(self, lib, ref, data, blame):
        self.lib = lib
        self.backend = choose(lib, ref)
        self.shape = tuple(ref.shape)
        self.out_dtype, self.dtype = _checks.result_dtype(lib, data)
        if self.backend == "numba" and lib == "torch":
            self.dtype = _numpy_dtype(self.dtype)
        self.device = ref.device if lib == "torch" else None
        self.blame = blame

    def array(self, x):
        """``x`` (array or number) in the backend's library and the computation dtype."""
        if self.backend == "torch":
            return _torch(x, self.dtype, self.device)
        return _numpy(x, self.dtype)

    def finish(self, out, finite):
        """Reshape to the input's shape, cast to the result dtype, check, return in its library."""
        out = out.reshape(self.shape)
        if self.lib == "torch" and isinstance(out, np.ndarray):
            import torch

            out = torch.from_numpy(out)
        if out.dtype != self.out_dtype:
            with np.errstate(all="ignore"):  # an overflow on the cast is reported just below
                out = out.to(self.out_dtype) if self.lib == "torch" else out.astype(self.out_dtype)
            finite = None  # check the values that are returned, after the cast
        if finite is None:
            finite = bool(out.isfinite().all()) if self.lib == "torch" else bool(np.isfinite(out).all())
        if not finite:
            for name, x in self.blame.items():
                if x is not None and not _is_number(x):
                    _checks.check_finite(name, x)
            dtype = str(self.out_dtype).replace("torch.", "")
            raise ValueError(f"the result overflowed {dtype}; rescale the rewards (or compute in float32)")
        return out


def _torch_stack(xs, axis):
    import torch

    return torch.stack(xs, dim=axis)


def _numpy_dtype(torch_dtype):
    import torch

    return np.dtype({torch.float32: np.float32, torch.float64: np.float64}[torch_dtype])


# --------------------------------------------------------------------------- time-major [T, *batch]


def time_major(kind, spec, rewards, values, next_values, last_value, terminated, truncated, gamma, lam,
               plus_values=False):
    """Run estimator ``kind`` over validated time-major inputs; returns a list of results.

    The first result is :math:`x`; with ``plus_values`` the second is :math:`x + V`.
    """
    if spec.backend == "numba":
        return _time_major_numba(kind, spec, rewards, values, next_values, last_value, terminated, truncated,
                                 gamma, lam, plus_values)
    coef, reads_next, scan = _estimators.ESTIMATORS[kind]
    shape = spec.shape
    T = shape[0]
    M = math.prod(shape[1:])
    A = spec.array
    r = A(rewards).reshape(T, M)
    v = r if values is None else A(values).reshape(T, M)
    # numpy or torch: the coefficient function on whole arrays, then the blocked scan
    if next_values is not None:
        nv = A(next_values).reshape(T, M)
    elif reads_next:
        lv = A(last_value).reshape(-1)
        nv = _scan.shift_up(v, lv.expand(M) if spec.backend == "torch" else np.broadcast_to(lv, (M,)))
    else:
        nv = r
    alive = 1 if terminated is None else 1 - _rows(A(terminated), shape, M)
    keep = 1 - _rows(A(truncated), shape, M) if truncated is not None else 1
    last = _last_step_zero(spec, T)
    keep = keep * last
    g, lam_ = [p if _is_number(p) else _rows(A(p), shape, M) for p in (gamma, lam)]
    with np.errstate(all="ignore"):  # non-finite results are reported by finish()
        b, a = coef(r, v, nv, alive, keep, g, lam_)
        x = _scan.backward_scan(b, a + 0 * b) if scan else b  # a + 0 * b: a at b's full shape
        outs = [x, x + v] if plus_values else [x]
    return [spec.finish(o, None) for o in outs]


_PLAIN_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def plain_numpy(kind, rewards, values, next_values, last_value, terminated, truncated, gamma, lam,
                plus_values=False):
    """:func:`time_major` for the common case, or None: then the caller runs the general path.

    The common case is C-contiguous native float32 or float64 numpy arrays of one dtype and
    shape, bool episode-end flags, Python-float ``gamma``/``lam`` in [0, 1] and numba
    installed. It needs none of the conversions of :class:`Spec`, so small calls are not
    dominated by Python time. It accepts only inputs that the general validation accepts too;
    anything else, or a non-finite result, returns None and the general path validates (and
    raises its errors) as usual.
    """
    if _forced is not None or not _kernels.HAVE_NUMBA:
        return None
    if type(rewards) is not np.ndarray or type(values) is not np.ndarray:
        return None
    dt, shape = rewards.dtype, rewards.shape
    if (dt not in _PLAIN_FLOATS or values.dtype != dt or values.shape != shape or not rewards.ndim
            or not rewards.size or not rewards.flags.c_contiguous or not values.flags.c_contiguous):
        return None
    if not (type(gamma) is float and 0.0 <= gamma <= 1.0 and type(lam) is float and 0.0 <= lam <= 1.0):
        return None
    T = shape[0]
    M = rewards.size // T
    for f in (terminated, truncated):
        if f is not None and (type(f) is not np.ndarray or f.dtype != _BOOL or f.shape != shape
                              or not f.flags.c_contiguous):
            return None
    if next_values is not None:
        if (last_value is not None or type(next_values) is not np.ndarray or next_values.dtype != dt
                or next_values.shape != shape or not next_values.flags.c_contiguous):
            return None
        nv, lv = next_values.reshape(T, M), _constant(M, 0.0, dt)
    else:
        if type(last_value) is float or type(last_value) is int:
            if not math.isfinite(last_value):
                return None
            lv = _constant(M, float(last_value), dt)
        elif (type(last_value) is np.ndarray and last_value.dtype == dt and last_value.shape == shape[1:]
              and last_value.flags.c_contiguous):
            lv = last_value.reshape(M)
        else:
            return None
        if truncated is not None and T > 1 and truncated[:-1].any():  # refused by the general path
            return None
        nv = rewards.reshape(T, M)  # unused
    two_d = (T, M) if T > 1 else (M,)
    flags = [_constant(M, False, _BOOL) if f is None else f.reshape(two_d) for f in (terminated, truncated)]
    x, y, finite = _run_kernel(kind, rewards.reshape(T, M), values.reshape(T, M), nv, next_values is not None, lv,
                               flags, (_constant(M, gamma, dt), _constant(M, lam, dt)), plus_values, shape)
    if not finite:
        return None
    return [x, y] if plus_values else [x]


def _run_kernel(kind, r, v, nv, use_next, lv, flags, params, plus_values, shape):
    """The numba loop of estimator ``kind`` on ``[T, M]`` arrays: ``(x, y, finite)``, x and y
    reshaped to ``shape`` (see :func:`gaelib._kernels.time_major` for the arguments)."""
    T, M = r.shape
    dt = r.dtype
    x, y = np.empty((T, M), dt), np.empty((T, M), dt)
    finite = _kernels.time_major(kind, M)(r, v, nv, use_next, lv, flags[0], flags[1], params[0], params[1],
                                          _estimators.ESTIMATORS[kind][2], x, y, plus_values, dt.type(0))
    if x.shape != shape:
        x, y = x.reshape(shape), y.reshape(shape)
    return x, y, finite


def _time_major_numba(kind, spec, rewards, values, next_values, last_value, terminated, truncated, gamma, lam,
                      plus_values):
    """The numba branch of :func:`time_major`, lean: small calls are dominated by Python time."""
    shape, dt = spec.shape, spec.dtype
    T = shape[0]
    M = math.prod(shape[1:])
    two_d = (T, M) if T > 1 else (M,)  # per-step arrays as [T, M]; constant in time as [M]

    def rows(x):  # a [T, *batch] array as [T, M], in dt, C-contiguous (no copy if it is already)
        x = _numpy(x, dt)
        return x if x.shape == (T, M) else x.reshape(T, M)

    r = rows(rewards)
    v = r if values is None else rows(values)
    nv = r if next_values is None else rows(next_values)
    if last_value is None or _is_number(last_value):
        lv = _constant(M, 0.0 if last_value is None else float(last_value), dt)
    else:
        lv = _numpy(last_value, dt).reshape(M)
    flags = [_constant(M, False, _BOOL) if f is None else _flag_rows(f, two_d) for f in (terminated, truncated)]
    params = [_constant(M, p, dt) if _is_number(p) else
              _numpy(p, dt).reshape(two_d if p.shape == shape else (M,)) for p in (gamma, lam)]
    x, y, finite = _run_kernel(kind, r, v, nv, next_values is not None, lv, flags, params, plus_values, shape)
    outs = [x, y] if plus_values else [x]
    if spec.lib == "numpy" and spec.out_dtype == dt and finite:  # the common case, without detours
        return outs
    return [spec.finish(o, finite) for o in outs]


def _flag_rows(f, two_d):
    """Episode-end flags as a C-contiguous bool array of shape ``two_d``."""
    if type(f) is not np.ndarray or f.dtype != np.bool_ or not f.flags.c_contiguous:
        f = _numpy_flag(f)
        f = np.ascontiguousarray(f if f.dtype == np.bool_ else f != 0)
    return f if f.shape == two_d else f.reshape(two_d)


_BOOL = np.dtype(np.bool_)


def _numpy_flag(f):
    if f is None or type(f) is np.ndarray:
        return f
    if _checks.is_torch(f):
        return f.detach().numpy()
    return f


def _last_step_zero(spec, T):
    """``[T, 1]``: 1 on every step but the last, where the trace is always cut."""
    if spec.backend == "torch":
        import torch

        k = torch.ones((T, 1), dtype=spec.dtype, device=spec.device)
    else:
        k = np.ones((T, 1), spec.dtype)
    k[-1] = 0
    return k


# --------------------------------------------------------------------------- batch-major tokens [B, L]


def _carry_coefficients(g, lam):
    """:math:`a_t` of a valid token, ``[B]`` or ``[B, L]``, from the estimator's coefficients (γλ for GAE)."""
    if g.ndim != lam.ndim:  # one per sequence, the other per token
        g, lam = (g[:, None], lam) if g.ndim == 1 else (g, lam[:, None])
    return np.ascontiguousarray(_estimators.gae_coefficients(0, 0, 0, 1, 1, g, lam)[1])


def masked(spec, rewards, values, mask, gamma, lam, lam2):
    """GAE along the rows of batch-major ``[B, L]`` inputs, masked tokens skipped.

    ``gamma``, ``lam``, ``lam2`` are numbers, ``[B]`` or ``[B, L]`` arrays. Returns
    ``[advantages with lam, advantages with lam2 + values]``, 0 where the mask is 0.
    """
    B, L = spec.shape
    A = spec.array
    r, v = A(rewards), A(values)

    def param(p):
        if _is_number(p):
            return _constant(B, p, spec.dtype) if spec.backend == "numba" else p
        p = A(p)
        return p if p.ndim == 2 or spec.backend == "numba" else p.reshape(B, 1)

    one_lam = lam2 is lam or (_is_number(lam) and _is_number(lam2) and lam == lam2)
    g, l1, l2 = param(gamma), param(lam), param(lam2)
    if spec.backend == "numba":
        m = _numpy_flag(mask)
        m = np.ascontiguousarray(m if m.dtype == np.bool_ else m != 0)
        adv, ret = np.empty((B, L), spec.dtype), np.empty((B, L), spec.dtype)
        a1 = _carry_coefficients(g, l1)
        a2 = None if one_lam else _carry_coefficients(g, l2)
        finite = _kernels.masked_rows(r, v, m, g, a1, a2, adv, ret, spec.dtype.type(0))
        return [spec.finish(adv, finite), spec.finish(ret, finite)]
    m = A(mask)
    valid = m != 0
    nv = _scan.next_valid_values(v, valid)
    coef = _estimators.gae_coefficients
    with np.errstate(all="ignore"):  # non-finite results are reported by finish()
        b, a = coef(r, v, nv, 1, 1, g, l1)
        b, a = b * m, a * m + (1 - m)  # masked tokens: (b, a) = (0, 1), the carry passes through
        if one_lam:
            x = x2 = _scan.backward_scan(b, a, axis=1)
        else:  # both λ in one scan: the offsets are the same, the carries differ
            a2 = coef(r, v, nv, 1, 1, g, l2)[1] * m + (1 - m)
            stack = np.stack if isinstance(b, np.ndarray) else _torch_stack
            x, x2 = _scan.backward_scan(stack([b, b], 0), stack([a, a2], 0), axis=2)
        outs = [x * m, (x2 + v) * m]
    return [spec.finish(o, None) for o in outs]
