r"""Critic-free advantage estimators: GRPO and Dr. GRPO, RLOO, REINFORCE++ (with and without baseline)."""

from __future__ import annotations

import numpy as np

from gaelib import _checks
from gaelib.advantages import GAEOutput
from gaelib.llm._inputs import _back, _batch_major, _groups, _mask, _nonempty_rows, _np, _per_sequence, \
    _row_mask, _scores
from gaelib.llm.gae import token_gae
from gaelib.llm.masks import masked_whiten
from gaelib.llm.registry import register_estimator

__all__ = ["grpo_advantages", "rloo_advantages", "reinforce_pp_advantages"]


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


# --------------------------------------------------------------------------- registered under their names


def _sequence_returns(rewards, mask):
    """:math:`R_i = \\sum_{t:\\,m_{i,t}=1} r_{i,t}`, shape ``[batch]``, in the library of ``rewards``."""
    backend = _checks.backend_of(rewards=rewards, mask=mask)
    r = _batch_major("rewards", rewards, backend)
    m = _mask(mask, "rewards", r, backend)
    if _checks.is_torch(r):
        import torch

        return torch.where(torch.from_numpy(m).to(r.device), r, 0.0).sum(1)
    return np.where(m, r, 0).sum(1)


@register_estimator("grpo", critic=False)
def _grpo_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"grpo"``: :func:`grpo_advantages` of the sequence returns."""
    return GAEOutput(grpo_advantages(_sequence_returns(rewards, mask), groups, mask), None)


@register_estimator("drgrpo", critic=False)
def _drgrpo_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"drgrpo"``: :func:`grpo_advantages` with ``scale_by_std=False`` (Dr. GRPO)."""
    return GAEOutput(grpo_advantages(_sequence_returns(rewards, mask), groups, mask, scale_by_std=False), None)


@register_estimator("rloo", critic=False)
def _rloo_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"rloo"``: :func:`rloo_advantages` of the sequence returns."""
    return GAEOutput(rloo_advantages(_sequence_returns(rewards, mask), groups, mask), None)


@register_estimator("reinforce_pp", critic=False)
def _reinforce_pp_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"reinforce_pp"``: :func:`reinforce_pp_advantages` (global whitening, no baseline)."""
    return GAEOutput(reinforce_pp_advantages(rewards, mask, gamma=gamma), None)


@register_estimator("reinforce", critic=False)
def _reinforce_estimator(rewards, mask, *, values=None, gamma=1.0, lam=1.0, lam_critic=None, groups=None):
    """Registered as ``"reinforce"``: the sequence return on every valid token, no baseline (a control)."""
    return GAEOutput(_sequence_returns(rewards, mask)[:, None] * mask, None)
