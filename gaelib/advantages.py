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
* ``gamma`` and ``lam`` are floats, or arrays of shape ``batch`` (one value per
  sequence) or ``[T, *batch]`` (one per step). ``lam[t]`` weighs
  :math:`\hat A_{t+1}` inside :math:`\hat A_t`.

Torch tensors give torch results of the same dtype on the same device. Results
never carry gradients: advantages and value targets are constants for the
losses that use them, so no gradient reaches the critic through the bootstrap
value :math:`V(s_{t+1})` inside its own target.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gaelib import _checks, _kernels

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


# --------------------------------------------------------------------------- preparation


class _Prepared(NamedTuple):
    backend: str
    shape: tuple
    dtype: Any  # numpy dtype of the computation
    out_like: Any  # the torch tensor whose dtype/device results take, else None
    arrays: dict  # name -> 2-D numpy arrays [T, M] (or [M] for last_value)
    use_next: bool
    sequence_major: bool = False  # arrays are [M, T] instead (see _prepare_sequence_major)


def _prepare(fn, rewards, values, next_values, last_value, terminated, truncated, gamma, lam):
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
    T = shape[0]

    if (next_values is None) == (last_value is None):
        raise ValueError(
            f"{fn}: give exactly one of last_value (V of the state after the last step, shape "
            f"{shape[1:]}) or next_values (V(s_(t+1)) for every step, shape {shape})"
        )
    if next_values is not None:
        next_values = _checks.as_array("next_values", next_values, backend)
        _checks.check_float("next_values", next_values)
        _checks.check_same_shape("next_values", next_values, "rewards", rewards)
    else:
        last_value = _checks.as_array("last_value", last_value, backend)
        _checks.check_float("last_value", last_value)
        if tuple(last_value.shape) != shape[1:]:
            raise ValueError(
                f"last_value has shape {tuple(last_value.shape)} but rewards has shape {shape}; "
                f"last_value must have the batch shape {shape[1:]}"
            )

    flags = {}
    for name, f in (("terminated", terminated), ("truncated", truncated)):
        if f is not None:
            f = _checks.as_array(name, f, backend)
            _checks.check_flags(name, f, "rewards", rewards)
        flags[name] = f

    if last_value is not None and flags["truncated"] is not None and T > 1:
        cut = flags["truncated"][:-1]
        if bool(cut.any()):
            t = int(np.argwhere(_to_numpy(cut).astype(bool))[0][0])
            raise ValueError(
                f"{fn}: truncated[{t}] is set inside the rollout but only last_value was given. "
                f"After a truncation V(s_(t+1)) is the value of the episode's final observation, not "
                f"values[t+1] (the first state of the next episode): pass next_values instead "
                f"(see gaelib.next_state_values)"
            )

    params = {}
    for name, p in (("gamma", gamma), ("lam", lam)):
        if p is None:
            continue
        params[name] = _parameter(name, p, "rewards", rewards, backend)

    # Everything below works on numpy arrays [T, M].
    out_like = None
    if backend == "torch":
        out_like = rewards
        if rewards.device.type != "cpu":
            raise _NotCPUError
    floats = [x for x in (rewards, values, next_values, last_value, *params.values())
              if x is not None and not isinstance(x, float)]
    np_floats = [_to_numpy(x) for x in floats]
    dtype = np.result_type(*[x.dtype for x in np_floats])
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)

    M = int(np.prod(shape[1:], dtype=np.int64))
    if fn == "gae" and _kernels.HAVE_NUMBA and _is_transposed_2d(rewards, values, next_values, *flags.values(),
                                          *[p for p in params.values() if getattr(p, "ndim", 0) == 2]):
        return _prepare_sequence_major(backend, shape, dtype, out_like, rewards, values, next_values,
                                       last_value, flags, params)

    def flat(x):
        return np.ascontiguousarray(_to_numpy(x).astype(dtype, copy=False).reshape(T, M))

    arrays = {"rewards": flat(rewards), "values": flat(values)}
    if next_values is not None:
        arrays["next_values"] = flat(next_values)
        arrays["last_value"] = np.zeros(M, dtype)
    else:
        arrays["next_values"] = arrays["values"]  # unused placeholder
        arrays["last_value"] = np.ascontiguousarray(_to_numpy(last_value).astype(dtype).reshape(M))
    for name, f in flags.items():
        arrays[name] = np.zeros((1, M), np.bool_) if f is None else _flat_flags(f, T, M)
    for name, p in params.items():
        arrays[name] = _broadcast_param(p, shape, T, M, dtype)
    for name in ("gamma", "lam"):
        arrays.setdefault(name, np.ones((1, M), dtype))
    return _Prepared(backend, shape, dtype, out_like, arrays, next_values is not None)


