"""The words of the checkers' feedback: the failing case as a table, shape and location hints.

Pure formatting: numpy arrays in, text out. The engine (``gaelib.checkers.engine``)
decides which case failed; this module says so in a way a student can act on.
"""

from __future__ import annotations

import os
import textwrap
import traceback

import numpy as np

__all__ = ["error_text", "shape_hint", "location_hint", "wrap", "describe"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def error_text(exc: BaseException) -> str:
    """``Type: message (line N of f: `code`)``, at the deepest frame of the student's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(frames):  # the deepest frame that is neither numpy's nor the checker's
        if "numpy" not in fr.filename and os.path.dirname(os.path.abspath(fr.filename)) != _PACKAGE_DIR:
            code = (fr.line or "").strip()
            where = f" (line {fr.lineno} of {fr.name}" + (f": `{code}`)" if code else ")")
            break
    return f"{type(exc).__name__}: {exc}{where}"


def shape_hint(got, expected) -> str | None:
    """Why ``got`` cannot be compared with ``expected`` (None, a tuple, a shape), or ``None``."""
    if got is None:
        return "your function returned None: did you forget the `return` statement?"
    if isinstance(got, tuple):
        return ("your function returned a tuple; return one array (for example only the "
                "advantages, not (advantages, returns))")
    try:
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return "your function returned something that is not an array of numbers"
    if g.shape == expected.shape:
        if not np.isfinite(g).all():
            return "your output contains NaN or infinity"
        return None
    T = expected.shape[0]
    if expected.ndim == 1 and g.shape == (T, T):
        return (f"your output has shape {g.shape}, the answer has shape {expected.shape}: an array of "
                f"shape ({T}, 1) was combined with one of shape ({T},) and numpy broadcast them to "
                f"({T}, {T}), the bug of the seed article's listing. Keep every array 1-D or check shapes")
    if g.shape == expected.shape[:1] and expected.ndim > 1:
        return (f"your output has shape {g.shape}, the answer {expected.shape}: keep the batch axes. "
                f"Index only the time axis (x[t] is a whole row), so the code works for any [T, *batch]")
    return f"your output has shape {g.shape}; it must have the shape of the inputs, {expected.shape}"


def location_hint(got, case, rtol: float, atol: float) -> str:
    """Where ``got`` is wrong (time steps or token positions) and which episode flags are nearby."""
    wrong = ~np.isclose(got, case.expected, rtol=rtol, atol=atol)
    ax = case.time_axis
    ts = sorted({int(t) for t in np.argwhere(wrong)[:, ax]})
    T = case.expected.shape[ax]
    text = f"wrong at {'time steps' if ax == 0 else 'token positions'} t = {ts} (of 0..{T - 1})"
    marks = []
    for name, flags in case.context.items():
        at = sorted({int(t) for t in np.argwhere(np.asarray(flags))[:, ax]})
        if at:
            marks.append(f"{name} at t = {at}")
    if marks:
        text += "; " + ", ".join(marks)
    if ts:
        text += (f". Start at the latest wrong step, t = {ts[-1]}: a backward recursion carries an "
                 f"error there to every earlier step")
    return text


def wrap(prefix: str, text: str, width: int = 92) -> str:
    """Wrap feedback text so that it reads without horizontal scrolling."""
    return textwrap.fill(text, width, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False, break_long_words=False)


def _fmt(x) -> str:
    if isinstance(x, np.ndarray):
        if x.dtype == bool:
            return np.array2string(x.astype(int), separator=", ")
        if x.dtype.kind in "fiuc":
            return np.array2string(x, precision=4, suppress_small=True, separator=", ")
    text = repr(x)
    return text if len(text) <= 400 else text[:400] + " ..."


def describe(failure, *, time_major: bool) -> str:
    """The failing case: scalars on a line, then a table over t (1-D) or the arrays, expected, got."""
    lines = [wrap("  case: ", failure.description)]
    arrays = {k: v for k, v in failure.inputs.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in failure.inputs.items() if not isinstance(v, np.ndarray)}
    if scalars:
        lines.append("  " + ", ".join(f"{k} = {v!r}" for k, v in scalars.items()))
    got = failure.got if isinstance(failure.got, np.ndarray) else None
    one_d = time_major and all(v.ndim == 1 for v in arrays.values()) and (
        got is None or (got.ndim == 1 and got.dtype.kind in "fiub" and got.shape == failure.expected.shape))
    if one_d and failure.expected is not None:
        cols = {**arrays, "expected": failure.expected}
        if got is not None:
            cols["got"] = got
        names = ["t", *cols]
        width = max(9, *(len(n) + 1 for n in names))
        lines.append("  " + "".join(n.rjust(width) for n in names))
        for t in range(len(failure.expected)):
            row = [str(t)]
            for v in cols.values():
                row.append(str(bool(v[t])) if v.dtype == bool else f"{v[t]:.4f}")
            lines.append("  " + "".join(c.rjust(width) for c in row))
    else:
        for k, v in arrays.items():
            lines.append(f"  {k} =\n    " + _fmt(v).replace("\n", "\n    "))
        if failure.expected is not None:
            lines.append("  expected =\n    " + _fmt(failure.expected).replace("\n", "\n    "))
        if failure.error is None:
            lines.append("  got =\n    " + _fmt(failure.got).replace("\n", "\n    "))
    if failure.error:
        lines.append(wrap("  ", f"your function raised {failure.error}"))
    return "\n".join(lines)
