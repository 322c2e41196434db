"""Evaluating a trained PPO policy: episode returns, the solve point of a run, explained variance."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gaelib.rollout import env_action

__all__ = ["evaluate_policy", "solve_point", "explained_variance"]


def explained_variance(predictions, targets) -> float:
    r"""How much of the targets' variance the predictions explain.

    .. math:: \mathrm{EV} = 1 - \frac{\mathrm{Var}[G - V]}{\mathrm{Var}[G]}

    1 is perfect, 0 is no better than a constant, negative is worse than a constant.

    Args:
        predictions, targets: arrays or tensors of the same shape.

    Returns:
        A float; NaN when the targets are constant.
    """
    p = np.asarray(torch.as_tensor(predictions).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(targets).detach().cpu(), dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"predictions has shape {p.shape} but targets has shape {y.shape}; they must match")
    p, y = p.ravel(), y.ravel()
    var_y = y.var()
    return float("nan") if var_y == 0 else float(1.0 - (y - p).var() / var_y)


@torch.no_grad()
def evaluate_policy(model, env: str | Callable[[], Any] | Any, *, n_episodes: int = 20, seed: int = 0,
                    deterministic: bool = True, max_episode_steps: int = 100_000) -> np.ndarray:
    """Undiscounted returns of ``n_episodes`` episodes with the policy (no learning).

    Args:
        model: an actor-critic from :mod:`gaelib.networks`.
        env: an environment id, a function returning a ``gymnasium.Env``, or an env.
        n_episodes: episodes to run, one after the other, >= 1.
        seed: the first episode's reset seed; episode ``k`` uses ``seed + k``.
        deterministic: take the most likely action (``model.mode``) rather than sampling.
        max_episode_steps: a cap on each episode's length, so that an environment that never
            ends cannot hang the evaluation: an episode still running after this many steps is
            cut there and its return so far is reported. Environments made with ``gymnasium.make``
            usually end earlier through their own ``TimeLimit`` (500 steps for CartPole-v1).

    Returns:
        ``[n_episodes]`` float64 array of returns.
    """
    import gymnasium as gym

    for name, v in (("n_episodes", n_episodes), ("max_episode_steps", max_episode_steps)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer; got {seed!r}")
    owned = not isinstance(env, gym.Env)
    e = gym.make(env) if isinstance(env, str) else (env() if owned else env)
    if not deterministic:
        torch.manual_seed(seed)
    returns = np.zeros(n_episodes)
    try:
        for k in range(n_episodes):
            obs, _ = e.reset(seed=seed + k)
            for _ in range(max_episode_steps):
                x = torch.as_tensor(np.asarray(obs, np.float32))[None]
                a = model.mode(x) if deterministic else model.act(x)[0]
                obs, r, terminated, truncated, _ = e.step(env_action(e.action_space, a[0].numpy()))
                returns[k] += float(r)
                if terminated or truncated:
                    break
    finally:
        if owned:
            e.close()
    return returns


def solve_point(history, *, threshold: float, window: int = 20):
    """The first episode at which the mean return of the last ``window`` finished episodes reaches ``threshold``.

    Args:
        history: a :class:`gaelib.ppo.PPOHistory` from :func:`gaelib.ppo.train_ppo`.
        threshold: e.g. 475 for CartPole-v1.
        window: number of most recent episodes averaged, >= 1.

    Returns:
        ``(env_steps, seconds)`` at that episode's end, or ``None`` if never reached.
    """
    if not isinstance(window, numbers.Integral) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be an integer >= 1; got {window!r}")
    r = np.asarray(history.episode_returns, dtype=np.float64)
    if r.size < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")  # means[k] ends at episode k + window - 1
    hit = np.flatnonzero(means >= threshold)
    if hit.size == 0:
        return None
    k = int(hit[0]) + window - 1
    return history.episode_steps[k], history.episode_seconds[k]
