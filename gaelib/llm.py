r"""Token-level advantage estimators for language-model RL (RLHF, RLVR).

A response of a language model is an episode: the state :math:`s_t` is the prompt
plus the tokens generated so far, the action :math:`a_t` is the next token, and the
episode ends at the end-of-sequence token (EOS), a terminal state. The engines
people scale out on (TRL, OpenRLHF, verl) store such data **batch-major**,
``[batch, tokens]``, with a 0/1 ``mask`` marking the response tokens that count
(1 up to and including EOS, 0 on padding and, in multi-turn data, on tokens the
model did not generate). gaelib's core (:func:`gaelib.gae`) is **time-major**,
``[T, *batch]``. This module is the bridge, and the identity that ties them is
tested:

    ``token_gae(r, v, m)`` equals ``gaelib.gae(r.T, v.T, last_value=0,
    terminated=<last valid token>.T)`` on the valid tokens, for right padding.

(:func:`token_gae` literally calls :func:`gaelib.gae`, after moving each row's
valid tokens to the front, so that masked tokens inside a row are skipped as
verl skips them.)

What is here, each with its equation, reference and tests in ``tests/test_llm.py``:

* :func:`kl_penalty` (k1/k2/k3), :func:`token_rewards` (the InstructGPT-style shaped
  reward: :math:`-\beta\,\mathrm{KL}_t` on every token, the score added at the last
  valid token), :func:`response_mask`, :func:`last_token_index`;
* :func:`token_gae` (masked GAE, per-sequence λ allowed) and its value targets,
  :func:`masked_mean`, :func:`masked_var`, :func:`masked_whiten`;
* :func:`decoupled_gae` (VC-PPO: λ for the actor, another λ for the critic's targets),
  :func:`length_adaptive_lam` (VAPO: :math:`\lambda = 1 - 1/(\alpha l)`);
* the critic-free estimators: :func:`grpo_advantages` (with and without the std,
  the latter is Dr. GRPO), :func:`rloo_advantages`, :func:`reinforce_pp_advantages`.

Every function accepts numpy arrays or torch tensors (CPU) and returns the same kind,
with no gradient.

How gaelib's arguments map onto the engines (read at verl 26b5d6b, TRL f2cd577,
OpenRLHF 3c3be62; all three are batch-major):

.. list-table::
   :header-rows: 1

   * - gaelib (this module)
     - verl
     - TRL (``PPOTrainer``)
     - OpenRLHF
   * - ``mask``
     - ``response_mask`` (EOS included)
     - ``~padding_mask`` (EOS included)
     - ``action_mask``
   * - ``kl_penalty(kind=)``
     - ``kl_penalty``: kl / mse / low_var
     - ``kl_estimator`` k1 / k3
     - ``compute_approx_kl`` k1 / k2 / k3
   * - ``token_rewards``
     - ``apply_kl_penalty`` + reward manager (score at last valid token)
     - ``-kl_coef*kl``, score at the **first pad after EOS** (see note)
     - ``compute_reward``: score at the last ``action_mask`` position
   * - ``kl_coef``
     - ``algorithm.kl_ctrl.kl_coef``
     - ``kl_coef``
     - ``--init_kl_coef``
   * - ``gamma``, ``lam``
     - ``algorithm.gamma``, ``lam`` (1, 1)
     - ``gamma``, ``lam`` (1, 0.95)
     - ``gamma``, ``lambd`` (1, 1)
   * - ``token_gae``
     - ``compute_gae_advantage_return``
     - loop in ``train()``
     - ``get_advantages_and_returns``
   * - ``masked_whiten``
     - ``masked_whiten`` (unbiased var)
     - ``masked_whiten`` (unbiased var)
     - global norm (biased var, ``unbiased=False``)
   * - ``grpo_advantages``
     - ``adv_estimator=grpo``, ``norm_adv_by_std_in_grpo``
     - ``GRPOTrainer`` (``scale_rewards``)
     - ``group_norm`` / ``dr_grpo``
   * - ``rloo_advantages``
     - ``adv_estimator=rloo``
     - ``RLOOTrainer``
     - ``rloo``
   * - ``reinforce_pp_...``
     - ``reinforce_plus_plus`` (+baseline)
     - --
     - ``reinforce`` (+``_baseline``)

Note on TRL: its ``PPOTrainer`` adds the score one slot *after* EOS (the first padding
position) and bootstraps the EOS step from the critic's value there; this equals
putting the score on EOS only once the critic has learnt that value. gaelib puts the
score on the last valid token, as verl and OpenRLHF do. verl leaves the carried
advantage at masked positions; gaelib returns 0 there (every loss masks them out).
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from gaelib import _checks
from gaelib.advantages import gae

__all__ = [
    "TokenGAEOutput",
    "response_mask",
    "last_token_index",
    "kl_penalty",
    "token_rewards",
    "token_gae",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "decoupled_gae",
    "length_adaptive_lam",
    "grpo_advantages",
    "rloo_advantages",
    "reinforce_pp_advantages",
]

Array = Any  # numpy.ndarray or torch.Tensor


class TokenGAEOutput(NamedTuple):
    """Result of :func:`token_gae` and :func:`decoupled_gae`."""

    advantages: Array
    """:math:`\\hat A_t`, shape ``[batch, tokens]``, 0 where ``mask`` is 0."""
    returns: Array
    """Value targets :math:`\\hat A_t + V(s_t)`, shape ``[batch, tokens]``, 0 where ``mask`` is 0."""


# --------------------------------------------------------------------------- helpers


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

        return torch.from_numpy(np.ascontiguousarray(out)).to(dtype=like.dtype, device=like.device)
    return out


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
        raise ValueError(f"group {np.unique(g)[np.argmin(counts)]!r} has {counts.min()} sample; group baselines "
                         f"need at least 2 samples per prompt")
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


# --------------------------------------------------------------------------- masks and rewards


def response_mask(tokens, eos_id: int):
    """Mask of a right-padded batch of responses: 1 up to *and including* the first EOS.

    A row with no EOS (generation stopped at the length limit) is all ones. This is
    verl's ``get_response_mask`` and TRL's ``~padding_mask``.

    Args:
        tokens: ``[batch, tokens]`` integer token ids of the responses (no prompt).
        eos_id: the end-of-sequence token id.

    Returns:
        ``[batch, tokens]`` bool mask, in the library of ``tokens``.

    Example:
        >>> response_mask(np.array([[5, 7, 2, 0, 0], [5, 5, 5, 5, 5]]), eos_id=2).astype(int)
        array([[1, 1, 1, 0, 0],
               [1, 1, 1, 1, 1]])
    """
    t = _np(tokens)
    if t.ndim != 2:
        raise ValueError(f"tokens must be [batch, tokens]; got shape {t.shape}")
    is_eos = t == eos_id
    after = np.cumsum(is_eos, axis=1) - is_eos  # number of EOS strictly before each position
    out = after == 0
    if _checks.is_torch(tokens):
        import torch

        return torch.from_numpy(out).to(tokens.device)
    return out


def last_token_index(mask):
    """Index of the last valid token of every row (where the score goes).

    Args:
        mask: ``[batch, tokens]`` bool or 0/1; every row needs a valid token.

    Returns:
        ``[batch]`` int64 numpy array.
    """
    m = _np(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be [batch, tokens]; got shape {m.shape}")
    m = m.astype(bool)
    _nonempty_rows(m)
    return (m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1)).astype(np.int64)


def kl_penalty(logprobs, ref_logprobs, mask=None, *, kind: str = "k1"):
    r"""Per-token estimate of :math:`\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}})` from the sampled tokens.

    With :math:`\rho_t = \log\pi(a_t|s_t) - \log\pi_{\mathrm{ref}}(a_t|s_t)` and
    :math:`a_t \sim \pi`:

    .. math::
        k_1 = \rho_t, \qquad k_2 = \tfrac12 \rho_t^2, \qquad k_3 = e^{-\rho_t} - 1 + \rho_t .

    All three have the KL as (or near) their expectation: :math:`k_1` is unbiased but
    can be negative, :math:`k_3` is unbiased and non-negative with lower variance,
    :math:`k_2` is biased but non-negative (Schulman, "Approximating KL divergence",
    2020). k1 is the default of TRL, OpenRLHF and verl for the in-reward penalty
    (verl calls them ``kl``, ``mse``, ``low_var_kl``; verl clamps :math:`k_3` to
    [-10, 10], OpenRLHF clamps all three; gaelib does not clamp).

    Args:
        logprobs: ``[batch, tokens]`` float, :math:`\log\pi` of the sampled tokens
            under the policy that sampled them.
        ref_logprobs: same shape, under the frozen reference (SFT) policy.
        mask: optional ``[batch, tokens]`` 0/1; the result is 0 where it is 0.
        kind: ``"k1"``, ``"k2"`` or ``"k3"``.

    Returns:
        ``[batch, tokens]`` array in the library of ``logprobs``.
    """
    backend = _checks.backend_of(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    lp = _batch_major("logprobs", logprobs, backend)
    rp = _batch_major("ref_logprobs", ref_logprobs, backend)
    _checks.check_same_shape("ref_logprobs", rp, "logprobs", lp)
    if kind not in ("k1", "k2", "k3"):
        raise ValueError(f"kind must be 'k1', 'k2' or 'k3'; got {kind!r}")
    rho = _np(lp) - _np(rp)
    kl = {"k1": lambda: rho, "k2": lambda: 0.5 * rho**2, "k3": lambda: np.expm1(-rho) + rho}[kind]()
    if mask is not None:
        kl = kl * _mask(mask, "logprobs", lp, backend)
    return _back(kl, lp)


def token_rewards(scores, kl, mask, *, kl_coef: float):
    r"""Shaped per-token rewards of RLHF (InstructGPT-style).

    .. math::
        r_t = -\beta\,\mathrm{KL}_t\,m_t \;+\; S\,[t = t_{\mathrm{last}}],

    where :math:`S` is the sequence score (reward model or verifier), :math:`m` the mask
    and :math:`t_{\mathrm{last}}` the last valid token (EOS, or the last token of a
    truncated response). Nothing is received after it. The sum over tokens is the
    KL-regularised objective :math:`S - \beta \sum_t \mathrm{KL}_t` of
    Ouyang et al. (2022) and Ziegler et al. (2019).

    Args:
        scores: ``[batch]`` float, one score per response.
        kl: ``[batch, tokens]`` float per-token KL estimates (:func:`kl_penalty`).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        kl_coef: β >= 0.

    Returns:
        ``[batch, tokens]`` rewards in the library of ``kl``; 0 where ``mask`` is 0.

    Example:
        >>> token_rewards(np.array([1.0]), np.array([[0.5, 0.1, 0.0]]), np.array([[1, 1, 0]]), kl_coef=0.1)
        array([[-0.05,  0.99,  0.  ]])
    """
    backend = _checks.backend_of(scores=scores, kl=kl, mask=mask)
    k = _batch_major("kl", kl, backend)
    m = _mask(mask, "kl", k, backend)
    s = _np(_scores(scores, backend, k.shape[0]))
    if not isinstance(kl_coef, numbers.Real) or isinstance(kl_coef, bool) or not kl_coef >= 0:
        raise ValueError(f"kl_coef must be a number >= 0; got {kl_coef!r}")
    last = last_token_index(m)
    kn = _np(k)
    r = (np.where(m, -float(kl_coef) * kn, 0.0) + 0.0).astype(_float_dtype(kn, s))  # + 0.0: no -0.0
    r[np.arange(len(s)), last] += s
    return _back(r, k)


# --------------------------------------------------------------------------- GAE


def token_gae(rewards, values, mask, *, gamma, lam) -> TokenGAEOutput:
    r"""GAE over a batch-major ``[batch, tokens]`` batch of responses, with a mask.

    Over the valid tokens :math:`t_0 < t_1 < \dots < t_{n-1}` of a row (masked tokens
    are skipped, as in verl):

    .. math::
        \delta_k = r_{t_k} + \gamma V(s_{t_{k+1}}) - V(s_{t_k}), \qquad
        \hat A_{t_k} = \delta_k + \gamma\lambda \hat A_{t_{k+1}},

    with :math:`V(s_{t_n}) = 0` and :math:`\hat A_{t_n} = 0`: the state after the last
    valid token is terminal (EOS), so nothing is bootstrapped there. A truncated
    response (no EOS) is treated the same way, as TRL, OpenRLHF and verl do. The value
    targets are ``returns = advantages + values`` (before any whitening).
    With γ = λ = 1, :math:`\hat A_t = \sum_{k \ge t} r_k - V(s_t)`: the reward-to-go
    minus the value.

    This calls :func:`gaelib.gae` on the transposed arrays (valid tokens moved to the
    front of each row, ``terminated`` at the last one, ``last_value=0``).

    Args:
        rewards: ``[batch, tokens]`` float, e.g. from :func:`token_rewards`.
        values: ``[batch, tokens]`` float, :math:`V(s_t)` read at the position that
            predicts token ``t`` (the hidden state of the token before it).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        gamma: γ in [0, 1], a float or shape ``[batch]``. 1.0 in every LLM engine.
        lam: λ in [0, 1], a float or shape ``[batch]`` (one λ per sequence, e.g.
            :func:`length_adaptive_lam`).

    Returns:
        :class:`TokenGAEOutput` ``(advantages, returns)``, each ``[batch, tokens]``, in the
        library of ``rewards``, 0 where ``mask`` is 0.

    Example:
        >>> adv, ret = token_gae(np.array([[0., 1., 0.]]), np.array([[.5, .5, 9.]]),
        ...                      np.array([[1, 1, 0]]), gamma=1.0, lam=1.0)
        >>> adv
        array([[0.5, 0.5, 0. ]])
    """
    backend = _checks.backend_of(rewards=rewards, values=values, mask=mask)
    r = _batch_major("rewards", rewards, backend)
    v = _batch_major("values", values, backend)
    _checks.check_same_shape("values", v, "rewards", r)
    m = _mask(mask, "rewards", r, backend)
    B, T = m.shape
    gamma = _per_sequence("gamma", gamma, B)
    lam = _per_sequence("lam", lam, B)
    n = _nonempty_rows(m)
    rn, vn = _np(r), _np(v)
    dtype = _float_dtype(rn, vn)
    # valid tokens first (stable order), then time-major for the core
    order = np.argsort(~m, axis=1, kind="stable")
    valid = np.arange(T)[None, :] < n[:, None]
    rc = np.where(valid, np.take_along_axis(rn, order, 1), 0).astype(dtype)
    vc = np.where(valid, np.take_along_axis(vn, order, 1), 0).astype(dtype)
    terminated = np.arange(T)[None, :] == (n - 1)[:, None]
    adv_tm, _ = gae(rc.T, vc.T, last_value=np.zeros(B, dtype), terminated=terminated.T,
                    gamma=gamma, lam=lam)
    adv_c = np.where(valid, adv_tm.T, 0)
    adv = np.zeros((B, T), dtype)
    np.put_along_axis(adv, order, adv_c, 1)
    ret = np.where(m, adv + vn, 0).astype(dtype)
    return TokenGAEOutput(_back(adv, r), _back(ret, r))


def decoupled_gae(rewards, values, mask, *, gamma, lam_actor, lam_critic=1.0) -> TokenGAEOutput:
    r"""Decoupled GAE (VC-PPO): one λ for the policy's advantages, another for the critic's targets.

    .. math::
        \hat A_t = \mathrm{GAE}(\gamma, \lambda_{\mathrm{actor}})_t, \qquad
        G_t = \mathrm{GAE}(\gamma, \lambda_{\mathrm{critic}})_t + V(s_t).

    Yuan et al. (2025) trace PPO's collapse on long chains of thought partly to the
    terminal reward reaching token :math:`t` only with weight
    :math:`(\gamma\lambda)^{T-t-1}`: with λ < 1 and thousands of tokens the critic's
    targets barely see the reward. Their fix trains the critic on λ_critic = 1
    (Monte Carlo) targets while the actor keeps a λ_actor < 1 for lower variance.
    VAPO (Yue et al., 2025) keeps this and makes λ_actor depend on the length
    (:func:`length_adaptive_lam`). With ``lam_actor == lam_critic`` this is
    :func:`token_gae`.

    Args:
        rewards, values, mask, gamma: as in :func:`token_gae`.
        lam_actor: λ for the advantages; float or ``[batch]``.
        lam_critic: λ for the value targets; float or ``[batch]`` (default 1.0).

    Returns:
        :class:`TokenGAEOutput` ``(advantages, returns)``.
    """
    adv, _ = token_gae(rewards, values, mask, gamma=gamma, lam=lam_actor)
    _, ret = token_gae(rewards, values, mask, gamma=gamma, lam=lam_critic)
    return TokenGAEOutput(adv, ret)


def length_adaptive_lam(lengths, *, alpha: float):
    r"""VAPO's length-adaptive λ for the policy: :math:`\lambda = 1 - 1/(\alpha\, l)`.

    The effective horizon of GAE is :math:`\sum_{k\ge0}\lambda^k = 1/(1-\lambda)`;
    VAPO (Yue et al., 2025) makes it proportional to the response length :math:`l`,
    :math:`1/(1-\lambda) = \alpha l`, so long responses get λ close to 1 (less decay
    of the terminal reward) and short ones a smaller λ (less variance). The result is
    clipped to [0, 1]: :math:`\alpha l \le 1` gives λ = 0. α is a hyperparameter; the
    paper's regime is responses of thousands of tokens, so toy lengths need a much
    larger α than the paper's.

    Args:
        lengths: ``[batch]`` response lengths (number of valid tokens), > 0.
        alpha: α > 0.

    Returns:
        ``[batch]`` float64 numpy array of λ in [0, 1] (pass it as ``lam`` to
        :func:`token_gae` or ``lam_actor`` to :func:`decoupled_gae`).

    Example:
        >>> length_adaptive_lam(np.array([1, 4, 100]), alpha=0.5)
        array([0.  , 0.5 , 0.98])
    """
    lengths = _np(lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths must have shape [batch]; got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.number) or not (lengths > 0).all():
        raise ValueError("lengths must be positive numbers (valid tokens per response)")
    if not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0; got {alpha!r}")
    return np.clip(1.0 - 1.0 / (alpha * lengths.astype(np.float64)), 0.0, 1.0)


# --------------------------------------------------------------------------- masked statistics


def masked_mean(x, mask):
    """Mean of ``x`` over the positions where ``mask`` is 1 (a 0-d array / tensor)."""
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    _checks.check_float("x", x)
    m = _mask(mask, "x", x, backend)
    if m.sum() == 0:
        raise ValueError("mask selects no element; a masked mean needs at least one")
    xn = _np(x)
    return _back(np.asarray((xn * m).sum() / m.sum(), dtype=xn.dtype), x)


def masked_var(x, mask, *, unbiased: bool = True):
    r"""Variance of ``x`` over the positions where ``mask`` is 1.

    .. math:: \hat\sigma^2 = \frac{1}{n - u}\sum_{m_i = 1} (x_i - \bar x)^2,
       \quad n = \textstyle\sum_i m_i,\; u = 1 \text{ if unbiased else } 0.

    ``unbiased=True`` (Bessel's correction) is verl's and TRL's choice, and needs
    n >= 2; OpenRLHF divides by n.
    """
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    _checks.check_float("x", x)
    m = _mask(mask, "x", x, backend)
    n = int(m.sum())
    if n < (2 if unbiased else 1):
        raise ValueError(f"mask selects {n} element(s); the {'unbiased ' if unbiased else ''}variance needs "
                         f"at least {2 if unbiased else 1}")
    xn = _np(x)
    mean = (xn * m).sum() / n
    ss = (((xn - mean) * m) ** 2).sum()
    return _back(np.asarray(ss / (n - 1 if unbiased else n), dtype=xn.dtype), x)


def masked_whiten(x, mask, *, shift_mean: bool = True, unbiased: bool = True, eps: float = 1e-8):
    r"""Standardise ``x`` with the mean and variance of its valid entries only.

    .. math::
        \tilde x_i = \frac{x_i - \bar x}{\sqrt{\hat\sigma^2 + \epsilon}}
        \;\; (+\,\bar x \text{ if not shift\_mean}), \qquad 0 \text{ where } m_i = 0,

    with :math:`\bar x`, :math:`\hat\sigma^2` from :func:`masked_mean` and
    :func:`masked_var` over the whole batch (one mean for all tokens, not per row).
    Pads neither enter the statistics nor receive a value. The default is the
    advantage whitening of TRL and verl (unbiased variance, ε = 1e-8, mean shifted
    to 0); ``shift_mean=False`` rescales but keeps the mean (TRL's reward whitening);
    ``unbiased=False`` matches OpenRLHF.

    Args:
        x: ``[batch, tokens]`` (any shape) float.
        mask: same shape, 0/1.
        shift_mean: subtract the mean (True) or keep it (False).
        unbiased: Bessel-corrected variance.
        eps: added to the variance.

    Returns:
        Array like ``x``.
    """
    backend = _checks.backend_of(x=x, mask=mask)
    x = _checks.as_array("x", x, backend)
    mean = _np(masked_mean(x, mask))
    var = _np(masked_var(x, mask, unbiased=unbiased))
    m = _np(mask).astype(bool)
    xn = _np(x)
    out = (xn - mean) / np.sqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return _back(np.where(m, out, 0).astype(xn.dtype), x)


# --------------------------------------------------------------------------- critic-free estimators


def _group_inputs(scores, groups, mask):
    """Validated inputs of a group estimator: backend, scores, row mask, group ids,
    scores as numpy, and the size of each group."""
    backend = _checks.backend_of(scores=scores, mask=mask)
    s = _scores(scores, backend)
    m = _row_mask(mask, s.shape[0], backend)
    g = _groups(groups, s.shape[0])
    return backend, s, m, g, _np(s), np.bincount(g)


def grpo_advantages(scores, groups, mask, *, scale_by_std: bool = True, eps: float = 1e-6):
    r"""GRPO's group-normalised advantage (outcome supervision), broadcast to every valid token.

    For the :math:`G` responses :math:`i` to the same prompt, with sequence returns
    :math:`R_i`:

    .. math::
        \hat A_{i,t} = \frac{R_i - \operatorname{mean}_j R_j}{\operatorname{std}_j R_j + \epsilon}
        \quad\text{or, with } \texttt{scale\_by\_std=False},\quad
        \hat A_{i,t} = R_i - \operatorname{mean}_j R_j .

    The first is GRPO (Shao et al., 2024); std is the unbiased one and ε = 1e-6, as in
    verl. The second is Dr. GRPO (Liu et al., 2025), who show that dividing by the
    group's std weights prompts by how easy or hard they are. No critic: the group mean
    is the baseline, the same for every token of a response.

    Args:
        scores: ``[batch]`` float sequence returns :math:`R_i` (verl uses the sum of the
            token rewards, so any in-reward KL penalty is included).
        groups: an int group size ``G`` (rows ``[kG, (k+1)G)`` answer the same prompt), or
            ``[batch]`` group ids (verl's ``index``). Every group needs >= 2 samples.
        mask: ``[batch, tokens]`` 0/1.
        scale_by_std: divide by the group std (GRPO) or not (Dr. GRPO).
        eps: added to the std.

    Returns:
        ``[batch, tokens]`` advantages in the library of ``scores``, 0 where ``mask`` is 0.
    """
    backend, s, m, g, sn, counts = _group_inputs(scores, groups, mask)
    mean = np.bincount(g, sn) / counts
    a = sn - mean[g]
    if scale_by_std:
        std = np.sqrt(np.bincount(g, a**2) / (counts - 1))
        a = a / (std[g] + eps)
    return _back((a[:, None] * m).astype(sn.dtype), s)


def rloo_advantages(scores, groups, mask):
    r"""RLOO's leave-one-out advantage, broadcast to every valid token.

    .. math::
        \hat A_{i,t} = R_i - \frac{1}{G-1}\sum_{j \ne i} R_j
        = \frac{G}{G-1}\Big(R_i - \operatorname{mean}_j R_j\Big).

    The baseline of each sample is the mean of the *other* samples of its prompt, so it
    is independent of the sample and the estimator is unbiased (Kool et al., 2019;
    Ahmadian et al., 2024). The second form shows RLOO is Dr. GRPO times
    :math:`G/(G-1)` (a test checks it).

    Args:
        scores: ``[batch]`` float sequence returns.
        groups: int group size or ``[batch]`` group ids (each group >= 2 samples).
        mask: ``[batch, tokens]`` 0/1.

    Returns:
        ``[batch, tokens]`` advantages, 0 where ``mask`` is 0.
    """
    backend, s, m, g, sn, counts = _group_inputs(scores, groups, mask)
    total = np.bincount(g, sn)
    a = sn - (total[g] - sn) / (counts[g] - 1)
    return _back((a[:, None] * m).astype(sn.dtype), s)


def reinforce_pp_advantages(rewards, mask, *, gamma, groups=None, eps: float = 1e-8):
    r"""REINFORCE++: discounted token returns, whitened over the whole batch.

    .. math::
        G_t = \sum_{k \ge t,\, m_k = 1} \gamma^{k - t} r_k, \qquad
        \hat A_t = \frac{G_t - \overline{G}}{\sqrt{\hat\sigma_G^2 + \epsilon}},

    with the mean and (unbiased) variance taken over every valid token of the batch
    (:func:`masked_whiten`), not per prompt: Hu et al. (2025) argue that this *global*
    normalisation is effectively unbiased as the batch grows, while GRPO's per-prompt
    normalisation is biased. With ``groups`` given, the "REINFORCE++ with baseline"
    variant: each sequence's return (the sum of its token rewards) minus its group's
    mean, broadcast to the tokens, then whitened globally (verl's
    ``reinforce_plus_plus_baseline``).

    Args:
        rewards: ``[batch, tokens]`` float token rewards (KL penalty included).
        mask: ``[batch, tokens]`` 0/1.
        gamma: γ in [0, 1] (float or ``[batch]``); unused with ``groups``.
        groups: optional int group size or ``[batch]`` group ids.
        eps: added to the variance.

    Returns:
        ``[batch, tokens]`` advantages, 0 where ``mask`` is 0.
    """
    backend = _checks.backend_of(rewards=rewards, mask=mask)
    r = _batch_major("rewards", rewards, backend)
    m = _mask(mask, "rewards", r, backend)
    _nonempty_rows(m)
    rn = _np(r) * m
    if groups is None:
        gamma = _per_sequence("gamma", gamma, m.shape[0])
        zeros = np.zeros_like(rn)
        ret, _ = token_gae(rn, zeros, m, gamma=gamma, lam=1.0)  # λ = 1, V = 0: the discounted return
    else:
        g = _groups(groups, m.shape[0])
        R = rn.sum(axis=1)
        base = np.bincount(g, R) / np.bincount(g)
        ret = (R - base[g])[:, None] * m
    return _back(_np(masked_whiten(ret, m, eps=eps)).astype(rn.dtype), r)
