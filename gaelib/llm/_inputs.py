"""Input checks and numpy/torch conversion shared by the modules of :mod:`gaelib.llm`.

Internal module: the functions are private and may change. Every public function of
``gaelib.llm`` validates its arguments here first, so that a bad input fails with a
``ValueError``/``TypeError`` that names the argument.
"""

from __future__ import annotations

import numbers

import numpy as np

from gaelib import _checks

__all__: list[str] = []


def _np(x):
    if _checks.is_torch(x):
        x = x.detach()
        if not x.dtype.is_floating_point or x.dtype.itemsize >= 4:
            return x.cpu().numpy()
        return x.float().cpu().numpy()
    return np.asarray(x)


def _back(out, like):
    """Return ``out`` (numpy) in the library and dtype of ``like``."""
    if like is not None and _checks.is_torch(like):
        import torch

        out = np.asarray(out)
        # ascontiguousarray makes a 0-d array 1-d: reshape keeps a scalar result 0-d, as in numpy
        return torch.from_numpy(np.ascontiguousarray(out).reshape(out.shape)).to(dtype=like.dtype,
                                                                                 device=like.device)
    return out


def _nonnegative(name, x):
    """A finite real number >= 0 (an ε or a coefficient), returned as float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0; got {x!r}")
    if not (0.0 <= float(x) < float("inf")):  # also false for NaN
        raise ValueError(f"{name} must be a finite number >= 0; got {x!r}")
    return float(x)


def _finite_result(out, what, blame):
    """Raise if a result overflowed (inputs were finite, so only their size can cause it)."""
    if not np.isfinite(out).all():
        raise ValueError(f"{what} overflowed to infinity or NaN; {blame} is too large in magnitude")


def _float_dtype(*arrays):
    dt = np.result_type(*[a.dtype for a in arrays])
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def _batch_major(name, x, backend):
    x = _checks.as_array(name, x, backend)
    if x.ndim != 2 or 0 in tuple(x.shape):
        raise ValueError(f"{name} must be batch-major [batch, tokens] and non-empty; got shape {tuple(x.shape)}")
    _checks.check_float(name, x)
    _checks.check_finite(name, x)
    return x


def _mask(mask, ref_name, ref, backend):
    mask = _checks.as_array("mask", mask, backend)
    _checks.check_flags("mask", mask, ref_name, ref)
    return _np(mask).astype(bool)


def _row_mask(mask, B, backend):
    """A [batch, tokens] 0/1 mask with B rows, as numpy bool."""
    m = _checks.as_array("mask", mask, backend)
    if m.ndim != 2 or m.shape[0] != B or m.shape[1] == 0:
        raise ValueError(f"mask must be [batch, tokens] with batch {B} (one row per score); "
                         f"got shape {tuple(m.shape)}")
    _checks.check_flags("mask", m, "mask", m)
    return _np(m).astype(bool)


def _per_sequence(name, p, B):
    """A float in [0, 1] or an array of shape [batch]; returned as float or numpy [B]."""
    if isinstance(p, bool):
        raise TypeError(f"{name} must be a float in [0, 1]; got a bool")
    if isinstance(p, numbers.Number):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1]; got {p}")
        return float(p)
    a = _np(p)
    if a.ndim == 0:
        return _per_sequence(name, float(a), B)
    if tuple(a.shape) != (B,):
        raise ValueError(f"{name} has shape {tuple(a.shape)}; it must be a float or have shape ({B},), "
                         f"one value per sequence")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be floating point; got dtype {a.dtype}")
    if not (np.all(a >= 0.0) and np.all(a <= 1.0)):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{a.min()}, {a.max()}]")
    return a


def _nonempty_rows(m, what="mask"):
    n = m.sum(axis=1)
    if (n == 0).any():
        i = int(np.flatnonzero(n == 0)[0])
        raise ValueError(f"{what} row {i} has no valid token; every response needs at least one "
                         f"(drop empty responses before computing advantages)")
    return n


def _groups(groups, B):
    """Group ids [B] from an int group size (contiguous groups) or an id array."""
    if isinstance(groups, numbers.Integral) and not isinstance(groups, bool):
        G = int(groups)
        if G < 2 or B % G != 0:
            raise ValueError(f"groups={G}: a group size must be >= 2 and divide the batch size {B}")
        return np.repeat(np.arange(B // G), G)
    g = _np(groups)
    if tuple(g.shape) != (B,):
        raise ValueError(f"groups has shape {tuple(g.shape)}; give one group id per sequence, shape ({B},), "
                         f"or an int group size")
    _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    if (counts < 2).any():
        uniq = np.unique(g)[np.argmin(counts)]
        uniq = uniq.item() if hasattr(uniq, "item") else uniq
        raise ValueError(f"groups: group {uniq!r} has {counts.min()} sample; group baselines need at least "
                         f"2 samples per prompt (verl's GRPO, RLOO and REINFORCE++-baseline each treat a "
                         f"group of one differently; gaelib refuses it)")
    return inverse.reshape(B)


def _scores(scores, backend, B=None):
    s = _checks.as_array("scores", scores, backend)
    if s.ndim != 1 or s.shape[0] == 0:
        raise ValueError(f"scores must have shape [batch] (one number per sequence); got {tuple(s.shape)}")
    if B is not None and s.shape[0] != B:
        raise ValueError(f"scores has shape {tuple(s.shape)} but mask has {B} rows")
    _checks.check_float("scores", s)
    _checks.check_finite("scores", s)
    return s
