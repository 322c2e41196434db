r"""The grading engine: run a student's function on cases, then compare with the answers.

Grading is two steps, so that the answers never have to be where the student's code runs:

1. :func:`collect` calls the student's function on each case's *inputs* (a fresh copy each
   time) under a time limit and records an :class:`Outcome`: the output, or the error,
   timeout, ``sys.exit()``, and the names of inputs the function modified in place.
   It needs only the inputs.
2. :func:`grade` compares the outcomes with the cases' expected outputs and the
   known-wrong variants, and builds a :class:`CheckResult` with the first failure and a hint.

:func:`run` does both in one process (what a notebook's checker does);
:mod:`gaelib.grade` runs step 1 in a sandboxed child process and step 2 in the grader.

A case fails when the output is not within ``rtol = 1e-4, atol = 1e-5`` of the answer
(float32 code passes; real bugs are far larger), has another shape, is complex, when the
function raised, ran past the time limit, or modified one of its inputs.
"""

from __future__ import annotations

import signal
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gaelib.checkers import feedback

__all__ = ["RTOL", "ATOL", "Failure", "CheckResult", "Case", "Variant", "Outcome", "TimeLimitExceeded",
           "call_with_time_limit", "collect", "grade", "run", "case_passed", "as_numpy", "close"]

RTOL, ATOL = 1e-4, 1e-5  # float32 student code passes; real bugs are far larger


@dataclass
class Failure:
    """The first case a student's function got wrong."""

    index: int
    """Position of the case in the run (0-based)."""
    description: str
    """What the case tests, in words."""
    inputs: dict
    """The arguments, by name, exactly as the function received them."""
    expected: Any
    """gaelib's answer."""
    got: Any
    """What the function returned (``None`` if it raised or timed out)."""
    hint: str | None = None
    """A guess at the bug, from the known-wrong variants the output matches."""
    error: str | None = None
    """The exception raised, as ``Type: message (line)``, a timeout or an exit, if any."""


@dataclass
class CheckResult:
    """What a checker found. ``bool(result)`` is ``result.passed``."""

    name: str
    """The checker, e.g. ``"check_gae"``."""
    passed: bool
    n_cases: int
    """Number of cases in the run."""
    n_passed: int
    """Cases the function got right (0 if it is not implemented)."""
    first_failure: Failure | None = None
    not_implemented: bool = False
    """The function raised ``NotImplementedError``."""
    message: str = field(default="", repr=False)
    """The feedback that was printed."""
    timed_out: bool = False
    """A call ran past the time limit; the cases after it were not run (they count as failed)."""

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        status = ("passed" if self.passed else "not implemented" if self.not_implemented
                  else f"failed at case {self.first_failure.index}")
        return f"CheckResult({self.name}: {status}, {self.n_passed}/{self.n_cases} cases)"


@dataclass
class Case:
    """One test case: the inputs (by argument name, in call order) and gaelib's answer."""

    description: str
    inputs: dict
    expected: np.ndarray
    context: dict = field(default_factory=dict)
    """Named flag arrays that the location hint mentions (``terminated``, ``mask == 0``)."""
    time_axis: int = 0


@dataclass
class Variant:
    """A known-wrong computation: if the student's output matches it, ``hint`` names the bug."""

    hint: str
    fn: Callable[[dict], np.ndarray]


@dataclass
class Outcome:
    """What one call of the student's function did. Holds no answer, only the output."""

    output: Any = None
    """The returned value, torch tensors converted to numpy (``None`` if the call failed)."""
    status: str = "ok"
    """``"ok"``, ``"error"``, ``"not_implemented"``, ``"timeout"``, ``"exit"`` or ``"interrupt"``."""
    error: str | None = None
    """``Type: message (line ...)`` when the call did not return."""
    mutated: list = field(default_factory=list)
    """Names of the inputs the function modified in place."""
    dtype_note: str | None = None
    """The output's dtype when it was too coarse to compare (``torch.bfloat16``, ``float16``)."""


class TimeLimitExceeded(BaseException):
    """Raised inside the student's call when it runs past the time limit.

    A ``BaseException``, so that ``except Exception`` in student code does not swallow it.
    """


# --------------------------------------------------------------------------- conversions


_COARSE = ("bfloat16", "float16", "float8")


def as_numpy(x):
    """An output as a numpy array: float64 for real numbers, complex128 for complex, else object.

    Torch tensors of any dtype (bfloat16 included, which ``.numpy()`` refuses) are converted.
    """
    if x is None:
        return None
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu()
        x = x.resolve_conj().numpy() if x.is_complex() else x.double().numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(x)
        if np.iscomplexobj(arr):
            return arr.astype(np.complex128)
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        return np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x.astype(object)


