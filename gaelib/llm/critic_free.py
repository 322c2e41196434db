r"""Critic-free advantage estimators: GRPO and Dr. GRPO, RLOO, REINFORCE++ (with and without baseline)."""

from __future__ import annotations

import numpy as np

from gaelib import _checks
from gaelib.advantages import GAEOutput
from gaelib.llm._inputs import _back, _batch_major, _finite_result, _groups, _mask, _nonempty_rows, _nonnegative, _np, \
    _per_sequence, _row_mask, _scores
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
    _nonempty_rows(m)  # an empty response would still set its partners' baseline
    g = _groups(groups, s.shape[0])
    return backend, s, m, g, _np(s), np.bincount(g)


def _group_scale(sn, g, counts):
    """Per row: a power of two >= 1 that brings the group's largest |R| below 2 (dividing by it is
    exact, so normal scores are unchanged and huge ones cannot overflow a square), and whether the
    row's group has all its scores equal (its advantages are then exactly 0)."""
    top, lo, hi = np.zeros(len(counts)), np.full(len(counts), np.inf), np.full(len(counts), -np.inf)
    np.maximum.at(top, g, np.abs(sn))
    np.minimum.at(lo, g, sn)
    np.maximum.at(hi, g, sn)
    scale = np.where(top > 1.0, np.ldexp(1.0, np.frexp(top)[1] - 1), 1.0)  # top / scale < 2
    return scale[g], (lo == hi)[g]


def _broadcast(a, m, sn, s):
    """Per-sequence advantages ``a`` on every valid token, in the dtype and library of the scores."""
    with np.errstate(over="ignore"):
        out = (a[:, None] * m).astype(sn.dtype)
    _finite_result(out, "the advantages", "a score")
    return _back(out, s)


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
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token (an empty response
            would still move its group's baseline).
        scale_by_std: divide by the group std (GRPO) or not (Dr. GRPO).
        eps: added to the std; a finite number >= 0.

    Returns:
        ``[batch, tokens]`` advantages in the library of ``scores``, 0 where ``mask`` is 0.
        A group whose scores are all equal gets advantages exactly 0, for any ``eps``
        (also ``eps=0``, where the formula would be 0/0). Scores up to the float maximum
        are handled exactly (the group is rescaled by a power of two before squaring).
    """
    eps = _nonnegative("eps", eps)
    backend, s, m, g, sn, counts = _group_inputs(scores, groups, mask)
    scale, flat = _group_scale(sn, g, counts)
    x = sn / scale
    a = np.where(flat, 0.0, x - (np.bincount(g, x) / counts)[g])
    if scale_by_std:
        std = np.sqrt(np.bincount(g, a**2) / (counts - 1))
        a = np.where(flat, 0.0, a / np.where(flat, 1.0, std[g] + eps / scale))
    else:
        a = a * scale
    return _broadcast(a, m, sn, s)


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
    scale, _ = _group_scale(sn, g, counts)
    x = sn / scale
    with np.errstate(over="ignore"):  # an advantage beyond the float maximum: _broadcast raises
        a = (x - (np.bincount(g, x)[g] - x) / (counts[g] - 1)) * scale
    return _broadcast(a, m, sn, s)


def reinforce_pp_advantages(rewards, mask, *, gamma, groups=None, eps: float = 1e-8):
    r"""REINFORCE++: discounted token returns, whitened over the whole batch.

    Over the valid tokens :math:`t_0 < t_1 < \dots < t_{n-1}` of a row:

    .. math::
        G_{t_j} = \sum_{i \ge j} \gamma^{\,i - j}\, r_{t_i}, \qquad
        \hat A_{t_j} = \frac{G_{t_j} - \overline{G}}{\sqrt{\hat\sigma_G^2 + \epsilon}},

    so γ discounts once per *valid token*, not per position: tokens where the mask is 0
    inside a response (tool output or user turns in multi-turn data) are not the model's
    actions, and are skipped as :func:`token_gae` skips them (this is :func:`token_gae`
    with :math:`V = 0` and λ = 1). Their rewards are ignored. With right padding only
    (no holes), per valid token and per position agree. The mean and (unbiased) variance
    are taken over every valid token of the batch (:func:`masked_whiten`), not per
    prompt: Hu et al. (2025) argue that this *global* normalisation is effectively
    unbiased as the batch grows, while GRPO's per-prompt normalisation is biased. With
    ``groups`` given, the "REINFORCE++ with baseline" variant: each sequence's return
    (the sum of its valid token rewards) minus its group's mean, broadcast to the
    tokens, then whitened globally (verl's ``reinforce_plus_plus_baseline``).

    verl's ``reinforce_plus_plus`` resets its running return at every masked position at
    commits 26b5d6b (2025-06-20) and b178a3c (2026-01-29), so with holes and γ < 1 it differs from this; the
    version on the package index, 0.9.1, carries it through masked positions, as here.

    Args:
        rewards: ``[batch, tokens]`` float token rewards (KL penalty included).
        mask: ``[batch, tokens]`` 0/1; every row needs a valid token.
        gamma: γ in [0, 1] (float or ``[batch]``); unused with ``groups``.
        groups: optional int group size or ``[batch]`` group ids.
        eps: added to the variance; a finite number >= 0.

    Returns:
        ``[batch, tokens]`` advantages, 0 where ``mask`` is 0.
    """
    backend = _checks.backend_of(rewards=rewards, mask=mask)
    r = _batch_major("rewards", rewards, backend)
    m = _mask(mask, "rewards", r, backend)
    _nonempty_rows(m)
    rn = np.where(m, _np(r), 0)
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
