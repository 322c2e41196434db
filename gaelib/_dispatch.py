"""Which backend runs an estimator, the inputs in its form, and the one result rule.

Backends (each runs every estimator of :mod:`gaelib._estimators`):

* ``"numba"``: the compiled loops of :mod:`gaelib._kernels`, for numpy arrays and CPU
  torch tensors (read and returned without a copy);
* ``"numpy"``: the blocked scan of :mod:`gaelib._scan` on numpy arrays (used when numba
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
    return isinstance(x, numbers.Number)


def _numpy(x, dtype):
    """A numpy array in ``dtype`` (torch CPU tensors without a copy where possible)."""
    if _checks.is_torch(x):
        x = x.detach()
        if x.dtype.itemsize < 4 and x.is_floating_point():
            x = x.float()
        x = x.numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _torch(x, dtype, device):
    import torch

    return torch.as_tensor(x, device=device).detach().to(dtype)


def _rows(x, shape, M):
    """A parameter or flag, already an array of the backend, as ``[T, M]`` or ``[1, M]``."""
    rows = shape[0] if tuple(x.shape) == shape else 1
    return x.reshape(rows, M)


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


def _numpy_dtype(torch_dtype):
    import torch

    return np.dtype({torch.float32: np.float32, torch.float64: np.float64}[torch_dtype])


# --------------------------------------------------------------------------- time-major [T, *batch]


def time_major(kind, spec, rewards, values, next_values, last_value, terminated, truncated, gamma, lam,
               plus_values=False):
    """Run estimator ``kind`` over validated time-major inputs; returns a list of results.

    The first result is :math:`x`; with ``plus_values`` the second is :math:`x + V`.
    """
    coef, reads_next, scan = _estimators.ESTIMATORS[kind]
    shape = spec.shape
    T = shape[0]
    M = int(np.prod(shape[1:], dtype=np.int64))
    A = spec.array
    r = A(rewards).reshape(T, M)
    v = r if values is None else A(values).reshape(T, M)
    if spec.backend == "numba":
        zero = spec.dtype.type(0)
        nv = A(next_values).reshape(T, M) if next_values is not None else r
        lv = (np.full(M, 0 if last_value is None else last_value, spec.dtype) if not _checks.is_array(last_value)
              else A(last_value).reshape(M))
        flags = [np.zeros((1, M), np.bool_) if f is None else
                 _rows(np.ascontiguousarray(f if f.dtype == np.bool_ else f != 0), shape, M)
                 for f in (_numpy_flag(terminated), _numpy_flag(truncated))]
        params = [np.full((1, M), p, spec.dtype) if _is_number(p) else _rows(A(p), shape, M)
                  for p in (gamma, lam)]
        x, y = np.empty((T, M), spec.dtype), np.empty((T, M), spec.dtype)
        finite = _kernels.time_major(_kernels.COEFFICIENTS[kind], r, v, nv, next_values is not None, lv,
                                     flags[0], flags[1], params[0], params[1], scan, x, y, plus_values, zero)
        outs = [x, y] if plus_values else [x]
        return [spec.finish(o, finite) for o in outs]
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


def _numpy_flag(f):
    if f is None:
        return None
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
            return np.full((B, 1), p, spec.dtype) if spec.backend == "numba" else p
        p = A(p)
        return p if p.ndim == 2 else p.reshape(B, 1)

    g, l1, l2 = param(gamma), param(lam), param(lam2)
    if spec.backend == "numba":
        m = _numpy_flag(mask)
        m = np.ascontiguousarray(m if m.dtype == np.bool_ else m != 0)
        adv, ret = np.empty((B, L), spec.dtype), np.empty((B, L), spec.dtype)
        finite = _kernels.masked_rows(_kernels.COEFFICIENTS["gae"], r, v, m, g, l1, l2, adv, ret,
                                      spec.dtype.type(0))
        return [spec.finish(adv, finite), spec.finish(ret, finite)]
    m = A(mask)
    valid = m != 0
    nv = _scan.next_valid_values(v, valid)
    coef = _estimators.gae_coefficients
    outs = []
    with np.errstate(all="ignore"):  # non-finite results are reported by finish()
        for lam_, plus in ((l1, False), (l2, True)):
            b, a = coef(r, v, nv, 1, 1, g, lam_)
            b, a = b * m, a * m + (1 - m)  # masked tokens: (b, a) = (0, 1), the carry passes through
            x = _scan.backward_scan(b.T, a.T).T
            outs.append((x + v) * m if plus else x * m)
    return [spec.finish(o, None) for o in outs]
