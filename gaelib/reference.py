r"""Plain reference implementations, for teaching and for testing.

These are deliberately simple and slow. :func:`gae_loop` is the loop every
peer library writes (Stable-Baselines3's ``compute_returns_and_advantage``, the
loops in TRL, verl and OpenRLHF): a Python loop backwards over time, vectorised
across the batch. :func:`nstep_return` and :func:`lambda_returns_bruteforce`
compute the textbook definitions literally, episode by episode, with no
recursion, so that tests can check the fast recursions against them.

Same conventions as :mod:`gaelib.advantages` (time-major ``[T, *batch]``,
``rewards[t]`` received on the step from :math:`s_t` to :math:`s_{t+1}`,
``next_values[t]`` = :math:`V(s_{t+1})`), numpy only, no input validation
beyond what numpy does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gae_loop", "masked_gae_loop", "nstep_return", "lambda_returns_bruteforce"]


def _next_values(values, last_value, next_values):
    if next_values is not None:
        return np.asarray(next_values)
    return np.concatenate([values[1:], np.asarray(last_value, values.dtype)[None]], axis=0)


def gae_loop(rewards, values, *, last_value=None, next_values=None,
             terminated=None, truncated=None, gamma, lam):
    r"""GAE by the textbook backward loop (the reference for :func:`gaelib.gae`).

    .. math::
        \delta_t = r_t + \gamma (1 - d^{\mathrm{term}}_t) V(s_{t+1}) - V(s_t), \qquad
        \hat A_t = \delta_t + \gamma\lambda (1 - d^{\mathrm{term}}_t)(1 - d^{\mathrm{trunc}}_t) \hat A_{t+1}

    Args:
        rewards, values: ``[T, *batch]`` numpy arrays.
        last_value: ``batch``-shaped :math:`V(s_T)`, or ``next_values`` ``[T, *batch]``.
        terminated, truncated: optional ``[T, *batch]`` bool arrays.
        gamma, lam: floats, ``batch``-shaped or ``(1, *batch)`` arrays (per sequence), or
            ``[T, *batch]`` arrays (per step).

    Returns:
        ``(advantages, returns)``, each ``[T, *batch]``.
    """
    rewards = np.asarray(rewards)
    values = np.asarray(values)
    nxt = _next_values(values, last_value, next_values)
    term = np.zeros(rewards.shape, bool) if terminated is None else np.asarray(terminated, bool)
    trunc = np.zeros(rewards.shape, bool) if truncated is None else np.asarray(truncated, bool)
    advantages = np.zeros_like(rewards)
    next_adv = np.zeros_like(rewards[0])
    gamma, lam = np.broadcast_to(gamma, rewards.shape), np.broadcast_to(lam, rewards.shape)
    for t in reversed(range(len(rewards))):
        g, l = gamma[t], lam[t]
        not_term = 1.0 - term[t]
        delta = rewards[t] + g * not_term * nxt[t] - values[t]
        next_adv = delta + g * l * not_term * (1.0 - trunc[t]) * next_adv
        advantages[t] = next_adv
    return advantages, advantages + values


def masked_gae_loop(rewards, values, mask, *, gamma, lam):
    r"""GAE over batch-major ``[batch, tokens]`` arrays, skipping masked tokens (verl's loop).

    The loop of verl's ``compute_gae_advantage_return``, written over one row at a time:
    walking the tokens backwards, a valid token forms
    :math:`\delta_t = r_t + \gamma V_{\mathrm{next}} - V(s_t)` and
    :math:`\hat A_t = \delta_t + \gamma\lambda \hat A_{\mathrm{next}}`, where "next" is
    the next *valid* token (0 after the last one); a masked token changes nothing and
    gets 0. The reference for :func:`gaelib.masked_gae`.

    Args:
        rewards, values: ``[batch, tokens]`` numpy arrays.
        mask: ``[batch, tokens]`` bool or 0/1.
        gamma, lam: floats, ``[batch]`` or ``[batch, tokens]`` arrays.

    Returns:
        ``(advantages, returns)``, each ``[batch, tokens]``, 0 where ``mask`` is 0.
    """
    rewards, values = np.asarray(rewards, float), np.asarray(values, float)
    B, L = rewards.shape
    mask = np.asarray(mask).astype(bool)
    gamma, lam = (np.broadcast_to(np.reshape(p, (B, -1)) if np.ndim(p) else p, (B, L)) for p in (gamma, lam))
    adv = np.zeros((B, L))
    for i in range(B):
        next_value, next_adv = 0.0, 0.0
        for t in reversed(range(L)):
            if not mask[i, t]:
                continue
            delta = rewards[i, t] + gamma[i, t] * next_value - values[i, t]
            next_adv = delta + gamma[i, t] * lam[i, t] * next_adv
            next_value = values[i, t]
            adv[i, t] = next_adv
    return adv, np.where(mask, adv + values, 0.0)


def nstep_return(rewards, next_values, terminated, truncated, t, n, gamma):
    r"""The n-step return of one trajectory (1-D arrays), straight from its definition.

    .. math::
        G^{(n)}_t = \sum_{l=0}^{k-1} \gamma^l r_{t+l} + \gamma^k V(s_{t+k})\,[s_{t+k}\ \text{not terminal}]

    where :math:`k = \min(n, \text{steps to the end of the episode or of the data})`.

    Args:
        rewards, next_values: ``[T]`` arrays; ``next_values[t]`` = :math:`V(s_{t+1})`.
        terminated, truncated: ``[T]`` bool arrays.
        t: start step; n: number of steps (``n >= 1``); gamma: float.
    """
    T = len(rewards)
    total = 0.0
    for k in range(n):
        step = t + k
        total += gamma ** k * rewards[step]
        if terminated[step]:
            return total
        if truncated[step] or step == T - 1 or k == n - 1:
            return total + gamma ** (k + 1) * next_values[step]
    raise AssertionError("unreachable")  # pragma: no cover


def lambda_returns_bruteforce(rewards, next_values, terminated, truncated, gamma, lam):
    r"""λ-returns of one trajectory (1-D arrays) as a weighted average of n-step returns.

    .. math::
        G^\lambda_t = (1 - \lambda) \sum_{n=1}^{K-1} \lambda^{n-1} G^{(n)}_t + \lambda^{K-1} G^{(K)}_t

    where :math:`K` is the number of steps from ``t`` to the end of its episode
    (or of the data): every n-step return with :math:`n \ge K` equals
    :math:`G^{(K)}_t`, so the tail of the infinite sum collapses onto it.
    O(T²) per trajectory: for tests and for the derivation chapter.
    """
    T = len(rewards)
    out = np.zeros(T)
    for t in range(T):
        K = 1
        while not (terminated[t + K - 1] or truncated[t + K - 1] or t + K - 1 == T - 1):
            K += 1
        total = 0.0
        for n in range(1, K):
            total += (1 - lam) * lam ** (n - 1) * nstep_return(rewards, next_values, terminated, truncated, t, n, gamma)
        total += lam ** (K - 1) * nstep_return(rewards, next_values, terminated, truncated, t, K, gamma)
        out[t] = total
    return out
