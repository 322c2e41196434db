r"""Generalized Advantage Estimation and its relatives, in numpy and torch.

Conventions (the same everywhere in gaelib; see the notation page of the book):

* **Time-major arrays** ``[T, *batch]``: axis 0 is time, any number of batch axes
  follow (environments, sequences, ...).
* **The reward index.** ``rewards[t]`` is the reward received for the transition
  from state :math:`s_t` with action :math:`a_t` to :math:`s_{t+1}`
  (Sutton & Barto write it :math:`R_{t+1}`; the GAE paper and this course write
  :math:`r_t`). ``values[t]`` is :math:`V(s_t)`.
* **The state after each step.** :math:`V(s_{t+1})` is given either per step as
  ``next_values[t]`` (needed when an episode is truncated inside the rollout,
  where :math:`s_{t+1}` is the final observation of the cut episode and not the
  first state of the next one), or, in the common case, as ``last_value`` of
  shape ``batch``: then ``next_values[t] = values[t + 1]`` for ``t < T - 1``
  and ``next_values[T - 1] = last_value``.
* **Episode ends.** ``terminated[t]``: :math:`s_{t+1}` is terminal, its value is
  0, nothing is bootstrapped. ``truncated[t]``: the episode was cut after step
  ``t`` (a time limit, the end of a rollout segment); :math:`V(s_{t+1})` is
  bootstrapped but the λ-trace stops, so nothing from step ``t + 1`` (a new
  episode) leaks into step ``t``. The end of the arrays is always a trace cut.
* ``gamma`` and ``lam`` are required (``None`` is refused, it never means 1): floats,
  or arrays of shape ``batch`` or ``(1, *batch)`` (one value per sequence) or
  ``[T, *batch]`` (one per step). ``lam[t]`` weighs :math:`\hat A_{t+1}` inside
  :math:`\hat A_t`. A 1-D ``(T,)`` array with a ``(T,)`` batch is ambiguous and refused.
* ``last_value`` is an array of the batch shape, or a Python number for every sequence.

Every estimator here is one backward recurrence :math:`x_t = b_t + a_t x_{t+1}`
whose coefficients are defined once (``gaelib._estimators``) and run by one scan
per backend (``gaelib._dispatch``): a compiled numba loop for numpy arrays and CPU
torch tensors, and a blocked log-depth scan for torch tensors on any other device
(and for numpy where numba is missing). Every backend validates alike, raises the
same errors, and checks results for NaN and infinity.

**The dtype rule** (numpy and torch alike): results take the promoted dtype of
``rewards``, ``values`` and ``next_values``/``last_value`` arrays. Python scalars never
widen it (float32 inputs with ``last_value=0.0`` or ``gamma=1`` give float32), nor do
``gamma``/``lam`` arrays. float16 and bfloat16 are computed in float32, cast back, and
checked after the cast. ``returns`` always has the dtype of ``advantages``.

Torch tensors give torch results on the same device. Results never carry
gradients: advantages and value targets are constants for the losses that use
them, so no gradient reaches the critic through the bootstrap value
:math:`V(s_{t+1})` inside its own target.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from gaelib import _checks, _dispatch

__all__ = [
    "GAEOutput",
    "td_residuals",
    "gae",
    "lambda_returns",
    "discounted_cumsum",
    "next_state_values",
]

Array = Any  # numpy.ndarray or torch.Tensor


class GAEOutput(NamedTuple):
    """Result of :func:`gae`."""

    advantages: Array
    """:math:`\\hat A_t`, shape ``[T, *batch]``."""
    returns: Array
    """Value targets :math:`\\hat A_t + V(s_t)` (the λ-returns), shape ``[T, *batch]``."""


# --------------------------------------------------------------------------- validation


def _parameter(name, p, ref_name, ref, backend):
    """A discount-like parameter: numbers stay numbers (0-d arrays become floats),
    arrays become arrays of the backend; then its shape and range are checked."""
    if type(p) is float and 0.0 <= p <= 1.0:  # the common case, first
        return p
    if p is not None and not isinstance(p, numbers.Number):
        p = _checks.as_array(name, p, backend)
        if p.ndim == 0:
            p = float(p)
    _checks.check_unit_interval(name, p, ref_name, ref)
    return p


def _prepare(fn, rewards, values, next_values, last_value, terminated, truncated, gamma, lam):
    """Validate the inputs of a time-major estimator; return its :class:`_dispatch.Spec` and arrays."""
    backend = _checks.backend_of(
        rewards=rewards, values=values, next_values=next_values, last_value=last_value,
        terminated=terminated, truncated=truncated, gamma=gamma, lam=lam,
    )
    rewards = _checks.as_array("rewards", rewards, backend)
    values = _checks.as_array("values", values, backend)
    _checks.check_time_major("rewards", rewards)
    _checks.check_float("rewards", rewards)
    _checks.check_float("values", values)
    _checks.check_same_shape("values", values, "rewards", rewards)
    shape = tuple(rewards.shape)

    if (next_values is None) == (last_value is None):
        raise ValueError(
            f"{fn}: give exactly one of last_value (V of the state after the last step, shape "
            f"{shape[1:]}) or next_values (V(s_(t+1)) for every step, shape {shape})"
        )
    data = [rewards, values]
    if next_values is not None:
        next_values = _checks.as_array("next_values", next_values, backend)
        _checks.check_float("next_values", next_values)
        _checks.check_same_shape("next_values", next_values, "rewards", rewards)
        data.append(next_values)
    elif type(last_value) is bool:
        raise TypeError("last_value must be a number or an array of the batch shape; got a bool")
    elif isinstance(last_value, numbers.Number):  # a Python number fits any batch shape
        if not np.isfinite(last_value):
            raise ValueError(f"last_value contains NaN or infinite values; got {last_value}")
    else:
        last_value = _checks.as_array("last_value", last_value, backend)
        _checks.check_float("last_value", last_value)
        if tuple(last_value.shape) != shape[1:]:
            raise ValueError(
                f"last_value has shape {tuple(last_value.shape)} but rewards has shape {shape}; "
                f"last_value must have the batch shape {shape[1:]} (or be a Python number)"
            )
        data.append(last_value)

    flags = []
    for name, f in (("terminated", terminated), ("truncated", truncated)):
        if f is not None:
            f = _checks.as_array(name, f, backend)
            _checks.check_flags(name, f, "rewards", rewards)
        flags.append(f)
    terminated, truncated = flags

    if next_values is None and truncated is not None and shape[0] > 1 and bool(truncated[:-1].any()):
        cut = truncated[:-1].cpu().numpy() if _checks.is_torch(truncated) else truncated[:-1]
        t = int(np.argwhere(cut != 0)[0][0])
        raise ValueError(
            f"{fn}: truncated[{t}] is set inside the rollout but only last_value was given. "
            f"After a truncation V(s_(t+1)) is the value of the episode's final observation, not "
            f"values[t+1] (the first state of the next episode): pass next_values instead "
            f"(see gaelib.next_state_values)"
        )
    gamma = _parameter("gamma", gamma, "rewards", rewards, backend)
    lam = _parameter("lam", lam, "rewards", rewards, backend)
    blame = dict(rewards=rewards, values=values, next_values=next_values, last_value=last_value)
    spec = _dispatch.Spec(backend, rewards, data, blame)
    return spec, (rewards, values, next_values, last_value, terminated, truncated, gamma, lam)


def _run(kind, fn, rewards, values, next_values, last_value, terminated, truncated, gamma, lam,
         plus_values=False):
    """Estimator ``kind`` on the fast path of plain numpy inputs, else validated by :func:`_prepare`."""
    out = _dispatch.plain_numpy(kind, rewards, values, next_values, last_value, terminated, truncated,
                                gamma, lam, plus_values)
    if out is None:
        spec, args = _prepare(fn, rewards, values, next_values, last_value, terminated, truncated, gamma, lam)
        out = _dispatch.time_major(kind, spec, *args, plus_values=plus_values)
    return out


# --------------------------------------------------------------------------- public API


def td_residuals(rewards, values, *, last_value=None, next_values=None,
                 terminated=None, truncated=None, gamma):
    r"""One-step TD residuals (temporal-difference errors).

    .. math:: \delta_t = r_t + \gamma_t\,(1 - \mathrm{terminated}_t)\,V(s_{t+1}) - V(s_t)

    With the true value function :math:`V^\pi`, :math:`\delta_t` is an unbiased
    estimate of the advantage :math:`A^\pi(s_t, a_t)` (for a discounted objective).
    It is :func:`gae` with λ = 0.

    Args:
        rewards: ``[T, *batch]`` float; ``rewards[t]`` is received on the step from
            :math:`s_t` to :math:`s_{t+1}`.
        values: ``[T, *batch]`` float, :math:`V(s_t)`.
        last_value: ``batch``-shaped float, :math:`V(s_T)`; or give ``next_values``.
        next_values: ``[T, *batch]`` float, :math:`V(s_{t+1})` per step.
        terminated: ``[T, *batch]`` bool; :math:`s_{t+1}` is terminal (value 0).
        truncated: ``[T, *batch]`` bool; accepted for symmetry with :func:`gae`
            (a truncated step bootstraps from ``next_values[t]``).
        gamma: discount γ in [0, 1]; float, ``batch``-shaped or ``[T, *batch]``.

    Returns:
        ``[T, *batch]`` array of :math:`\delta_t`, same library (and torch device) as
        ``rewards``, no gradient.

    Example:
        >>> td_residuals(np.array([1., 0.]), np.array([0.5, 0.2]), last_value=0.0, gamma=0.9)
        array([ 0.68, -0.2 ])
    """
    return _run("td", "td_residuals", rewards, values, next_values, last_value, terminated, truncated,
                gamma, 0.0)[0]


def gae(rewards, values, *, last_value=None, next_values=None,
        terminated=None, truncated=None, gamma, lam) -> GAEOutput:
    r"""Generalized Advantage Estimation (Schulman et al., 2016).

    .. math::
        \hat A_t = \delta_t + \gamma_t \lambda_t\, c_t\, \hat A_{t+1},
        \qquad \hat A_T = 0,

    where :math:`\delta_t` are the TD residuals (:func:`td_residuals`) and
    :math:`c_t = 0` at episode ends (``terminated[t]`` or ``truncated[t]``),
    1 otherwise. Within an episode this is the closed form
    :math:`\hat A_t = \sum_{l \ge 0} (\gamma\lambda)^l \delta_{t+l}`.
    Special cases: λ = 0 gives :math:`\delta_t`; λ = 1 gives the discounted return
    (bootstrapped at truncation) minus :math:`V(s_t)`; γ = 0 gives :math:`r_t - V(s_t)`.
    The value targets ``returns = advantages + values`` equal the λ-returns
    (:func:`lambda_returns`).

    Args:
        rewards: ``[T, *batch]`` float; ``rewards[t]`` is received on the step from
            :math:`s_t` to :math:`s_{t+1}`.
        values: ``[T, *batch]`` float, :math:`V(s_t)` (as computed when the data was
            collected).
        last_value: ``batch``-shaped float, :math:`V(s_T)`, the state after the last
            step. Use it when no episode is truncated before the last step.
        next_values: ``[T, *batch]`` float, :math:`V(s_{t+1})` for every step; at a
            truncated step, the value of the final observation. Give exactly one of
            ``last_value`` and ``next_values``.
        terminated: ``[T, *batch]`` bool or 0/1; :math:`s_{t+1}` is terminal.
        truncated: ``[T, *batch]`` bool or 0/1; the episode was cut after step ``t``.
        gamma: discount γ in [0, 1]; float, ``batch``-shaped or ``[T, *batch]``.
        lam: λ in [0, 1]; float, ``batch``-shaped or ``[T, *batch]``.

    Returns:
        :class:`GAEOutput` ``(advantages, returns)``, each ``[T, *batch]``, in the
        library (and on the torch device) of ``rewards``, with no gradient: the
        value targets are constants, so the critic gets no gradient through the
        bootstrap :math:`V(s_{t+1})` inside its own target.

    Raises:
        TypeError: integer, complex, longdouble, masked-array or mixed numpy/torch
            inputs; ``gamma`` or ``lam`` missing (None).
        ValueError: mismatched shapes, empty or non-finite inputs (anywhere, on every
            backend), γ or λ outside [0, 1], a ``(T,)`` γ or λ when the batch is ``(T,)``
            too (ambiguous: pass ``(1, T)`` per sequence or ``(T, T)`` per step), a
            mid-rollout truncation with only ``last_value``, a result that overflows
            its dtype (float16 included, checked after the cast back).

    Example:
        >>> adv, ret = gae(np.array([1., 0.]), np.zeros(2), last_value=0.0, gamma=0.9, lam=0.5)
        >>> adv
        array([1., 0.])
    """
    return GAEOutput(*_run("gae", "gae", rewards, values, next_values, last_value, terminated, truncated,
                           gamma, lam, plus_values=True))


def lambda_returns(rewards, values, *, last_value=None, next_values=None,
                   terminated=None, truncated=None, gamma, lam):
    r"""λ-returns (TD(λ) targets), computed by their own recursion.

    .. math::
        G^\lambda_t = r_t + \gamma_t \big[(1 - \lambda_t c_t)\, V(s_{t+1})
                      + \lambda_t c_t\, G^\lambda_{t+1}\big],

    with :math:`\gamma_t = 0` after termination and :math:`c_t = 0` where the
    trace is cut (truncation, and the last step of the arrays). It is the
    exponentially weighted average of n-step returns,
    :math:`G^\lambda_t = (1-\lambda)\sum_{n\ge1}\lambda^{n-1} G^{(n)}_t` (with the
    remaining weight on the longest return available), and equals
    ``gae(...).advantages + values`` whenever the data are consistent, i.e.
    ``next_values[t] == values[t + 1]`` inside an episode (always true when
    ``last_value`` is given). λ = 0 gives the one-step target
    :math:`r_t + \gamma V(s_{t+1})`; λ = 1 the (bootstrapped) discounted return.

    Args:
        rewards, values, last_value, next_values, terminated, truncated, gamma, lam:
            as in :func:`gae`. ``values`` is unused except for its shape check
            (λ-returns depend on :math:`V(s_{t+1})` only).

    Returns:
        ``[T, *batch]`` λ-returns in the library of ``rewards``, no gradient.

    Example:
        >>> lambda_returns(np.array([1., 1.]), np.zeros(2), last_value=2.0, gamma=0.5, lam=1.0)
        array([2., 2.])
    """
    spec, args = _prepare("lambda_returns", rewards, values, next_values, last_value,
                          terminated, truncated, gamma, lam)
    _checks.check_finite("values", args[1])  # the recursion never reads V(s_t): check it here
    return _dispatch.time_major("lambda_returns", spec, *args)[0]


def discounted_cumsum(x, discount, *, done=None):
    r"""Discounted cumulative sum along time, cut at episode ends.

    .. math:: y_t = x_t + \gamma_t\,(1 - \mathrm{done}_t)\, y_{t+1}, \qquad y_T = 0.

    With ``x = rewards`` this is the reward-to-go (Monte Carlo return, with no
    bootstrap); with ``x = δ`` and ``discount = γλ`` it is GAE.

    Args:
        x: ``[T, *batch]`` float.
        discount: γ in [0, 1]; float, ``batch``-shaped or ``[T, *batch]``.
        done: optional ``[T, *batch]`` bool or 0/1; the sum stops after step ``t``.

    Returns:
        ``[T, *batch]`` array in the library of ``x``, no gradient.

    Example:
        >>> discounted_cumsum(np.array([1., 1., 1.]), 0.5)
        array([1.75, 1.5 , 1.  ])
    """
    backend = _checks.backend_of(x=x, discount=discount, done=done)
    x = _checks.as_array("x", x, backend)
    _checks.check_time_major("x", x)
    _checks.check_float("x", x)
    discount = _parameter("discount", discount, "x", x, backend)
    if done is not None:
        done = _checks.as_array("done", done, backend)
        _checks.check_flags("done", done, "x", x)
    spec = _dispatch.Spec(backend, x, [x], dict(x=x))
    return _dispatch.time_major("cumsum", spec, x, None, None, None, done, None, discount, 0.0)[0]


def next_state_values(values, last_value, *, truncated=None, final_values=None):
    r"""Build ``next_values`` (:math:`V(s_{t+1})` per step) from a rollout's values.

    ``next_values[t] = values[t + 1]`` for ``t < T - 1`` and ``last_value`` at the
    end, except where ``truncated[t]``: there the episode's final observation is not
    ``values[t + 1]`` (that is the first state of the next episode), and
    ``final_values[t]`` (:math:`V` of the final observation) is used instead.

    Args:
        values: ``[T, *batch]`` float, :math:`V(s_t)`.
        last_value: ``batch``-shaped float, :math:`V(s_T)`.
        truncated: optional ``[T, *batch]`` bool.
        final_values: ``[T, *batch]`` float, read only where ``truncated`` is set
            (other entries may hold anything finite, e.g. zeros).

    Returns:
        ``[T, *batch]`` array in the library of ``values``.
    """
    backend = _checks.backend_of(values=values, last_value=last_value,
                                 truncated=truncated, final_values=final_values)
    values = _checks.as_array("values", values, backend)
    last_value = _checks.as_array("last_value", last_value, backend)
    _checks.check_time_major("values", values)
    _checks.check_float("values", values)
    _checks.check_float("last_value", last_value)
    if tuple(last_value.shape) != tuple(values.shape[1:]):
        raise ValueError(f"last_value has shape {tuple(last_value.shape)}; it must have the batch "
                         f"shape {tuple(values.shape[1:])} of values {tuple(values.shape)}")
    if (truncated is None) != (final_values is None):
        raise ValueError("give truncated and final_values together (or neither)")
    if backend == "torch":
        import torch

        nxt = torch.cat([values[1:], last_value.to(values.dtype)[None]], dim=0)
    else:
        nxt = np.concatenate([values[1:], np.asarray(last_value, values.dtype)[None]], axis=0)
    if truncated is not None:
        truncated = _checks.as_array("truncated", truncated, backend)
        final_values = _checks.as_array("final_values", final_values, backend)
        _checks.check_flags("truncated", truncated, "values", values)
        _checks.check_same_shape("final_values", final_values, "values", values)
        if backend == "torch":
            import torch

            nxt = torch.where(truncated.bool(), final_values.to(values.dtype), nxt)
        else:
            nxt = np.where(truncated.astype(bool), final_values.astype(values.dtype), nxt)
    return nxt
