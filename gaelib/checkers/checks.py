r"""The public checkers: one per assignment function, each a list of cases and of known bugs.

Each checker builds its cases (``gaelib.checkers.cases``) and its known-wrong variants
(``gaelib.checkers.variants``), and hands them with the student's function to the engine
(``gaelib.checkers.engine``), which calls the function under a time limit, compares, and
prints the feedback. :data:`CHECKERS` names them for the class grader (:mod:`gaelib.grade`).
"""

from __future__ import annotations

import math

import numpy as np

from gaelib.checkers import cases as _cases
from gaelib.checkers import variants as _variants
from gaelib.checkers.engine import CheckResult, Case, close, run

__all__ = ["check_td_residuals", "check_gae", "check_lambda_returns", "check_discounted_cumsum",
           "check_token_level_gae", "CHECKERS", "build", "check_arguments"]

TIME_LIMIT = 5.0
"""Default seconds per call of the student's function (the cases take microseconds)."""


def check_arguments(student_fn, n_random, seed, time_limit, verbose, **flags) -> None:
    """Validate a public checker's arguments; errors name the argument."""
    if not callable(student_fn):
        raise TypeError(f"student_fn must be a function, got {type(student_fn).__name__}")
    for name, value in (("n_random", n_random), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float, np.floating, np.integer)):
            raise TypeError(f"time_limit must be a number of seconds or None, got {type(time_limit).__name__}")
        if not (math.isfinite(time_limit) and time_limit > 0):
            raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit}")
    for name, value in (("verbose", verbose), *flags.items()):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")


def _episode_build(reference, variants, *, lam, truncation_arg):
    def build(n_random, seed):
        return (_cases.episode_cases(reference, lam=lam, truncation_arg=truncation_arg, n_random=n_random,
                                     seed=seed), variants())
    return build


def _token_build(n_random, seed, interior_masks=True):
    return _cases.token_cases(n_random, seed, interior_masks), _variants.token_variants()


def _pads_only(got, case: Case):
    valid = case.inputs["mask"] > 0
    if got is not None and close(got[valid], case.expected[valid]):
        return ("your advantages are right on every valid token but not 0 where mask == 0: "
                "multiply by the mask (padding must not enter the losses or the whitening)")
    return None


CHECKERS = {
    "check_td_residuals": dict(build=_episode_build(_cases.reference_td, _variants.td_variants, lam=False,
                                                    truncation_arg=False), n_random=48),
    "check_gae": dict(build=_episode_build(_cases.reference_gae, lambda: _variants.gae_variants("adv"),
                                           lam=True, truncation_arg=True), n_random=48),
    "check_lambda_returns": dict(build=_episode_build(_cases.reference_lambda_returns,
                                                      _variants.lambda_return_variants, lam=True,
                                                      truncation_arg=True), n_random=48),
    "check_discounted_cumsum": dict(build=lambda n_random, seed: (_cases.cumsum_cases(n_random, seed),
                                                                  _variants.cumsum_variants()), n_random=48),
    "check_token_level_gae": dict(build=_token_build, n_random=40, time_major=False, special=_pads_only),
}
"""Each checker's case builder ``build(n_random, seed, **flags) -> (cases, variants)``, default
``n_random``, and the engine's options (``time_major``, ``special``)."""


def build(name: str, *, n_random: int | None = None, seed: int = 0, **flags):
    """The cases and known-bug variants of checker ``name``, and the engine's options for it."""
    spec = CHECKERS[name]
    cases, variants = spec["build"](spec["n_random"] if n_random is None else n_random, seed, **flags)
    options = {k: spec[k] for k in ("time_major", "special") if k in spec}
    return cases, variants, options


_ARGS = """
    Args:
        student_fn: the function to check.
        n_random: random cases after the hand-picked ones.
        seed: seed of the random cases.{extra}
        verbose: print the feedback.
        time_limit: seconds each call may take (``None``: no limit); a call that runs longer
            fails its case and stops the run.

    Returns:
        :class:`CheckResult`.
    """


def _documented(extra: str = ""):
    """Append the Args/Returns every checker shares to its docstring (written once, here)."""
    def decorate(fn):
        fn.__doc__ = fn.__doc__.rstrip() + "\n" + _ARGS.format(extra=extra)
        return fn
    return decorate


def _check(name, student_fn, n_random, seed, verbose, time_limit, **flags) -> CheckResult:
    check_arguments(student_fn, n_random, seed, time_limit, verbose, **flags)
    cases, variants, options = build(name, n_random=n_random, seed=seed, **flags)
    return run(name, student_fn, cases, variants, verbose=verbose, time_limit=time_limit, **options)


@_documented()
def check_td_residuals(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True,
                       time_limit: float | None = TIME_LIMIT) -> CheckResult:
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

    """
    return _check("check_td_residuals", student_fn, n_random, seed, verbose, time_limit)


@_documented()
def check_gae(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True,
              time_limit: float | None = TIME_LIMIT) -> CheckResult:
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

    """
    return _check("check_gae", student_fn, n_random, seed, verbose, time_limit)


@_documented()
def check_lambda_returns(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True,
                         time_limit: float | None = TIME_LIMIT) -> CheckResult:
    r"""Check a student's λ-returns (the critic's targets) against :func:`gaelib.lambda_returns`.

    The function to write::

        student_lambda_returns(rewards, values, next_values, terminated, truncated, gamma, lam) -> returns

    .. math::
        G^\lambda_t = r_t + \gamma (1 - \mathrm{terminated}_t)\big[(1 - \lambda c_t) V(s_{t+1})
        + \lambda c_t\, G^\lambda_{t+1}\big], \qquad c_t = (1 - \mathrm{truncated}_t)\,[t < T-1],

    which equals GAE's advantages plus ``values``. Either route is accepted.

    The student's function receives as for :func:`check_gae`.

    The student's function returns a ``[T, *batch]`` array of :math:`G^\lambda_t`.

    """
    return _check("check_lambda_returns", student_fn, n_random, seed, verbose, time_limit)


@_documented()
def check_discounted_cumsum(student_fn, *, n_random: int = 48, seed: int = 0, verbose: bool = True,
                            time_limit: float | None = TIME_LIMIT) -> CheckResult:
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

    """
    return _check("check_discounted_cumsum", student_fn, n_random, seed, verbose, time_limit)


@_documented("\n        interior_masks: include responses with masked tokens in the middle (multi-turn).")
def check_token_level_gae(student_fn, *, n_random: int = 40, seed: int = 0, interior_masks: bool = True,
                          verbose: bool = True, time_limit: float | None = TIME_LIMIT) -> CheckResult:
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

    """
    return _check("check_token_level_gae", student_fn, n_random, seed, verbose, time_limit,
                  interior_masks=interior_masks)
