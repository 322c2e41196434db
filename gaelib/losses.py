r"""PPO's losses and diagnostics, defined once, for control and for language models alike.

Every function takes torch tensors of one shape (``[B]`` transitions for control, ``[B, R]``
tokens for language models) and an optional ``mask`` of **exactly** that shape (bool or 0/1
float; 1 marks a valid entry). Shapes must match exactly: nothing is broadcast, so
``advantages`` of shape ``[B, 1]`` against ``log_probs`` of shape ``[B]`` is an error naming
the argument, not a silent ``[B, B]`` matrix (the bug the TensorFlow chapter teaches).
Masked-out entries are never read: a NaN or an infinity there does not reach the result.

Each loss is a mean over the valid entries ("token-mean" for language models, the mean over
the minibatch for control):

.. math:: \bar x = \frac{\sum_i m_i x_i}{\sum_i m_i}.

* :func:`clipped_surrogate_loss`: PPO-Clip's objective, negated (Schulman et al., 2017, eq. 7);
* :func:`value_loss`: the critic's squared error, plain or clipped (OpenAI Baselines);
* :func:`entropy_bonus`: the mean entropy (subtracted from the loss with a coefficient);
* :func:`approx_kl` and :func:`clip_fraction`: the diagnostics every PPO implementation logs.

Reference: J. Schulman, F. Wolski, P. Dhariwal, A. Radford, O. Klimov, "Proximal Policy
Optimization Algorithms", arXiv:1707.06347, 2017.
"""

from __future__ import annotations

import math

import torch

__all__ = ["clipped_surrogate_loss", "value_loss", "entropy_bonus", "approx_kl", "clip_fraction"]


# --------------------------------------------------------------------------- checks and the masked mean


def _check_tensors(ref_name: str, ref, **others) -> None:
    """Raise unless every argument is a floating-point tensor of exactly ``ref``'s shape."""
    for name, x in {ref_name: ref, **others}.items():
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
        if x.shape != ref.shape:
            raise ValueError(f"{name} has shape {tuple(x.shape)} but {ref_name} has shape "
                             f"{tuple(ref.shape)}; they must match exactly (no broadcasting)")
    if ref.numel() == 0:
        raise ValueError(f"{ref_name} is empty (shape {tuple(ref.shape)})")


def _check_mask(mask, ref_name: str, ref) -> torch.Tensor | None:
    """``mask`` as a bool tensor of ``ref``'s shape selecting at least one entry (or None)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor or None; got {type(mask).__name__}")
    if mask.shape != ref.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)} but {ref_name} has shape {tuple(ref.shape)}; "
                         "they must match exactly (no broadcasting)")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must hold only 0 and 1 (or be a bool tensor)")
        mask = mask != 0
    if not bool(mask.any()):
        raise ValueError("mask selects no entry; a masked mean needs at least one")
    return mask


def _check_positive(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {v!r}")
    return float(v)


def _mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is True (all entries without a mask).

    ``torch.where`` rather than ``x * mask``, so that a NaN or infinity at a masked-out entry
    stays out of the sum (``nan * 0`` is NaN); the gradient there is exactly 0.
    """
    if mask is None:
        return x.mean()
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype)).sum() / mask.sum()


# --------------------------------------------------------------------------- losses