def _normalise(out) -> tuple[Any, str | None]:
    """The student's return value, made picklable and comparable; and a note on a coarse dtype."""
    note = None
    dtype = str(getattr(out, "dtype", ""))
    if any(c in dtype for c in _COARSE):
        note = dtype
    if isinstance(out, tuple):
        return tuple(_normalise(o)[0] for o in out), note
    return as_numpy(out), note


def close(a, b) -> bool:
    """``a`` is a real array of ``b``'s shape within the tolerances."""
    return (isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype.kind in "fiub"
            and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL)))


def _copy(inputs):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()}


# --------------------------------------------------------------------------- calling the student


def call_with_time_limit(fn, args, seconds: float | None):
    """``fn(*args)``, raising :class:`TimeLimitExceeded` in it after ``seconds``.

    In the main thread of a POSIX process (a script, pytest, a Jupyter kernel, which runs
    cells in its main thread) a ``SIGALRM`` timer interrupts the call, also inside
    ``time.sleep``; it fires again every 50 ms, so a loop that catches the first one with a
    bare ``except:`` meets the next. Elsewhere the call runs in a daemon thread that gets the
    exception asynchronously: that stops Python loops, not a call stuck inside C code, which
    is then abandoned (it keeps running in the background). A loop that catches *every*
    exception and goes on cannot be stopped from inside the process: the class grader
    (:mod:`gaelib.grade`) kills the whole process. ``seconds=None``: no limit.
    """
    if seconds is None:
        return fn(*args)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return _call_with_alarm(fn, args, seconds)
    return _call_in_thread(fn, args, seconds)


def _call_with_alarm(fn, args, seconds):
    active = [True]

    def on_alarm(signum, frame):
        if active[0]:
            raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        return fn(*args)
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _call_in_thread(fn, args, seconds):
    import ctypes

    box: dict = {}

    def target():
        try:
            box["out"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["exc"] = exc

    worker = threading.Thread(target=target, daemon=True, name="gaelib-checker-call")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                   ctypes.py_object(TimeLimitExceeded))
        worker.join(0.1)
        raise TimeLimitExceeded
    if "exc" in box:
        raise box["exc"]
    return box["out"]


def _call(fn, inputs: dict, time_limit: float | None) -> Outcome:
    args = _copy(inputs)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = call_with_time_limit(fn, list(args.values()), time_limit)
    except NotImplementedError:
        return Outcome(status="not_implemented")
    except TimeLimitExceeded:
        return Outcome(status="timeout", error=f"TimeLimitExceeded: the call ran longer than {time_limit:g} s "
                                               f"(an infinite loop, or a loop that never reaches its end?)")
    except SystemExit as exc:
        return Outcome(status="exit", error=f"SystemExit: your function called sys.exit() or exit() "
                                            f"(code {exc.code!r}); return the result instead")
    except KeyboardInterrupt:
        return Outcome(status="interrupt", error="KeyboardInterrupt: the run was interrupted during this call")
    except Exception as exc:  # noqa: BLE001 - any student error becomes feedback
        return Outcome(status="error", error=feedback.error_text(exc))
    mutated = [k for k, v in args.items()
               if isinstance(v, np.ndarray) and not np.array_equal(v, inputs[k], equal_nan=v.dtype.kind == "f")]
    output, note = _normalise(out)
    return Outcome(output, "ok", None, mutated, note)


def collect(fn, inputs: list[dict], *, time_limit: float | None = 5.0) -> list[Outcome]:
    """Call ``fn`` on each case's inputs, positionally, in order; one :class:`Outcome` per call.

    Stops at the first ``NotImplementedError``, timeout or ``KeyboardInterrupt`` (the rest
    would fail the same way, or take as long): the list is then shorter than ``inputs``.
    """
    outcomes = []
    for case_inputs in inputs:
        outcome = _call(fn, case_inputs, time_limit)
        outcomes.append(outcome)
        if outcome.status in ("not_implemented", "timeout", "interrupt"):
            break
    return outcomes


# --------------------------------------------------------------------------- comparing with the answers


def case_passed(outcome: Outcome, case: Case) -> bool:
    """The call returned, left its inputs alone, and its output is within the tolerances."""
    return outcome.status == "ok" and not outcome.mutated and close(outcome.output, case.expected)


def _comparable(outcome: Outcome, case: Case):
    """The output as a real array of the answer's shape, or ``None`` (for the variant hints)."""
    out = outcome.output
    if outcome.status != "ok" or not isinstance(out, np.ndarray) or out.shape != case.expected.shape:
        return None
    return out if out.dtype.kind in "fiub" else None


