"""JSON for what crosses the sandbox wall: the cases' inputs going in, the outputs coming out.

Never pickle: the parent reads what untrusted code wrote, and unpickling runs code. Arrays
travel as ``{"__array__": dtype, "shape": [...], "data": [...]}`` (complex ones with
``"imag"``), tuples as ``{"__tuple__": [...]}``, anything else as ``{"__repr__": text}``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode", "decode"]

_MAX_REPR = 300


def encode(x):
    """A JSON-able form of ``x`` (numbers, bool/numeric arrays, tuples, dicts of them)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, tuple):
        return {"__tuple__": [encode(v) for v in x]}
    if isinstance(x, dict):
        return {"__dict__": {str(k): encode(v) for k, v in x.items()}}
    if isinstance(x, np.ndarray) and x.dtype.kind in "biufc":
        out = {"__array__": "bool" if x.dtype.kind == "b" else "complex" if x.dtype.kind == "c" else "float",
               "shape": list(x.shape)}
        if x.dtype.kind == "c":
            out["data"], out["imag"] = x.real.ravel().tolist(), x.imag.ravel().tolist()
        else:
            out["data"] = x.ravel().tolist()
        return out
    text = repr(x)
    return {"__repr__": text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + " ..."}


def decode(x):
    """The inverse of :func:`encode`; raises ``ValueError`` on anything it did not produce."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if not isinstance(x, dict) or len(x) == 0:
        raise ValueError(f"decode: unexpected {type(x).__name__}")
    if "__tuple__" in x:
        return tuple(decode(v) for v in x["__tuple__"])
    if "__dict__" in x:
        return {str(k): decode(v) for k, v in x["__dict__"].items()}
    if "__repr__" in x:
        return str(x["__repr__"])[:_MAX_REPR + 4]
    if "__array__" in x:
        kind, shape = x["__array__"], tuple(int(s) for s in x["shape"])
        dtype = {"bool": bool, "float": np.float64, "complex": np.float64}[kind]
        arr = np.asarray(x["data"], dtype=dtype)
        if kind == "complex":
            arr = arr + 1j * np.asarray(x["imag"], dtype=np.float64)
        return arr.reshape(shape)
    raise ValueError(f"decode: unexpected keys {sorted(x)[:5]}")
