r"""Self-grading checks for assignments: run a student's estimator against gaelib.

Each checker takes the student's function, runs it on many cases (hand-picked edge
cases first, then random ones from a fixed seed), compares every output with
gaelib's reference, and prints feedback about the **first failing case**: its
inputs, the expected and the obtained output, and a hint. The hint comes from
comparing the student's outputs with known-wrong variants of the estimator (the
bugs learners and popular libraries actually make: truncation treated as
termination, ``values[t]`` where :math:`V(s_{t+1})` is needed, returns instead of
advantages, ...). A function that raises ``NotImplementedError`` gets a one-line
"not implemented yet" message, not a traceback.

Every checker returns a :class:`CheckResult` (``passed``, ``n_cases``,
``first_failure``, ...), so notebooks and tests can assert on it::

    from gaelib.checkers import check_gae
    result = check_gae(my_gae)        # prints the feedback
    assert result.passed

What the student's function receives, for every checker: numpy ``float64`` arrays,
**time-major** ``[T, *batch]`` (axis 0 is time, any batch axes after it, possibly
none), episode flags as ``bool`` arrays of the same shape, and ``gamma`` / ``lam``
as python floats, passed positionally. It must return one numpy array (a torch
tensor or a list is accepted) of the same shape. The token-level checker is the
exception: its arrays are batch-major ``[batch, tokens]``, as in the LLM engines.
"""

from __future__ import annotations

import textwrap
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "CheckResult",
    "Failure",
    "check_td_residuals",
    "check_gae",
    "check_lambda_returns",
    "check_discounted_cumsum",
    "check_token_level_gae",
]

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
    """gaelib's answer (``None`` if the function raised)."""
    got: Any
    """What the function returned (``None`` if it raised)."""
    hint: str | None = None
    """A guess at the bug, from the known-wrong variants the output matches."""
    error: str | None = None
    """The exception raised, as ``Type: message (line)``, if any."""


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

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        status = ("passed" if self.passed else "not implemented" if self.not_implemented
                  else f"failed at case {self.first_failure.index}")
        return f"CheckResult({self.name}: {status}, {self.n_passed}/{self.n_cases} cases)"


@dataclass
class _Case:
    description: str
    inputs: dict
    expected: np.ndarray
    context: dict = field(default_factory=dict)  # flags used by the location hint
    time_axis: int = 0


@dataclass
class _Variant:
    hint: str
    fn: Callable[[dict], np.ndarray]


# --------------------------------------------------------------------------- the engine


def _as_numpy(x):
    if x is None:
        return None
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(x, dtype=object)


def _close(a, b) -> bool:
    return a is not None and a.shape == b.shape and a.dtype != object and bool(
        np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _copy(inputs):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()}


def _error_text(exc: BaseException, fn_name: str) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(frames):  # the deepest frame that is not numpy's own
        if "numpy" not in fr.filename and fr.filename != __file__:
            code = (fr.line or "").strip()
            where = f" (line {fr.lineno} of {fr.name}" + (f": `{code}`)" if code else ")")
            break
    return f"{type(exc).__name__}: {exc}{where}"