def grade(name: str, fn_name: str, cases: list[Case], outcomes: list[Outcome], variants: list[Variant], *,
          time_major: bool = True, special=None) -> CheckResult:
    """Compare ``outcomes`` (from :func:`collect`) with ``cases``; the result and its feedback text."""
    if outcomes and outcomes[-1].status == "not_implemented":
        msg = feedback.wrap("", f"{name}: {fn_name} is not implemented yet (it raises NotImplementedError). "
                                f"Write its body, then run this cell again.")
        return CheckResult(name, False, len(cases), 0, None, True, msg)
    first = None
    for i, (outcome, case) in enumerate(zip(outcomes, cases)):
        if case_passed(outcome, case):
            continue
        if outcome.status != "ok":
            first = Failure(i, case.description, _copy(case.inputs), case.expected, None, None, outcome.error)
        else:
            first = Failure(i, case.description, _copy(case.inputs), case.expected, outcome.output,
                            _output_hint(outcome, case))
        break
    n_passed = sum(case_passed(o, c) for o, c in zip(outcomes, cases))
    timed_out = any(o.status == "timeout" for o in outcomes)
    if first is None and len(outcomes) == len(cases):
        return CheckResult(name, True, len(cases), n_passed, None, False,
                           f"{name}: all {len(cases)} cases pass. Well done!")
    if first is None:  # fewer outcomes than cases, all right: the next case was never run
        i = len(outcomes)
        first = Failure(i, cases[i].description, _copy(cases[i].inputs), cases[i].expected, None, None,
                        "NotRun: the function was not called on this case")
    if first.hint is None and first.error is None:
        comparable = [_comparable(o, c) for o, c in zip(outcomes, cases)]
        if special is not None:
            first.hint = special(comparable[first.index], cases[first.index])
        if first.hint is None:
            first.hint = _variant_hint(comparable, cases, variants, first.index)
    msg = (f"{name}: {n_passed} of {len(cases)} cases pass. The first failure is case "
           f"{first.index}:\n" + feedback.describe(first, time_major=time_major))
    if len(outcomes) < len(cases):
        msg += "\n" + feedback.wrap("  ", f"The checker stopped there: the {len(cases) - len(outcomes)} cases "
                                          f"after it were not run and count as failed.")
    if first.hint:
        msg += "\n" + feedback.wrap("  hint: ", first.hint)
    return CheckResult(name, False, len(cases), n_passed, first, False, msg, timed_out)


def _output_hint(outcome: Outcome, case: Case) -> str | None:
    if outcome.mutated:
        return (f"your function modified its input(s) {outcome.mutated} in place (for example "
                f"`rewards *= ...` or `values[t] = ...`); the caller may reuse them. Work on copies "
                f"(`x = x.copy()`) or build new arrays")
    out = outcome.output
    if isinstance(out, np.ndarray) and np.iscomplexobj(out):
        return ("your output is complex: an imaginary part would be dropped silently. Advantages are "
                "real numbers; look for a complex dtype, np.sqrt or a power of a negative number")
    if (outcome.dtype_note and isinstance(out, np.ndarray) and out.shape == case.expected.shape
            and np.allclose(out, case.expected, rtol=1e-2, atol=1e-2)):
        return (f"your output has dtype {outcome.dtype_note}, which keeps only 3 or 4 significant digits: "
                f"compute and return float32 or float64")
    return feedback.shape_hint(out, case.expected)


def _variant_hint(outputs, cases, variants, first_index) -> str:
    """The known-wrong variant that explains the first failure and most of the others."""
    failing = [i for i, (o, c) in enumerate(zip(outputs, cases)) if o is not None and not close(o, c.expected)]
    best, best_n = None, 0
    for v in variants:
        try:
            with np.errstate(all="ignore"):
                if not close(outputs[first_index], as_numpy(v.fn(cases[first_index].inputs))):
                    continue
                n = sum(close(outputs[i], as_numpy(v.fn(cases[i].inputs))) for i in failing)
        except (ValueError, IndexError):  # a variant undefined on some case (an empty row) explains nothing
            continue
        if n > best_n:
            best, best_n = v, n
    if best is None:
        return (f"no common bug matches your output; "
                f"{feedback.location_hint(outputs[first_index], cases[first_index], RTOL, ATOL)}.")
    return f"{best.hint} (this explains {best_n} of the {len(failing)} failing cases)."


def run(name, fn, cases, variants, *, time_major=True, verbose=True, special=None,
        time_limit: float | None = 5.0) -> CheckResult:
    """:func:`collect` then :func:`grade` in this process; print the feedback if ``verbose``."""
    outcomes = collect(fn, [c.inputs for c in cases], time_limit=time_limit)
    result = grade(name, getattr(fn, "__name__", "your function"), cases, outcomes, variants,
                   time_major=time_major, special=special)
    if verbose:
        print(result.message)
    return result