_NUMBER = (int, float, np.integer, np.floating)


def _parameter(name, p, ref_name, ref, backend):
    """A discount-like parameter: numbers stay numbers (0-d arrays become floats),
    arrays become arrays of the backend; then its shape and range are checked."""
    if not isinstance(p, _NUMBER):
        p = _checks.as_array(name, p, backend)
        if p.ndim == 0:
            p = float(p)
    _checks.check_unit_interval(name, p, ref_name, ref)
    return p


def _is_transposed_2d(*xs):
    """Whether every given [T, M] input is the transpose of a C-contiguous [M, T] array.

    That is how batch-major token tensors ``[batch, tokens]`` arrive (``x.T``); GAE then
    runs along each contiguous sequence instead of copying everything to time-major.
    """
    for x in xs:
        if x is None:
            continue
        a = _to_numpy(x)
        if a.ndim != 2 or a.shape[0] == 1 or a.shape[1] == 1 or not a.T.flags.c_contiguous:
            return False
    return True


def _prepare_sequence_major(backend, shape, dtype, out_like, rewards, values, next_values,
                            last_value, flags, params):
    """Like the end of :func:`_prepare`, but arrays are ``[M, T]`` (one row per sequence)."""
    T, M = shape

    def rows(x):
        return np.ascontiguousarray(_to_numpy(x).astype(dtype, copy=False).T)

    arrays = {"rewards": rows(rewards), "values": rows(values)}
    arrays["next_values"] = arrays["values"] if next_values is None else rows(next_values)
    arrays["last_value"] = (np.zeros(M, dtype) if last_value is None
                            else np.ascontiguousarray(_to_numpy(last_value).astype(dtype).reshape(M)))
    for name, f in flags.items():
        if f is None:
            arrays[name] = np.zeros((1, 1), np.bool_)
        else:
            a = _to_numpy(f).T
            arrays[name] = np.ascontiguousarray(a if a.dtype == np.bool_ else a != 0)
    for name in ("gamma", "lam"):
        p = params.get(name, 1.0)
        if isinstance(p, _NUMBER):
            arrays[name] = np.full((1, 1), p, dtype)
        elif getattr(p, "ndim", 0) == 2:
            arrays[name] = rows(p)
        else:
            arrays[name] = np.ascontiguousarray(_to_numpy(p).astype(dtype).reshape(M, 1))
    return _Prepared(backend, shape, dtype, out_like, arrays, next_values is not None, True)


class _NotCPUError(Exception):
    """Internal signal: torch tensors on an accelerator take the torch path."""



def _to_numpy(x):
    if _checks.is_torch(x):
        import torch

        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def _broadcast_param(p, shape, T, M, dtype):
    """A float, per-sequence or per-step parameter as a ``[1, M]`` or ``[T, M]`` array."""
    if isinstance(p, _NUMBER):
        return np.full((1, M), p, dtype)
    a = _to_numpy(p).astype(dtype, copy=False)
    rows = T if tuple(a.shape) == tuple(shape) else 1
    return np.ascontiguousarray(a.reshape(rows, M))