def _call(fn, case: _Case):
    """Run the student's function on a copy of the inputs; return (output, error, mutated)."""
    args = _copy(case.inputs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = fn(*args.values())
    mutated = [k for k, v in args.items()
               if isinstance(v, np.ndarray) and not np.array_equal(v, case.inputs[k])]
    return out, mutated


def _shape_hint(got, expected) -> str | None:
    if got is None:
        return "your function returned None: did you forget the `return` statement?"
    if isinstance(got, tuple):
        return ("your function returned a tuple; return one array (for example only the "
                "advantages, not (advantages, returns))")
    g = _as_numpy(got)
    if g.dtype == object:
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


def _location_hint(got, case: _Case) -> str:
    wrong = ~np.isclose(got, case.expected, rtol=RTOL, atol=ATOL)
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


def _wrap(prefix: str, text: str, width: int = 92) -> str:
    """Wrap feedback text so that it reads without horizontal scrolling."""
    return textwrap.fill(text, width, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False, break_long_words=False)


def _fmt(x) -> str:
    if isinstance(x, np.ndarray):
        if x.dtype == bool:
            return np.array2string(x.astype(int), separator=", ")
        return np.array2string(x, precision=4, suppress_small=True, separator=", ")
    return repr(x)


def _describe(failure: Failure, *, time_major: bool) -> str:
    lines = [_wrap("  case: ", failure.description)]
    arrays = {k: v for k, v in failure.inputs.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in failure.inputs.items() if not isinstance(v, np.ndarray)}
    if scalars:
        lines.append("  " + ", ".join(f"{k} = {v!r}" for k, v in scalars.items()))
    got = _as_numpy(failure.got) if failure.got is not None and not isinstance(failure.got, tuple) else None
    one_d = time_major and all(v.ndim == 1 for v in arrays.values()) and (
        got is None or (got.ndim == 1 and got.dtype != object and got.shape == failure.expected.shape))
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
            shown = got if got is not None else failure.got
            lines.append("  got =\n    " + _fmt(shown).replace("\n", "\n    "))
    if failure.error:
        lines.append(_wrap("  ", f"your function raised {failure.error}"))
    return "\n".join(lines)


def _run(name, fn, cases, variants, *, time_major=True, verbose=True, special=None) -> CheckResult:
    fn_name = getattr(fn, "__name__", "your function")
    outputs, first, mutated_any = [], None, []
    for i, case in enumerate(cases):
        try:
            out, mutated = _call(fn, case)
        except NotImplementedError:
            msg = _wrap("", f"{name}: {fn_name} is not implemented yet (it raises NotImplementedError). "
                            f"Write its body, then run this cell again.")
            if verbose:
                print(msg)
            return CheckResult(name, False, len(cases), 0, None, True, msg)
        except Exception as exc:  # noqa: BLE001 - any student error becomes feedback
            if first is None:
                first = Failure(i, case.description, _copy(case.inputs), case.expected, None,
                                None, _error_text(exc, fn_name))
            outputs.append(None)
            continue
        mutated_any += [m for m in mutated if m not in mutated_any]
        got = _as_numpy(out) if not isinstance(out, tuple) else None
        ok = got is not None and _close(got, case.expected)
        outputs.append(got if got is not None and got.shape == case.expected.shape else None)
        if not ok and first is None:
            first = Failure(i, case.description, _copy(case.inputs), case.expected, out,
                            _shape_hint(out, case.expected))
    n_passed = sum(o is not None and _close(o, c.expected) for o, c in zip(outputs, cases))
    if first is None:
        msg = f"{name}: all {len(cases)} cases pass. Well done!"
    else:
        if first.hint is None and first.error is None and special is not None:
            first.hint = special(outputs[first.index], cases[first.index])
        if first.hint is None and first.error is None:
            first.hint = _variant_hint(outputs, cases, variants, first.index)
        msg = (f"{name}: {n_passed} of {len(cases)} cases pass. The first failure is case "
               f"{first.index}:\n" + _describe(first, time_major=time_major))
        if first.hint:
            msg += "\n" + _wrap("  hint: ", first.hint)
    if mutated_any:
        msg += "\n" + _wrap("  note: ", f"your function modified its input(s) {mutated_any} in place; "
                                        f"work on copies, callers may reuse them")
    if verbose:
        print(msg)
    return CheckResult(name, first is None, len(cases), n_passed, first, False, msg)


def _variant_hint(outputs, cases, variants, first_index) -> str:
    """The known-wrong variant that explains the first failure and most of the others."""
    failing = [i for i, (o, c) in enumerate(zip(outputs, cases)) if o is not None and not _close(o, c.expected)]
    best, best_n = None, 0
    for v in variants:
        with np.errstate(all="ignore"):
            if not _close(outputs[first_index], _as_numpy(v.fn(cases[first_index].inputs))):
                continue
            n = sum(_close(outputs[i], _as_numpy(v.fn(cases[i].inputs))) for i in failing)
        if n > best_n:
            best, best_n = v, n
    if best is None:
        return f"no common bug matches your output; {_location_hint(outputs[first_index], cases[first_index])}."
    return f"{best.hint} (this explains {best_n} of the {len(failing)} failing cases)."


# --------------------------------------------------------------------------- reference loop and variants


def _loop(r, v, nv, boot_cut, trace_cut, g_delta, g_trace, *, forward=False, zero_last=False):
    """δ_t = r_t + g_delta (1 - boot_cut_t) nv_t - v_t;  A_t = δ_t + g_trace (1 - trace_cut_t) A_(t+1)."""
    delta = r + g_delta * (1.0 - boot_cut) * nv - v
    out = np.zeros_like(delta)
    acc = np.zeros_like(delta[0])
    T = len(r)
    steps = range(T) if forward else reversed(range(T))
    for t in steps:
        acc = delta[t] + g_trace * (1.0 - trace_cut[t]) * acc
        out[t] = acc
    if zero_last:
        out[-1] = 0.0
    return out


def _shift(values, last):
    return np.concatenate([values[1:], np.asarray(last, values.dtype)[None]], axis=0)


def _gae_variants(kind: str) -> list[_Variant]:
    """Known-wrong GAE computations. kind: 'adv' (advantages) or 'ret' (λ-returns = A + V)."""

    def make(hint, **kw):
        def fn(c):
            r, v, nv = c["rewards"], c["values"], c["next_values"]
            term = c["terminated"].astype(float)
            trunc = c.get("truncated", np.zeros_like(r, bool)).astype(float)
            g, lam = c["gamma"], c.get("lam", 0.0)
            nv_ = {"given": nv, "values": v, "shift_given": _shift(v, nv[-1]),
                   "shift_zero": _shift(v, np.zeros_like(v[0]))}[kw.get("nv", "given")]
            if kw.get("shift_term"):  # terminated[t+1] used at step t
                term = np.concatenate([term[1:], np.zeros_like(term[:1])], axis=0)
            boot = {"term": term, "both": np.maximum(term, trunc), "none": 0 * term}[kw.get("boot", "term")]
            trace = {"both": np.maximum(term, trunc), "term": term, "trunc": trunc,
                     "none": 0 * term}[kw.get("trace", "both")]
            gd = kw.get("g_delta", lambda g, lam: g)(g, lam)
            gt = kw.get("g_trace", lambda g, lam: g * lam)(g, lam)
            a = _loop(r, v, nv_, boot, trace, gd, gt, forward=kw.get("forward", False),
                      zero_last=kw.get("zero_last", False))
            if kw.get("out") == "other":
                return a if kind == "ret" else a + v
            if kw.get("out") == "neg":
                a = -a
            return a + v if kind == "ret" else a
        return _Variant(hint, fn)

    other = ("you returned the advantages instead of the λ-returns: the critic's target is "
             "advantages + values" if kind == "ret" else
             "you returned the returns (advantages + values) instead of the advantages")
    return [
        make(other, out="other"),
        make("your result equals the answer with truncation treated as termination: at truncated[t] "
             "s_(t+1) is not terminal, so keep gamma * next_values[t] in delta_t; only the λ-trace stops",
             boot="both"),
        make("the λ-trace leaks across a truncation into the next episode: after truncated[t] do not add "
             "gamma*lam*A_(t+1) (step t+1 is another episode)", trace="term"),
        make("termination is ignored: after terminated[t], s_(t+1) is terminal, so drop gamma * "
             "next_values[t] and stop the λ-trace", boot="none", trace="trunc"),
        make("at a termination you zeroed the bootstrap value but still added gamma*lam*A_(t+1) from "
             "the next episode: stop the λ-trace too", trace="trunc"),
        make("at a termination you stopped the λ-trace but still bootstrapped gamma * next_values[t]: "
             "a terminal state has value 0", boot="none"),
        make("off by one: you read terminated[t+1] (CleanRL stores dones with the next observation); "
             "here terminated[t] says that s_(t+1), the state right after step t, is terminal", shift_term=True),
        make("episode ends are ignored altogether: use terminated and truncated", boot="none", trace="none"),
        make("off by one: you used values[t] where V(s_(t+1)) = next_values[t] is needed", nv="values"),
        make("you took V(s_(t+1)) from values[t+1] instead of next_values[t]: after a truncation "
             "values[t+1] is the first state of the next episode, not the final observation", nv="shift_given"),
        make("the last step bootstraps from 0: at the end of the arrays V(s_T) = next_values[T-1] is "
             "not 0 (the rollout was only cut there)", nv="shift_zero"),
        make("you returned the TD residuals delta_t: GAE also adds gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: 0.0),
        make("the recursion uses gamma where it needs gamma*lam: A_t = delta_t + gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: g),
        make("the recursion uses lam where it needs gamma*lam: A_t = delta_t + gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: lam),
        make("delta_t is missing gamma: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)",
             g_delta=lambda g, lam: 1.0),
        make("you accumulated forwards in time (A_t from A_(t-1)); GAE sums future residuals: loop "
             "t = T-1, ..., 0", forward=True),
        make("the last step's advantage is set to 0; it is delta_(T-1)", zero_last=True),
        make("the sign is flipped: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)", out="neg"),
    ]


# --------------------------------------------------------------------------- case generation


def _episode_case(description, rewards, values, next_values, terminated=None, truncated=None, *,
                  gamma, lam=None, truncation_arg=True):
    r = np.asarray(rewards, float)
    c = {"rewards": r, "values": np.asarray(values, float), "next_values": np.asarray(next_values, float),
         "terminated": np.zeros(r.shape, bool) if terminated is None else np.asarray(terminated, bool)}
    if truncation_arg:
        c["truncated"] = np.zeros(r.shape, bool) if truncated is None else np.asarray(truncated, bool)
    c["gamma"] = float(gamma)
    if lam is not None:
        c["lam"] = float(lam)
    ctx = {"terminated": c["terminated"]}
    if truncated is not None:
        ctx["truncated"] = np.asarray(truncated, bool)
    return description, c, ctx


def _flags(T, at):
    f = np.zeros(T, bool)
    f[list(at)] = True
    return f


def _hand_episodes(lam: float | None, truncation_arg: bool = True):
    """Hand-picked edge cases, simplest first. Values chosen so each bug changes the answer."""
    g, lm = 0.9, (0.8 if lam is not None else None)
    r4, v4 = [1.0, 0.0, 2.0, 1.0], [0.5, 1.0, -0.5, 2.0]
    nv4 = [1.0, -0.5, 2.0, 1.5]  # values[t+1], and V(s_T) = 1.5 after the last step
    cases = [
        _episode_case("T = 1, a single step; the end of the arrays bootstraps from next_values[0]",
                      [1.0], [0.5], [2.0], gamma=g, lam=lm, truncation_arg=truncation_arg),
        _episode_case("T = 4, no episode end inside the rollout", r4, v4, nv4, gamma=g, lam=lm,
                      truncation_arg=truncation_arg),
        _episode_case("termination at the first step (terminated[0]); next_values[0] is the first state "
                      "of the next episode", r4, v4, nv4, _flags(4, [0]), gamma=g, lam=lm,
                      truncation_arg=truncation_arg),
        _episode_case("termination at the last step (terminated[3])", r4, v4, nv4, _flags(4, [3]),
                      gamma=g, lam=lm, truncation_arg=truncation_arg),
    ]
    trunc_cases = [
        _episode_case("truncation in the middle (truncated[1], a time limit): next_values[1] = 3.0 is V of "
                      "the final observation, values[2] starts a new episode",
                      r4, v4, [1.0, 3.0, 2.0, 1.5], None, _flags(4, [1]), gamma=g, lam=lm,
                      truncation_arg=truncation_arg),
        _episode_case("truncation at the last step (truncated[3])", r4, v4, nv4, None, _flags(4, [3]),
                      gamma=g, lam=lm, truncation_arg=truncation_arg),
        _episode_case("a termination (terminated[1]) and a truncation (truncated[3]) in one rollout",
                      [0.0, 1.0, 1.0, 0.0, 2.0], [1.0, 0.5, 0.0, 1.0, 0.5], [0.5, 0.0, 1.0, 4.0, -1.0],
                      _flags(5, [1]), _flags(5, [3]), gamma=g, lam=lm, truncation_arg=truncation_arg),
    ]
    if not truncation_arg:  # td residuals: no truncated argument, but next_values still matter there
        trunc_cases = [_episode_case(
            "after a time-limit truncation at step 1: next_values[1] = 3.0 is V of the final observation, "
            "values[2] starts a new episode", r4, v4, [1.0, 3.0, 2.0, 1.5], gamma=g,
            truncation_arg=False)]
    cases += trunc_cases
    cases.append(_episode_case("gamma = 0: only the immediate reward counts", r4, v4, nv4, _flags(4, [1]),
                               gamma=0.0, lam=lm, truncation_arg=truncation_arg))
    if lam is not None:
        cases += [
            _episode_case("lam = 0: GAE is the TD residual", r4, v4, nv4, _flags(4, [1]), gamma=g, lam=0.0,
                          truncation_arg=truncation_arg),
            _episode_case("lam = 1: GAE is the discounted return (bootstrapped at the end) minus V",
                          r4, v4, nv4, _flags(4, [1]), gamma=g, lam=1.0, truncation_arg=truncation_arg),
            _episode_case("gamma = 1 and lam = 1: reward-to-go minus V", r4, v4, nv4, _flags(4, [2]),
                          gamma=1.0, lam=1.0, truncation_arg=truncation_arg),
        ]
    else:
        cases.append(_episode_case("gamma = 1: no discount", r4, v4, nv4, _flags(4, [2]), gamma=1.0,
                                   truncation_arg=False))
    return cases


def _random_episode(rng, T, batch, lam: bool, truncation_arg: bool):
    shape = (T, *batch)
    r = np.round(rng.normal(size=shape), 2)
    v = np.round(rng.normal(size=shape), 2)
    term = rng.random(shape) < 0.15
    trunc = (rng.random(shape) < 0.15) & ~term if truncation_arg else np.zeros(shape, bool)
    final = np.round(rng.normal(size=shape) + 2.0, 2)  # V(final observation) after a truncation
    last = np.round(rng.normal(size=batch), 2)
    nv = np.where(trunc, final, _shift(v, last))
    if not truncation_arg:  # time limits still happen: next_values holds V(final obs) there
        nv = np.where(rng.random(shape) < 0.15, final, nv)
    g = float(rng.choice([0.5, 0.9, 0.99, 1.0]))
    lm = float(rng.choice([0.0, 0.5, 0.9, 0.95, 1.0])) if lam else None
    desc = f"random rollout, T = {T}, batch shape {batch}"
    return _episode_case(desc, r, v, nv, term, trunc if truncation_arg else None, gamma=g, lam=lm,
                         truncation_arg=truncation_arg)


def _batched_hand(lam: bool, truncation_arg: bool):
    """The same edge cases side by side: batch shape (3,) and (2, 3)."""
    rng = np.random.default_rng(1234)
    out = []
    for batch in [(3,), (2, 3)]:
        T = 5
        shape = (T, *batch)
        r = np.round(rng.normal(size=shape), 1)
        v = np.round(rng.normal(size=shape), 1)
        term = np.zeros(shape, bool)
        trunc = np.zeros(shape, bool)
        flat_t, flat_tr = term.reshape(T, -1), trunc.reshape(T, -1)
        flat_t[0, 0] = True      # first sequence: terminates at the first step
        flat_t[T - 1, 1] = True  # second: at the last step
        if truncation_arg:
            flat_tr[2, 2] = True  # third: truncated in the middle
        last = np.round(rng.normal(size=batch), 1)
        nv = _shift(v, last)
        nv.reshape(T, -1)[2, 2] = 3.0
        out.append(_episode_case(
            f"batch shape {batch}: sequence 0 terminates at t = 0, sequence 1 at t = {T - 1}"
            + (", sequence 2 is truncated at t = 2" if truncation_arg else ""),
            r, v, nv, term, trunc if truncation_arg else None, gamma=0.9, lam=0.8 if lam else None,
            truncation_arg=truncation_arg))
    return out


def _episode_cases(reference, *, lam: bool, truncation_arg: bool, n_random: int, seed: int):
    raw = _hand_episodes(0.8 if lam else None, truncation_arg) + _batched_hand(lam, truncation_arg)
    rng = np.random.default_rng(seed)
    batches = [(), (4,), (2, 3)]
    for i in range(n_random):
        raw.append(_random_episode(rng, int(rng.integers(1, 11)), batches[i % 3], lam, truncation_arg))
    return [_Case(d, c, _as_numpy(reference(c)), ctx) for d, c, ctx in raw]


# --------------------------------------------------------------------------- the checkers


def _ref_gae(c):
    from gaelib import gae

    return gae(c["rewards"], c["values"], next_values=c["next_values"], terminated=c["terminated"],
               truncated=c["truncated"], gamma=c["gamma"], lam=c["lam"]).advantages


def _ref_lambda_returns(c):
    from gaelib import lambda_returns

    return lambda_returns(c["rewards"], c["values"], next_values=c["next_values"],
                          terminated=c["terminated"], truncated=c["truncated"],
                          gamma=c["gamma"], lam=c["lam"])


def _ref_td(c):
    from gaelib import td_residuals

    return td_residuals(c["rewards"], c["values"], next_values=c["next_values"],
                        terminated=c["terminated"], gamma=c["gamma"])


def check_td_residuals(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True) -> CheckResult:
    r"""Check a student's TD residuals against :func:`gaelib.td_residuals`.

    The function to write::

        student_td_residuals(rewards, values, next_values, terminated, gamma) -> deltas

    .. math:: \delta_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\, V(s_{t+1}) - V(s_t)

    The student's function receives, positionally:

    - ``rewards``: ``[T, *batch]`` float64; ``rewards[t]`` is received on the step from
      :math:`s_t` to :math:`s_{t+1}`.
    - ``values``: ``[T, *batch]`` float64, :math:`V(s_t)`.
    - ``next_values``: ``[T, *batch]`` float64, :math:`V(s_{t+1})`. After a time-limit
      truncation it is V of the episode's final observation (not ``values[t+1]``).
    - ``terminated``: ``[T, *batch]`` bool; :math:`s_{t+1}` is terminal (value 0).
    - ``gamma``: float in [0, 1].

    The student's function returns a ``[T, *batch]`` array of :math:`\delta_t`.

    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.
        verbose: print the feedback.

    Returns:
        :class:`CheckResult`.
    """
    cases = _episode_cases(_ref_td, lam=False, truncation_arg=False, n_random=n_random, seed=seed)

    def v(hint, f):
        return _Variant(hint, f)

    variants = [
        v("termination is ignored: after terminated[t], s_(t+1) is terminal and its value is 0",
          lambda c: c["rewards"] + c["gamma"] * c["next_values"] - c["values"]),
        v("off by one: you used values[t] where V(s_(t+1)) = next_values[t] is needed",
          lambda c: c["rewards"] + c["gamma"] * (1 - c["terminated"]) * c["values"] - c["values"]),
        v("you took V(s_(t+1)) from values[t+1] instead of next_values[t]: wrong after a truncation "
          "(values[t+1] starts the next episode) and at the last step",
          lambda c: c["rewards"] + c["gamma"] * (1 - c["terminated"]) * _shift(c["values"], c["next_values"][-1])
          - c["values"]),
        v("the last step bootstraps from 0: at the end of the arrays use next_values[T-1]",
          lambda c: c["rewards"] + c["gamma"] * (1 - c["terminated"]) * _shift(c["values"], 0 * c["values"][0])
          - c["values"]),
        v("gamma is missing: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)",
          lambda c: c["rewards"] + (1 - c["terminated"]) * c["next_values"] - c["values"]),
        v("the sign is flipped: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)",
          lambda c: -_ref_td(c)),
        v("you returned the one-step target r_t + gamma*V(s_(t+1)) without subtracting V(s_t)",
          lambda c: _ref_td(c) + c["values"]),
        v("gamma multiplies the reward instead of the next value",
          lambda c: c["gamma"] * c["rewards"] + (1 - c["terminated"]) * c["next_values"] - c["values"]),
    ]
    return _run("check_td_residuals", student_fn, cases, variants, verbose=verbose)


def check_gae(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True) -> CheckResult:
    r"""Check a student's GAE advantages against :func:`gaelib.gae`.

    The function to write::

        student_gae(rewards, values, next_values, terminated, truncated, gamma, lam) -> advantages

    .. math::
        \delta_t = r_t + \gamma (1 - \mathrm{terminated}_t) V(s_{t+1}) - V(s_t), \qquad
        \hat A_t = \delta_t + \gamma\lambda\,(1 - \mathrm{terminated}_t)(1 - \mathrm{truncated}_t)\,\hat A_{t+1},

    with :math:`\hat A_T = 0` after the last step of the arrays.

    The student's function receives, positionally:

    - ``rewards``: ``[T, *batch]`` float64; ``rewards[t]`` is received on the step from
      :math:`s_t` to :math:`s_{t+1}`.
    - ``values``: ``[T, *batch]`` float64, :math:`V(s_t)`.
    - ``next_values``: ``[T, *batch]`` float64, :math:`V(s_{t+1})`: ``values[t+1]`` inside an
      episode, V of the final observation after a truncation, the value after the last
      step at ``T-1``; any number after a termination (it must be ignored there).
    - ``terminated``: ``[T, *batch]`` bool; :math:`s_{t+1}` is terminal.
    - ``truncated``: ``[T, *batch]`` bool; the episode was cut after step ``t`` (bootstrap from
      ``next_values[t]``, but stop the λ-trace).
    - ``gamma``: float in [0, 1].
    - ``lam``: float in [0, 1].

    The student's function returns a ``[T, *batch]`` array of advantages :math:`\hat A_t`.

    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.
        verbose: print the feedback.

    Returns:
        :class:`CheckResult`.
    """
    cases = _episode_cases(_ref_gae, lam=True, truncation_arg=True, n_random=n_random, seed=seed)
    return _run("check_gae", student_fn, cases, _gae_variants("adv"), verbose=verbose)


def check_lambda_returns(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True) -> CheckResult:
    r"""Check a student's λ-returns (the critic's targets) against :func:`gaelib.lambda_returns`.

    The function to write::

        student_lambda_returns(rewards, values, next_values, terminated, truncated, gamma, lam) -> returns

    .. math::
        G^\lambda_t = r_t + \gamma (1 - \mathrm{terminated}_t)\big[(1 - \lambda c_t) V(s_{t+1})
        + \lambda c_t\, G^\lambda_{t+1}\big], \qquad c_t = (1 - \mathrm{truncated}_t)\,[t < T-1],

    which equals GAE's advantages plus ``values``. Either route is accepted.

    The student's function receives as for :func:`check_gae`.

    The student's function returns a ``[T, *batch]`` array of :math:`G^\lambda_t`.

    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.
        verbose: print the feedback.

    Returns:
        :class:`CheckResult`.
    """
    cases = _episode_cases(_ref_lambda_returns, lam=True, truncation_arg=True, n_random=n_random, seed=seed)

    def reward_to_go(c):
        from gaelib import discounted_cumsum

        return discounted_cumsum(c["rewards"], c["gamma"], done=c["terminated"] | c["truncated"])

    variants = _gae_variants("ret") + [
        _Variant("you returned the Monte Carlo reward-to-go (no bootstrap, no λ): the λ-return mixes "
                 "n-step returns that bootstrap from V(s_(t+n))", reward_to_go),
    ]
    return _run("check_lambda_returns", student_fn, cases, variants, verbose=verbose)


def check_discounted_cumsum(student_fn, *, n_random: int = 48, seed: int = 0,
                            verbose: bool = True) -> CheckResult:
    r"""Check a student's discounted cumulative sum against :func:`gaelib.discounted_cumsum`.

    The function to write::

        student_discounted_cumsum(x, discount, done) -> y

    .. math:: y_t = x_t + \gamma\,(1 - \mathrm{done}_t)\, y_{t+1}, \qquad y_T = 0.

    With ``x = rewards`` this is the reward-to-go; with ``x = δ`` and discount γλ, GAE.

    The student's function receives, positionally:

    - ``x``: ``[T, *batch]`` float64.
    - ``discount``: float in [0, 1].
    - ``done``: ``[T, *batch]`` bool; the sum stops after step ``t`` (an episode ended there).

    The student's function returns a ``[T, *batch]`` array ``y``.

    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.
        verbose: print the feedback.

    Returns:
        :class:`CheckResult`.
    """
    from gaelib import discounted_cumsum

    def case(desc, x, discount, done_at=()):
        x = np.asarray(x, float)
        done = np.zeros(x.shape, bool)
        for idx in done_at:
            done[idx] = True
        return desc, {"x": x, "discount": float(discount), "done": done}, {"done": done}

    x4 = [1.0, 2.0, 0.0, 3.0]
    raw = [
        case("T = 1", [2.0], 0.5),
        case("T = 4, no episode end", x4, 0.5),
        case("done at the first step (done[0])", x4, 0.5, [0]),
        case("done at the last step (done[3])", x4, 0.5, [3]),
        case("done in the middle (done[1])", x4, 0.5, [1]),
        case("discount = 0", x4, 0.0, [2]),
        case("discount = 1: a plain sum to the episode's end", x4, 1.0, [1]),
        case("batch shape (3,): done at t = 0, 3 and 1", np.arange(12.0).reshape(4, 3) % 5, 0.9,
             [(0, 0), (3, 1), (1, 2)]),
    ]
    rng = np.random.default_rng(seed)
    batches = [(), (4,), (2, 3)]
    for i in range(n_random):
        T = int(rng.integers(1, 11))
        shape = (T, *batches[i % 3])
        x = np.round(rng.normal(size=shape), 2)
        d, c, ctx = case(f"random, T = {T}, batch shape {batches[i % 3]}", x,
                         float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0])))
        c["done"][...] = rng.random(shape) < 0.2
        raw.append((d, c, ctx))
    cases = [_Case(d, c, _as_numpy(discounted_cumsum(c["x"], c["discount"], done=c["done"])), ctx)
             for d, c, ctx in raw]

    def loop(c, *, use_done=True, shift_done=False, forward=False):
        x, g, done = c["x"], c["discount"], c["done"].astype(float)
        if not use_done:
            done = 0 * done
        if shift_done == "late":  # done[t-1] used at step t
            done = np.concatenate([np.zeros_like(done[:1]), done[:-1]], axis=0)
        elif shift_done:  # done[t+1] used at step t
            done = np.concatenate([done[1:], np.zeros_like(done[:1])], axis=0)
        return _loop(x, 0 * x, 0 * x, 0 * x, done, 0.0, g, forward=forward)

    variants = [
        _Variant("done is ignored: the sum runs across episode ends", lambda c: loop(c, use_done=False)),
        _Variant("off by one: you read done[t+1] (CleanRL stores dones with the next observation); here "
                 "done[t] means the episode ended after step t, so y_t = x_t when done[t]",
                 lambda c: loop(c, shift_done=True)),
        _Variant("off by one: you read done[t-1]; done[t] means the episode ended after step t, so y_t = "
                 "x_t when done[t]", lambda c: loop(c, shift_done="late")),
        _Variant("you accumulated forwards in time; the sum runs over the future: loop t = T-1, ..., 0",
                 lambda c: loop(c, forward=True)),
        _Variant("the discount is not applied: y_t = x_t + discount * (1 - done_t) * y_(t+1)",
                 lambda c: loop({**c, "discount": 1.0})),
        _Variant("np.cumsum sums the past, x_0 + ... + x_t; this sum runs over the future, discounted: "
                 "loop t = T-1, ..., 0", lambda c: np.cumsum(c["x"], axis=0)),
        _Variant("you returned the episode's total G_0 at every step instead of the reward-to-go",
                 lambda c: np.broadcast_to(loop(c, use_done=False)[:1], c["x"].shape)),
        _Variant("the discount multiplies x_t too: y_t = x_t + discount * y_(t+1)",
                 lambda c: c["discount"] * loop(c)),
    ]
    return _run("check_discounted_cumsum", student_fn, cases, variants, verbose=verbose)


# --------------------------------------------------------------------------- token level (batch-major)


def _ref_token(c):
    from gaelib.llm import token_gae

    return token_gae(c["rewards"], c["values"], c["mask"], gamma=c["gamma"], lam=c["lam"]).advantages


def _token_loop(c, *, mode="skip", bootstrap_last=False, g_trace=None):
    """Batch-major variants of token-level GAE, one row at a time."""
    r, v, m = c["rewards"], c["values"], c["mask"].astype(bool)
    g, lam = c["gamma"], c["lam"]
    gt = g * lam if g_trace is None else g_trace(g, lam)
    out = np.zeros_like(r)
    for b in range(r.shape[0]):
        if mode == "skip":  # gaelib / verl: masked tokens are skipped
            idx = np.flatnonzero(m[b])
        else:  # "all": every position is a step (pads included)
            idx = np.arange(r.shape[1])
        rr = r[b, idx] * (m[b, idx] if mode in ("zero_gap", "all") else 1)
        vv = v[b, idx] * (m[b, idx] if mode == "zero_gap" else 1)
        if mode == "zero_gap":  # OpenRLHF: values and rewards zeroed, all positions are steps
            idx = np.arange(r.shape[1])
            rr, vv = r[b] * m[b], v[b] * m[b]
        last = vv[-1] if bootstrap_last else 0.0
        nv = np.concatenate([vv[1:], [last]])
        adv = np.zeros(len(idx))
        acc = 0.0
        for k in reversed(range(len(idx))):
            acc = rr[k] + g * nv[k] - vv[k] + gt * acc
            adv[k] = acc
        out[b, idx] = adv
    return out * m


def _token_cases(n_random, seed, interior_masks):
    def case(desc, r, v, m, gamma, lam):
        c = {"rewards": np.asarray(r, float), "values": np.asarray(v, float), "mask": np.asarray(m, float),
             "gamma": float(gamma), "lam": float(lam)}
        return _Case(desc, c, _as_numpy(_ref_token(c)), {"mask == 0": c["mask"] == 0}, time_axis=1)

    pad = 9.0  # the critic's output on padding tokens: garbage, never used
    cases = [
        case("one response of one token (B = 1, T = 1)", [[1.0]], [[0.5]], [[1]], 1.0, 0.95),
        case("one response, no padding, gamma = lam = 1: reward-to-go minus V",
             [[0.0, -0.1, 1.0]], [[0.2, 0.4, 0.6]], [[1, 1, 1]], 1.0, 1.0),
        case("two responses, right padding (EOS at t = 1 and t = 3); the critic outputs 9.0 on pads",
             [[0.0, 1.0, 0.0, 0.0], [-0.1, 0.0, 0.0, 2.0]], [[0.5, 0.4, pad, pad], [0.3, 0.2, 0.6, 0.9]],
             [[1, 1, 0, 0], [1, 1, 1, 1]], 1.0, 0.95),
        case("right padding, lam = 0: the TD residual on every token",
             [[0.0, 1.0, 0.0], [0.5, 0.0, 0.0]], [[0.5, 0.4, pad], [0.3, pad, pad]],
             [[1, 1, 0], [1, 0, 0]], 1.0, 0.0),
        case("right padding, gamma = 0.9, lam = 0.8",
             [[0.0, 0.2, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]], [[0.1, 0.2, 0.3, pad], [0.5, 0.5, pad, pad]],
             [[1, 1, 1, 0], [1, 1, 0, 0]], 0.9, 0.8),
    ]
    if interior_masks:
        cases.append(case("multi-turn: tokens 1-2 are a tool's output (mask 0 inside the response); skip "
                          "them, so token 0 bootstraps from V at token 3",
                          [[0.0, 0.0, 0.0, 0.0, 1.0]], [[0.2, pad, pad, 0.6, 0.8]], [[1, 0, 0, 1, 1]], 1.0, 0.95))
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        B, T = int(rng.integers(1, 5)), int(rng.integers(1, 9))
        lengths = rng.integers(1, T + 1, size=B)
        m = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
        if interior_masks and T >= 4 and rng.random() < 0.4:
            row = int(rng.integers(B))
            hole = rng.random(T) < 0.3
            hole[0] = False
            m[row] = np.where(hole, 0.0, m[row])
            if m[row].sum() == 0:
                m[row, 0] = 1.0
        r = np.round(rng.normal(scale=0.1, size=(B, T)), 2) * m
        r[np.arange(B), T - 1 - np.argmax(m[:, ::-1], axis=1)] += np.round(rng.normal(size=B), 2)
        v = np.where(m > 0, np.round(rng.normal(size=(B, T)), 2), pad)
        g = float(rng.choice([1.0, 1.0, 0.99]))
        lm = float(rng.choice([0.95, 1.0, 0.9, 0.0]))
        cases.append(case(f"random batch, B = {B}, T = {T}", r, v, m, g, lm))
    return cases


def check_token_level_gae(student_fn, *, n_random: int = 40, seed: int = 0, interior_masks: bool = True,
                          verbose: bool = True) -> CheckResult:
    r"""Check a student's token-level (LLM) GAE against :func:`gaelib.llm.token_gae`.

    The function to write::

        student_token_gae(rewards, values, mask, gamma, lam) -> advantages

    Each row is one response (an episode that ends at its last valid token: EOS is
    terminal, so nothing is bootstrapped after it). Over the valid tokens
    :math:`t_0 < t_1 < \dots < t_{n-1}` of a row (``mask == 1``):

    .. math::
        \delta_k = r_{t_k} + \gamma V(s_{t_{k+1}}) - V(s_{t_k}), \quad V(s_{t_n}) = 0, \qquad
        \hat A_{t_k} = \delta_k + \gamma\lambda\,\hat A_{t_{k+1}},

    and :math:`\hat A = 0` where ``mask == 0``. Masked tokens inside a response (a
    tool's output in multi-turn data) are skipped, as verl does.

    The student's function receives, positionally:

    - ``rewards``: ``[batch, tokens]`` float64 (**batch-major**), 0 on padding.
    - ``values``: ``[batch, tokens]`` float64, :math:`V(s_t)`; garbage where ``mask == 0``.
    - ``mask``: ``[batch, tokens]`` float64 of 0.0 / 1.0; every row has a valid token.
    - ``gamma``: float in [0, 1].
    - ``lam``: float in [0, 1].

    The student's function returns a ``[batch, tokens]`` advantages, 0 where ``mask == 0``.

    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.
        interior_masks: include responses with masked tokens in the middle (multi-turn).
        verbose: print the feedback.

    Returns:
        :class:`CheckResult`.
    """
    cases = _token_cases(n_random, seed, interior_masks)

    def v(hint, **kw):
        return _Variant(hint, lambda c: _token_loop(c, **kw))

    variants = [
        _Variant("you returned the value targets (advantages + values) instead of the advantages",
                 lambda c: (_ref_token(c) + c["values"]) * c["mask"]),
        v("padding is treated as part of the response: the EOS step bootstrapped from the critic's "
          "output on the pad after it. The state after the last valid token is terminal, V = 0", mode="all"),
        v("the last valid token bootstraps from its own value V(s_t); after EOS nothing follows, use 0",
          bootstrap_last=True),
        v("at a masked gap inside a response you used 0 for V and r of the masked tokens (OpenRLHF's "
          "plain loop): skip masked tokens, so the token before the gap bootstraps from the next valid one",
          mode="zero_gap"),
        v("you returned the TD residuals: add gamma*lam*A_(t+1)", g_trace=lambda g, lam: 0.0),
        v("the recursion uses gamma where it needs gamma*lam", g_trace=lambda g, lam: g),
        v("the recursion uses lam where it needs gamma*lam", g_trace=lambda g, lam: lam),
        _Variant("you treated axis 0 as time: these arrays are batch-major [batch, tokens]",
                 lambda c: _token_loop({**c, "rewards": c["rewards"].T, "values": c["values"].T,
                                        "mask": c["mask"].T}).T),
    ]
    def pads_only(got, case):
        valid = case.inputs["mask"] > 0
        if np.allclose(got[valid], case.expected[valid], rtol=RTOL, atol=ATOL):
            return ("your advantages are right on every valid token but not 0 where mask == 0: "
                    "multiply by the mask (padding must not enter the losses or the whitening)")
        return None

    return _run("check_token_level_gae", student_fn, cases, variants, time_major=False, verbose=verbose,
                special=pads_only)
