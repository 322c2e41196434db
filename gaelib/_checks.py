"""Input validation shared by every estimator (numpy and torch alike).

Every public function in gaelib checks its inputs here first, so that a wrong
shape, dtype or parameter fails loudly with the argument's name and the shapes
involved, instead of broadcasting silently (the bug in the seed article's
listing: values of shape ``(T, 1)`` against rewards of shape ``(T,)``).

Internal module: the functions are private and may change.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__: list[str] = []


def is_torch(x) -> bool:
    """Whether ``x`` is a ``torch.Tensor``, without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "is_floating_point")


_SCALARS = (float, int)
_PLAIN = (np.ndarray, float, int, type(None))


def backend_of(**arrays) -> str:
    """Return ``"torch"`` or ``"numpy"`` for a set of named array arguments.

    ``None`` entries are ignored; python scalars go with either backend.
    Mixing numpy arrays and torch tensors raises ``TypeError``.
    """
    if all(type(x) in _PLAIN for x in arrays.values()):  # the common case: numpy arrays and numbers
        return "numpy"
    kinds = {}
    for name, x in arrays.items():
        if x is None or type(x) in _SCALARS:
            continue
        if type(x) is np.ndarray:  # the common case, first
            kinds[name] = "numpy"
        elif not isinstance(x, numbers.Number):
            kinds[name] = "torch" if is_torch(x) else "numpy"
    if len(set(kinds.values())) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in kinds.items())
        raise TypeError(f"mixed numpy and torch inputs ({detail}); convert them to one library")
    return next(iter(kinds.values()), "numpy")


def as_array(name: str, x, backend: str):
    """Convert lists and scalars to an array of the backend; leave arrays alone.

    Refused, with the argument's name: numpy masked arrays (the mask would be lost
    silently), object arrays, and float types wider than float64 (``longdouble``) or
    complex. Byte-swapped (big-endian) arrays are converted to the native byte order.
    """
    if type(x) is np.ndarray and backend == "numpy":  # the common case, first (not a masked array)
        dt = x.dtype
        if dt.kind == "b" or (dt.kind == "f" and dt.itemsize <= 8 and dt.isnative):
            return x
    if backend == "torch":
        import torch

        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(as_array(name, x, "numpy"))
        return x
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} is a numpy masked array; gaelib would lose its mask silently. Pass "
                        f"{name}.filled(0.0) with the masked steps marked by terminated/truncated (or a "
                        f"token mask), or {name}.data if the mask does not matter")
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{name} must be numeric; got an object array")
    if x.dtype.kind in "fc" and (x.dtype.kind == "c" or x.dtype.itemsize > 8):
        raise TypeError(f"{name} has dtype {x.dtype}; gaelib computes in float32 or float64 only: "
                        f"convert it with {name}.astype(np.float64)")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return x


def is_float(x) -> bool:
    if type(x) is np.ndarray:
        return x.dtype.kind == "f"
    return bool(x.is_floating_point())


def check_float(name: str, x) -> None:
    """Raise ``TypeError`` unless ``x`` holds floating-point numbers."""
    if not is_float(x):
        raise TypeError(
            f"{name} must be a floating-point array; got dtype {x.dtype}. "
            f"Convert it first, e.g. {name}.astype(np.float32) or {name}.float()"
        )


def check_time_major(name: str, x) -> None:
    """Raise ``ValueError`` unless ``x`` has a time axis and no empty dimension."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have a time axis, shape [T, *batch]; got a scalar")
    if 0 in tuple(x.shape):
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); need T >= 1 and non-empty batch dims")


def check_same_shape(name: str, x, ref_name: str, ref) -> None:
    """Raise ``ValueError`` unless ``x.shape == ref.shape`` exactly (no broadcasting)."""
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} but {ref_name} has shape {tuple(ref.shape)}; "
            f"they must match exactly (gaelib never broadcasts time-major inputs)"
        )


def check_flags(name: str, x, ref_name: str, ref) -> None:
    """Episode-boundary flags: same shape as ``ref``; bool, or numbers that are all 0 or 1."""
    check_same_shape(name, x, ref_name, ref)
    if type(x) is np.ndarray and x.dtype.kind == "b":  # the common case, first
        return
    if is_torch(x):
        import torch

        if x.dtype == torch.bool:
            return
        ok = bool(((x == 0) | (x == 1)).all())
    else:
        if x.dtype == np.bool_:
            return
        if not (np.issubdtype(x.dtype, np.number)):
            raise TypeError(f"{name} must be bool (or 0/1 numbers); got dtype {x.dtype}")
        ok = bool(((x == 0) | (x == 1)).all())
    if not ok:
        raise ValueError(f"{name} must contain only True/False (or 0/1); got other values")


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinity."""
    if is_torch(x):
        import torch

        bad = not bool(torch.isfinite(x).all())
    else:
        bad = not bool(np.isfinite(x).all())
    if bad:
        raise ValueError(f"{name} contains NaN or infinite values")


def check_unit_interval(name: str, x, ref_name: str, ref) -> None:
    """A discount-like parameter: a number, or an array of shape ``ref.shape[1:]``
    (one value per sequence), ``(1, *ref.shape[1:])`` (the same, explicitly constant in
    time) or ``ref.shape`` (one per step), within [0, 1].

    ``None`` is refused (it never means 1). A 1-D ``(T,)`` array is refused when the
    batch is ``(T,)`` too: it could be one value per sequence or one per step.
    """
    if x is None:
        raise TypeError(f"{name} is required (a float in [0, 1]); None does not mean 1")
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a float in [0, 1]; got a bool")
    if isinstance(x, numbers.Number):
        v = float(x)
        if not (0.0 <= v <= 1.0):  # also false for NaN
            raise ValueError(f"{name} must lie in [0, 1]; got {x}")
        return
    shape, full, batch = tuple(x.shape), tuple(ref.shape), tuple(ref.shape[1:])
    if len(batch) == 1 and shape == batch == full[:1]:
        T = full[0]
        raise ValueError(
            f"{name} has shape {shape}, ambiguous with {ref_name} of shape {full}: T = {T} equals the batch "
            f"size, so it could be one value per sequence or one per step. Say which: per sequence, shape "
            f"(1, {T}) ({name}[None, :]); per step, shape {full} (np.broadcast_to({name}[:, None], {full}))"
        )
    allowed = [(), batch, (1, *batch), full]
    if shape not in allowed:
        raise ValueError(
            f"{name} has shape {shape}; with {ref_name} of shape {full} it must be a float, "
            f"shape {batch} (one value per sequence) or shape {full} (one per step)"
        )
    check_float(name, x)
    lo, hi = (float(x.min()), float(x.max()))
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{lo}, {hi}]")


def result_dtype(backend: str, arrays) -> tuple:
    """The dtype rule, one for numpy and torch: ``(result dtype, computation dtype)``.

    The result takes the promoted dtype of the given data arrays (rewards, values,
    next values; never of γ or λ, and never of Python scalars, which do not widen it).
    float16 and bfloat16 are computed in float32 and cast back (and checked after the
    cast); float32 and float64 are computed as they are.
    """
    if backend == "torch":
        import torch

        dt = arrays[0].dtype
        for x in arrays[1:]:
            dt = torch.promote_types(dt, x.dtype)
        return dt, (torch.float32 if dt in (torch.float16, torch.bfloat16) else dt)
    dt = arrays[0].dtype
    if any(x.dtype != dt for x in arrays[1:]):
        dt = np.result_type(*[x.dtype for x in arrays])
    return dt, (np.dtype(np.float32) if dt == np.float16 else dt)