def _flat_flags(f, T, M):
    """Episode-end flags as a C-contiguous bool ``[T, M]`` array (no copy when possible)."""
    f = _to_numpy(f).reshape(T, M)
    return np.ascontiguousarray(f if f.dtype == np.bool_ else f != 0)


def _finish(prep: _Prepared, out2d: np.ndarray, fn: str, inputs_to_blame: dict, check: bool = True):
    """Reshape a [T, M] result back, check it is finite, convert to the input's library."""
    if check and not np.isfinite(out2d).all():
        for name, x in inputs_to_blame.items():
            if x is not None:
                _checks.check_finite(name, x if _checks.is_torch(x) else np.asarray(x))
        raise ValueError(f"{fn}: the result overflowed ({prep.dtype}); rescale the rewards")
    out = out2d.reshape(prep.shape)
    if prep.backend == "torch":
        import torch

        t = torch.from_numpy(out)
        return t.to(dtype=prep.out_like.dtype) if t.dtype != prep.out_like.dtype else t
    return out


def _zero(prep):
    return prep.dtype.type(0)


def _coefficients(kind, prep):
    a_ = prep.arrays
    T, M = a_["rewards"].shape
    b = np.empty((T, M), prep.dtype)
    a = np.empty((T, M), prep.dtype)
    kernel = {"gae": _kernels.gae_coefficients,
              "lambda": _kernels.lambda_return_coefficients}[kind]
    kernel(a_["rewards"], a_["values"], a_["next_values"], a_["last_value"], prep.use_next,
           a_["terminated"], a_["truncated"], a_["gamma"], a_["lam"], _zero(prep), b, a)
    return b, a


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
    try:
        prep = _prepare("td_residuals", rewards, values, next_values, last_value,
                        terminated, truncated, gamma, None)
    except _NotCPUError:
        return _torch_native("td", rewards, values, next_values, last_value,
                             terminated, truncated, gamma, 0.0)
    b, _ = _coefficients("gae", prep)
    return _finish(prep, b, "td_residuals", dict(rewards=rewards, values=values,
                                                  next_values=next_values, last_value=last_value))


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
        TypeError: integer or mixed numpy/torch inputs.
        ValueError: mismatched shapes, empty or non-finite inputs, γ or λ outside
            [0, 1], a mid-rollout truncation with only ``last_value``.

    Example:
        >>> adv, ret = gae(np.array([1., 0.]), np.zeros(2), last_value=0.0, gamma=0.9, lam=0.5)
        >>> adv
        array([1., 0.])
    """
    try:
        prep = _prepare("gae", rewards, values, next_values, last_value,
                        terminated, truncated, gamma, lam)
    except _NotCPUError:
        adv = _torch_native("gae", rewards, values, next_values, last_value,
                            terminated, truncated, gamma, lam)
        return GAEOutput(adv, adv + values.detach())
    if prep.sequence_major:
        A = prep.arrays
        M, T = A["rewards"].shape
        adv, ret = np.empty((M, T), prep.dtype), np.empty((M, T), prep.dtype)
        _kernels.gae_sequence_major(A["rewards"], A["values"], A["next_values"], A["last_value"],
                                    prep.use_next, A["terminated"], A["truncated"], A["gamma"],
                                    A["lam"], _zero(prep), adv, ret)
        inputs = dict(rewards=rewards, values=values, next_values=next_values, last_value=last_value)
        ret = _finish(prep, ret.T, "gae", inputs)  # returns = advantages + values: finite only if both are
        return GAEOutput(_finish(prep, adv.T, "gae", {}, check=False), ret)
    b, a = _coefficients("gae", prep)
    _kernels.backward_scan(b, a)
    with np.errstate(all="ignore"):  # non-finite inputs are reported by _finish below
        ret = np.add(b, prep.arrays["values"], out=a)  # reuse the coefficient buffer
    # On the CPU, torch results are numpy buffers wrapped without a copy: no torch op runs
    # here (small torch ops with 2 threads were seen stalling for milliseconds on 2-core VMs).
    # returns = advantages + values is finite only if both are: one check covers both outputs
    ret = _finish(prep, ret, "gae", dict(rewards=rewards, values=values,
                                          next_values=next_values, last_value=last_value))
    return GAEOutput(_finish(prep, b, "gae", {}, check=False), ret)


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
    try:
        prep = _prepare("lambda_returns", rewards, values, next_values, last_value,
                        terminated, truncated, gamma, lam)
    except _NotCPUError:
        adv = _torch_native("gae", rewards, values, next_values, last_value,
                            terminated, truncated, gamma, lam)
        return adv + values.detach()
    b, a = _coefficients("lambda", prep)
    _kernels.backward_scan(b, a)
    return _finish(prep, b, "lambda_returns", dict(rewards=rewards, values=values,
                                                    next_values=next_values, last_value=last_value))


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
    if backend == "torch" and x.device.type != "cpu":
        return _torch_native("cumsum", x, None, None, None, done, None, discount, None)
    shape = tuple(x.shape)
    T = shape[0]
    M = int(np.prod(shape[1:], dtype=np.int64))
    xn = _to_numpy(x)
    dtype = xn.dtype if xn.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    x2 = np.ascontiguousarray(xn.astype(dtype, copy=False).reshape(T, M))
    d2 = _broadcast_param(discount, shape, T, M, dtype)
    dn = np.zeros((1, M), np.bool_) if done is None else _flat_flags(done, T, M)
    b = np.empty((T, M), dtype)
    a = np.empty((T, M), dtype)
    _kernels.cumsum_coefficients(x2, d2, dn, dtype.type(0), b, a)
    _kernels.backward_scan(b, a)
    prep = _Prepared(backend, shape, np.dtype(dtype), x if backend == "torch" else None, {}, False)
    return _finish(prep, b, "discounted_cumsum", dict(x=x))


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


# --------------------------------------------------------------------------- torch on accelerators


def _torch_native(kind, rewards, values, next_values, last_value, terminated, truncated, gamma, lam):
    """Torch ops on the tensors' own device (GPUs): a loop over time.

    Used only for tensors that are not on the CPU (the CPU path is the compiled
    kernel). Validation has already run.
    """
    import torch

    with torch.no_grad():
        r = rewards.detach()
        T = r.shape[0]
        dev, dt = r.device, r.dtype

        def param(p):
            if isinstance(p, (int, float)):
                return torch.full((), float(p), device=dev, dtype=dt).expand(r.shape)
            p = torch.as_tensor(p, device=dev).detach().to(dtype=dt)
            return p.expand(r.shape) if p.shape == r.shape[1:] else p

        zeros = torch.zeros_like(r, dtype=torch.bool)
        term = zeros if terminated is None else torch.as_tensor(terminated, device=dev).bool()
        g = param(gamma)
        if kind == "cumsum":
            a = torch.where(term, torch.zeros_like(g), g)
            out = r.clone()
            for t in range(T - 2, -1, -1):
                out[t] += a[t] * out[t + 1]
            return out
        v = torch.as_tensor(values, device=dev).detach().to(dt)
        if next_values is not None:
            nv = torch.as_tensor(next_values, device=dev).detach().to(dt)
        else:
            lv = torch.as_tensor(last_value, device=dev).detach().to(dt)
            nv = torch.cat([v[1:], lv.reshape(r.shape[1:])[None]])
        trunc = zeros if truncated is None else torch.as_tensor(truncated, device=dev).bool()
        gm = torch.where(term, torch.zeros_like(g), g)
        out = r + gm * nv - v
        if kind == "td":
            return out
        a = torch.where(trunc, torch.zeros_like(g), gm * param(lam))
        for t in range(T - 2, -1, -1):
            out[t] += a[t] * out[t + 1]
        return out
