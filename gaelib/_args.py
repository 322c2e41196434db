"""Checks of the non-time-major arguments of the modules above the core.

Counts (``n_episodes``, ``window``, ...), tolerances, probabilities and small
float tables (an MDP's ``transitions``, a policy ``[S, A]``) are checked here,
once, for :mod:`gaelib.tabular`, :mod:`gaelib.bias_variance`, :mod:`gaelib.rollout`,
:mod:`gaelib.curves`, :mod:`gaelib.render` and :mod:`gaelib.sweep`. Time-major
arrays and discount-like parameters are checked by ``gaelib._checks``, which
these helpers call. Every error names the argument.

Internal module: the functions are private and may change.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from gaelib import _checks

__all__: list[str] = []


def is_integer(x) -> bool:
    """Whether ``x`` is an integer (a bool is not)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_finite_real(x) -> bool:
    """Whether ``x`` is a finite real number (a bool is not)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def float_array(name: str, x, ndim: int | None = None, *, shape: tuple | None = None,
                need: str = "it must have shape", finite: bool = True) -> np.ndarray:
    """``x`` as a float64 numpy array (a copy), optionally of ``ndim`` dimensions or exactly ``shape``.

    Raises ``TypeError`` for non-numeric, bool or complex input and ``ValueError``
    for the wrong number of dimensions, another shape (the message reads
    ``"{name} has shape ...; {need} {shape}"``), or (with ``finite``, the default)
    NaN or infinity.
    """
    if _checks.is_torch(x):
        raise TypeError(f"{name} must be a numpy array (or a list); got a torch tensor. "
                        f"Use {name}.detach().cpu().numpy()")
    x = _checks.as_array(name, x, "numpy")
    if (x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number)
            or np.issubdtype(x.dtype, np.complexfloating)):
        raise TypeError(f"{name} must be a real-valued numeric array; got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {x.shape}")
    if shape is not None and x.shape != tuple(shape):
        raise ValueError(f"{name} has shape {x.shape}; {need} {tuple(shape)}")
    out = x.astype(np.float64)
    if finite:
        _checks.check_finite(name, out)
    return out


def sum_tolerance(dtype, n: int) -> float:
    """Absolute tolerance for "``n`` numbers of ``dtype`` sum to 1".

    1e-8 for float64 and integers; for a lower precision, ``4 n`` units of
    rounding (a float32 softmax row of 4 entries: about 2e-6).
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating) or np.finfo(dtype).eps <= np.finfo(np.float64).eps:
        return 1e-8
    return max(1e-8, 4 * max(int(n), 1) * float(np.finfo(dtype).eps))


def distribution(name: str, x, ndim: int, *, skip_zero_rows=None, **shape) -> np.ndarray:
    """``x`` (last axis = outcomes) as float64 rows that are probability distributions.

    Rows must be non-negative and sum to 1 within :func:`sum_tolerance` of the
    input's dtype (so a float32 ``torch.softmax(...).numpy()`` policy passes); they
    are then renormalised in float64. Where ``skip_zero_rows`` (bool, one entry per
    index of the first axis, e.g. the terminal states) is True, rows of zeros are
    accepted and returned as zeros. ``shape`` and ``need`` go to :func:`float_array`.
    """
    p = float_array(name, x, ndim, **shape)
    dtype = np.asarray(x).dtype
    if (p < 0).any():
        raise ValueError(f"{name} has negative probabilities (min {p.min():.3g})")
    sums = p.sum(axis=-1)
    ok = np.abs(sums - 1.0) <= sum_tolerance(dtype, p.shape[-1])
    if skip_zero_rows is not None:
        zero = np.broadcast_to(np.reshape(skip_zero_rows, skip_zero_rows.shape + (1,) * (sums.ndim - 1)),
                               sums.shape) & (sums == 0)
        ok |= zero
        sums = np.where(zero, 1.0, sums)
    if not ok.all():
        bad = np.abs(sums - 1.0)[~ok].max()
        raise ValueError(f"{name} must sum to 1 along its last axis; off by up to {bad:.3g}")
    return p / sums[..., None]


def integer(name: str, x, minimum: int = 1) -> int:
    """``x`` as an int, >= ``minimum``; ``ValueError`` otherwise (bools and floats too)."""
    if not is_integer(x) or x < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}; got {x!r}")
    return int(x)


def positive_float(name: str, x) -> float:
    """``x`` as a finite float > 0; ``ValueError`` otherwise."""
    if not is_finite_real(x) or not float(x) > 0:
        raise ValueError(f"{name} must be a positive float; got {x!r}")
    return float(x)


def unit_interval(name: str, x, *, below_one: bool = False) -> float:
    """A scalar γ, λ or probability in [0, 1] (or [0, 1) with ``below_one``), as a float.

    ``TypeError`` for a bool or a non-number; ``ValueError`` outside the range (NaN too).
    The range check is :func:`gaelib._checks.check_unit_interval`.
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1]; got {x!r}")
    _checks.check_unit_interval(name, x, None, None)
    if below_one and float(x) >= 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {x}")
    return float(x)


def methods(name: str, obj, *names: str, hint: str = "") -> None:
    """``TypeError`` unless ``obj`` has callable attributes ``names`` (e.g. a model's ``act``)."""
    for method in names:
        if not callable(getattr(obj, method, None)):
            raise TypeError(f"{name} must have the method {method}(...){hint}; got {type(obj).__name__}")


def boolean(name: str, x) -> bool:
    """``x`` as a bool; ``TypeError`` for anything else (a string ``"False"`` is truthy)."""
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {x!r}")
    return bool(x)