def clipped_surrogate_loss(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                           *, clip_range: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""PPO's clipped surrogate objective, negated (a loss to minimise).

    .. math::
        L^{\mathrm{CLIP}} = -\operatorname{mean}_{m_i = 1} \min\!\big(\rho_i \hat A_i,\;
        \mathrm{clip}(\rho_i, 1-\epsilon, 1+\epsilon)\, \hat A_i\big),
        \qquad \rho_i = \exp\big(\log\pi_\theta(a_i \mid s_i) - \log\pi_{\theta_\text{old}}(a_i \mid s_i)\big).

    At :math:`\rho = 1` (the first minibatch of an update) it is :math:`-\operatorname{mean}\hat A`
    and its gradient is the vanilla policy gradient; where the clipped term is the minimum, the
    gradient is 0.

    Args:
        log_probs: :math:`\log\pi_\theta(a_i \mid s_i)`, ``[B]`` or ``[B, R]``, with gradient.
        old_log_probs: the same at collection time (constants), same shape.
        advantages: :math:`\hat A_i` (constants), same shape.
        clip_range: ε > 0.
        mask: optional, same shape; 1 (True) marks the entries averaged.

    Returns:
        A scalar tensor.

    Example:
        >>> import torch
        >>> old = torch.zeros(2)
        >>> new = torch.log(torch.tensor([1.5, 0.5]))
        >>> clipped_surrogate_loss(new, old, torch.tensor([1.0, 1.0]), clip_range=0.2)  # -(1.2 + 0.5) / 2
        tensor(-0.8500)
    """
    _check_tensors("log_probs", log_probs, old_log_probs=old_log_probs, advantages=advantages)
    clip_range = _check_positive("clip_range", clip_range)
    mask = _check_mask(mask, "log_probs", log_probs)
    ratio = torch.exp(log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages
    return -_mean(torch.minimum(unclipped, clipped), mask)


def value_loss(values: torch.Tensor, returns: torch.Tensor, *, old_values: torch.Tensor | None = None,
               clip_range: float | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Squared error of the critic to its targets, optionally clipped.

    Plain:

    .. math:: L^V = \operatorname{mean}_{m_i = 1} \big(V_\phi(s_i) - G_i\big)^2 .

    Clipped (OpenAI Baselines; TRL and verl for tokens), with
    :math:`V^{\mathrm{clip}}_i = V_\text{old}(s_i) + \mathrm{clip}(V_\phi(s_i) - V_\text{old}(s_i), -c, c)`:

    .. math:: L^V = \operatorname{mean}_{m_i = 1} \max\big((V_\phi(s_i) - G_i)^2,\ (V^{\mathrm{clip}}_i - G_i)^2\big).

    No factor 1/2: a trainer that wants one multiplies by its ``vf_coef``. The targets
    :math:`G_i` (GAE's λ-returns) are constants: no gradient flows through them.

    Args:
        values: :math:`V_\phi(s_i)`, ``[B]`` or ``[B, R]``, with gradient.
        returns: targets :math:`G_i`, same shape.
        old_values: :math:`V(s_i)` at collection time, same shape; needed with ``clip_range``.
        clip_range: c > 0, or None for the plain loss.
        mask: optional, same shape; 1 (True) marks the entries averaged.

    Returns:
        A scalar tensor.

    Example:
        >>> import torch
        >>> value_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 5.0]))  # (1 + 4) / 2
        tensor(2.5000)
    """
    _check_tensors("values", values, returns=returns)
    mask = _check_mask(mask, "values", values)
    err = (values - returns).pow(2)
    if clip_range is None:
        if old_values is not None:
            raise ValueError("old_values is only used with clip_range; pass clip_range or drop old_values")
        return _mean(err, mask)
    clip_range = _check_positive("clip_range", clip_range)
    if old_values is None:
        raise ValueError("clip_range needs old_values (the values at collection time)")
    _check_tensors("values", values, old_values=old_values)
    clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    return _mean(torch.maximum(err, (clipped - returns).pow(2)), mask)


def entropy_bonus(entropy: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Mean entropy of the policy, :math:`\operatorname{mean}_{m_i = 1} \mathcal H[\pi_\theta(\cdot \mid s_i)]`.

    PPO's total loss subtracts it: :math:`L = L^{\mathrm{CLIP}} + c_V L^V - c_H\, \bar{\mathcal H}`.

    Args:
        entropy: per-state entropies, ``[B]`` or ``[B, R]``.
        mask: optional, same shape.

    Returns:
        A scalar tensor.
    """
    _check_tensors("entropy", entropy)
    return _mean(entropy, _check_mask(mask, "entropy", entropy))


# --------------------------------------------------------------------------- diagnostics


def approx_kl(log_probs: torch.Tensor, old_log_probs: torch.Tensor, *,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Estimate of :math:`\mathrm{KL}(\pi_{\theta_\text{old}} \,\|\, \pi_\theta)` from samples of the old policy.

    .. math:: \widehat{\mathrm{KL}} = \operatorname{mean}_{m_i = 1} \big((\rho_i - 1) - \log \rho_i\big) \ \ge 0

    (unbiased, never negative; J. Schulman, "Approximating KL divergence", 2020). It is 0 when
    the two policies agree on every sampled action.

    Args:
        log_probs, old_log_probs: log-probabilities of the sampled actions, same shape.
        mask: optional, same shape.

    Returns:
        A scalar tensor (no gradient).
    """
    _check_tensors("log_probs", log_probs, old_log_probs=old_log_probs)
    mask = _check_mask(mask, "log_probs", log_probs)
    with torch.no_grad():
        log_ratio = log_probs - old_log_probs
        return _mean(torch.expm1(log_ratio) - log_ratio, mask)


def clip_fraction(log_probs: torch.Tensor, old_log_probs: torch.Tensor, *, clip_range: float,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Fraction of the entries whose ratio lies outside the clip range.

    .. math:: \operatorname{mean}_{m_i = 1} \mathbb 1\big[\,|\rho_i - 1| > \epsilon\,\big]

    Args:
        log_probs, old_log_probs: log-probabilities of the sampled actions, same shape.
        clip_range: ε > 0.
        mask: optional, same shape.

    Returns:
        A scalar tensor in [0, 1] (no gradient).
    """
    _check_tensors("log_probs", log_probs, old_log_probs=old_log_probs)
    clip_range = _check_positive("clip_range", clip_range)
    mask = _check_mask(mask, "log_probs", log_probs)
    with torch.no_grad():
        ratio = torch.exp(log_probs - old_log_probs)
        return _mean(((ratio - 1.0).abs() > clip_range).to(log_probs.dtype), mask)
