r"""Collect on-policy rollouts from Gymnasium vector environments, ready for GAE.

A rollout is ``T`` steps of ``N`` environments, stored time-major ``[T, N]``.
Step ``t`` of environment ``n`` is the transition :math:`(s_t, a_t) \to s_{t+1}`
with reward ``rewards[t, n]``; ``terminated`` and ``truncated`` are recorded
separately, and ``next_values[t, n]`` is :math:`V(s_{t+1})`:

* ``values[t + 1]`` inside an episode (``last value``, :math:`V(s_T)`, after the
  last step);
* 0 where the episode terminated (:math:`s_{t+1}` is terminal);
* :math:`V` of the **final observation** where the episode was truncated (a time
  limit): the episode could have gone on, so its tail is bootstrapped from the
  state it was cut in, not from the first state of the next episode.

Gymnasium 1.x vector environments reset finished sub-environments automatically,
in one of two modes (``envs.metadata["autoreset_mode"]``):

* ``SAME_STEP`` (what :func:`make_vector_env` builds): the step that ends an
  episode returns the first observation of the next one, and the final
  observation arrives in ``info["final_obs"]`` (mask ``info["_final_obs"]``).
  Every step is a real transition.
* ``NEXT_STEP`` (Gymnasium's default): the step that ends an episode returns the
  final observation, and the *next* call to ``step`` only resets that
  sub-environment (its action is ignored, its reward is 0). That call is not a
  transition: it is stored with ``valid = False`` and must be dropped from the
  losses. It never leaks into GAE, because the step before it ends an episode
  and cuts the λ-trace.

Reference: the Gymnasium 1.0 release notes, "Vector autoreset modes";
Pardo et al. (2018), "Time limits in reinforcement learning".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from gaelib import _args
from gaelib.advantages import GAEOutput, gae

__all__ = ["Rollout", "EpisodeRecord", "RolloutCollector", "make_vector_env", "rollout_advantages",
           "env_action"]


class Rollout(NamedTuple):
    """``T`` steps of ``N`` environments, time-major torch tensors (CPU)."""

    obs: torch.Tensor
    """:math:`s_t`, ``[T, N, *obs_shape]`` float32."""
    actions: torch.Tensor
    """:math:`a_t` as sampled (before clipping to a Box's bounds), ``[T, N]`` int64 or ``[T, N, d]``."""
    log_probs: torch.Tensor
    r""":math:`\log\pi_{\theta_\text{old}}(a_t \mid s_t)`, ``[T, N]``."""
    values: torch.Tensor
    """:math:`V(s_t)` when collected, ``[T, N]``."""
    rewards: torch.Tensor
    """:math:`r_t`, received on the step :math:`s_t \\to s_{t+1}`, ``[T, N]`` float32."""
    terminated: torch.Tensor
    """:math:`s_{t+1}` is terminal, ``[T, N]`` bool."""
    truncated: torch.Tensor
    """the episode was cut (time limit) after step ``t``, ``[T, N]`` bool."""
    next_values: torch.Tensor
    """:math:`V(s_{t+1})`: 0 if terminated, V(final observation) if truncated, ``[T, N]``."""
    valid: torch.Tensor
    """False for the reset-only steps of ``NEXT_STEP`` autoreset, ``[T, N]`` bool."""


class EpisodeRecord(NamedTuple):
    """An episode that finished during collection."""

    env_step: int
    """Environment steps collected (all sub-environments) when it finished, this step included."""
    ret: float
    """Undiscounted sum of its rewards."""
    length: int
    """Number of steps."""
    time: float
    """``time.perf_counter()`` when it finished."""


def make_vector_env(env: str | Callable[[], Any], num_envs: int, *,
                    autoreset_mode: str = "SameStep"):
    """A ``gymnasium.vector.SyncVectorEnv`` of ``num_envs`` copies of one environment.

    Args:
        env: a registered environment id (``"CartPole-v1"``, built with
            ``gymnasium.make``, so its default ``TimeLimit`` applies) or a function
            returning a new ``gymnasium.Env``.
        num_envs: number of sub-environments, >= 1.
        autoreset_mode: ``"SameStep"`` (default: final observations in
            ``info["final_obs"]``) or ``"NextStep"`` (Gymnasium's default).

    Returns:
        The vector environment (not reset yet).
    """
    import gymnasium as gym

    num_envs = _args.integer("num_envs", num_envs)
    try:
        mode = gym.vector.AutoresetMode(autoreset_mode)
    except ValueError:
        raise ValueError(f"autoreset_mode must be 'SameStep' or 'NextStep'; got {autoreset_mode!r}") from None
    if mode.value not in ("SameStep", "NextStep"):
        raise ValueError(f"autoreset_mode must be 'SameStep' or 'NextStep'; got {autoreset_mode!r}")
    if isinstance(env, str):
        env_id = env

        def factory():
            return gym.make(env_id)
    elif callable(env):
        factory = env
    else:
        raise TypeError(f"env must be an environment id or a function returning an env; got {env!r}")
    return gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=mode)


def _autoreset_mode(envs) -> str:
    import gymnasium as gym

    mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    mode = gym.vector.AutoresetMode(mode).value
    if mode not in ("SameStep", "NextStep"):
        raise ValueError(f"envs use autoreset mode {mode!r}; the collector needs SameStep or NextStep")
    return mode


class RolloutCollector:
    """Steps a vector environment with a policy and records rollouts.

    The collector owns the environments' current observations and the running
    returns of unfinished episodes, so consecutive calls to :meth:`collect` continue
    the same episodes (a rollout's end is a cut, bootstrapped from
    :math:`V(s_T)`, not an episode end). Finished episodes are appended to
    :attr:`episodes`.

    Args:
        envs: a Gymnasium 1.x vector environment with ``SameStep`` or ``NextStep``
            autoreset, Box observations and Discrete or Box actions (a single
            environment is refused: wrap it with :func:`make_vector_env`). A
            ``Discrete(n, start=k)`` space gets the model's action index plus ``k``;
            the rollout stores the index.
        model: an actor-critic with ``act(obs)`` and ``value(obs)`` (see
            :mod:`gaelib.networks`).
        seed: seeds the first ``envs.reset`` (sub-environment ``i`` gets
            ``seed + i``) and ``envs.action_space``; None leaves them unseeded.
    """

    def __init__(self, envs, model, *, seed: int | None = None):
        from gymnasium import spaces
        from gymnasium.vector import VectorEnv

        if not isinstance(envs, VectorEnv):
            raise TypeError(f"envs must be a gymnasium.vector.VectorEnv; got {type(envs).__name__}. "
                            f"Wrap one environment with make_vector_env(lambda: env, 1)")
        _args.methods("model", model, "act", "value", hint=" (see gaelib.networks)")
        if seed is not None:
            seed = _args.integer("seed", seed, minimum=0)
        self.envs = envs
        self.model = model
        self.num_envs = int(envs.num_envs)
        self.mode = _autoreset_mode(envs)
        space = envs.single_action_space
        if not isinstance(space, (spaces.Box, spaces.Discrete)):
            raise TypeError(f"envs.single_action_space must be Discrete or Box; got {space}")
        self._space = space
        obs, _ = envs.reset(seed=seed)
        _check_finite_obs(obs, "the first reset")
        if seed is not None:
            envs.action_space.seed(seed)
        self.obs = np.asarray(obs, dtype=np.float32)
        self._resetting = np.zeros(self.num_envs, bool)  # NEXT_STEP: the next step only resets
        self._ep_return = np.zeros(self.num_envs)
        self._ep_length = np.zeros(self.num_envs, np.int64)
        self.env_steps = 0
        """Transitions collected so far (reset-only steps excluded)."""
        self.episodes: list[EpisodeRecord] = []
        """Every episode finished so far, in order."""

    @torch.no_grad()
    def _value(self, obs: np.ndarray) -> np.ndarray:
        return self.model.value(torch.from_numpy(np.asarray(obs, dtype=np.float32))).numpy()

    @torch.no_grad()
    def collect(self, num_steps: int) -> Rollout:
        """Step every environment ``num_steps`` times with the current policy.

        Args:
            num_steps: ``T``, steps per environment, >= 1.

        Returns:
            A :class:`Rollout` of ``[T, N]`` tensors.
        """
        T, N = _args.integer("num_steps", num_steps), self.num_envs
        obs_buf = np.empty((T, *self.obs.shape), np.float32)
        rew = np.zeros((T, N), np.float32)
        term = np.zeros((T, N), bool)
        trunc = np.zeros((T, N), bool)
        values = np.empty((T + 1, N), np.float32)
        final_values = np.zeros((T, N), np.float32)
        valid = np.ones((T, N), bool)
        actions, log_probs = [], []
        for t in range(T):
            obs_buf[t] = self.obs
            action, logp, value = self.model.act(torch.from_numpy(self.obs))
            actions.append(action)
            log_probs.append(logp)
            values[t] = value.numpy()
            obs, reward, terminated, truncated, info = self.envs.step(env_action(self._space, action.numpy()))
            _check_finite_obs(obs, f"step {t} of collect")
            if not np.isfinite(reward).all():
                raise ValueError(f"envs returned a NaN or infinite reward at step {t} of collect "
                                 f"(sub-environments {np.flatnonzero(~np.isfinite(reward)).tolist()})")
            real = ~self._resetting
            valid[t] = real
            rew[t] = reward
            term[t] = terminated & real
            trunc[t] = truncated & ~terminated & real
            if self.mode == "SameStep" and trunc[t].any():
                idx = np.flatnonzero(trunc[t])
                final_obs = np.stack(info["final_obs"][idx])
                _check_finite_obs(final_obs, f"the final observation of step {t} of collect")
                final_values[t, idx] = self._value(final_obs)
            self._record_episodes(reward, term[t] | trunc[t], real)
            if self.mode == "NextStep":
                self._resetting = term[t] | trunc[t]
            self.obs = np.asarray(obs, dtype=np.float32)
        values[T] = self._value(self.obs)
        # V(s_{t+1}): the next row; the final observation's value at a SameStep truncation
        # (in NextStep mode the next row already holds the final observation); 0 at termination.
        next_values = values[1:].copy()
        if self.mode == "SameStep":
            next_values[trunc] = final_values[trunc]
        next_values[term] = 0.0
        return Rollout(
            obs=torch.from_numpy(obs_buf), actions=torch.stack(actions), log_probs=torch.stack(log_probs),
            values=torch.from_numpy(values[:T]), rewards=torch.from_numpy(rew),
            terminated=torch.from_numpy(term), truncated=torch.from_numpy(trunc),
            next_values=torch.from_numpy(next_values), valid=torch.from_numpy(valid),
        )

    def _record_episodes(self, reward, done, real):
        self._ep_return += np.where(real, reward, 0.0)
        self._ep_length += real
        self.env_steps += int(real.sum())
        if done.any():
            now = time.perf_counter()
            for n in np.flatnonzero(done):
                self.episodes.append(EpisodeRecord(self.env_steps, float(self._ep_return[n]),
                                                   int(self._ep_length[n]), now))
            self._ep_return[done] = 0.0
            self._ep_length[done] = 0


def env_action(space, action):
    """The network's action as the environment takes it (one action, or a batch of them).

    A ``Discrete(n, start=k)`` space gets ``k + index`` (the network's indices are
    ``0 .. n-1``); a ``Box`` gets the action clipped to its bounds (the Gaussian's
    sample is unbounded; the rollout stores it unclipped, so log-probabilities stay
    exact, as Stable-Baselines3 does). Other spaces get the action unchanged. A single
    discrete action comes back as a python int.
    """
    from gymnasium import spaces

    if not isinstance(space, spaces.Space):
        raise TypeError(f"space must be a gymnasium space (e.g. env.action_space); got {type(space).__name__}")
    a = np.asarray(action)
    if isinstance(space, spaces.Box):
        return np.clip(a, space.low, space.high)
    if isinstance(space, spaces.Discrete):
        a = a + int(space.start)
    return a.item() if a.ndim == 0 else a


def _check_finite_obs(obs, when: str) -> None:
    obs = np.asarray(obs)
    if np.issubdtype(obs.dtype, np.floating) and not np.isfinite(obs).all():
        bad = np.flatnonzero(~np.isfinite(obs.reshape(obs.shape[0], -1)).all(axis=1)).tolist()
        raise ValueError(f"envs returned a NaN or infinite observation at {when} (sub-environments {bad})")


def rollout_advantages(rollout: Rollout, *, gamma: float, lam: float,
                       treat_truncation_as_termination: bool = False) -> GAEOutput:
    r"""GAE advantages and value targets of a rollout (:func:`gaelib.gae`).

    .. math:: \hat A_t = \delta_t + \gamma\lambda\,(1 - d_t)\,\hat A_{t+1},
              \qquad \delta_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\,V(s_{t+1}) - V(s_t),

    with :math:`d_t` = terminated or truncated, and :math:`V(s_{t+1})` taken from
    ``rollout.next_values`` (the final observation's value at a truncation).

    Args:
        rollout: from :meth:`RolloutCollector.collect`.
        gamma: discount γ in [0, 1].
        lam: GAE λ in [0, 1].
        treat_truncation_as_termination: the common bug, kept for measuring it:
            a time-limit cut is treated as a terminal state, so the tail after it
            is taken to be worth 0 instead of :math:`V(\text{final observation})`.

    Returns:
        :class:`gaelib.GAEOutput` ``(advantages, returns)``, ``[T, N]`` float32
        tensors. Entries at invalid (reset-only) steps are meaningless.
    """
    if not isinstance(rollout, Rollout):
        raise TypeError(f"rollout must be a gaelib.rollout.Rollout (from RolloutCollector.collect); "
                        f"got {type(rollout).__name__}")
    terminated, truncated = rollout.terminated, rollout.truncated
    if _args.boolean("treat_truncation_as_termination", treat_truncation_as_termination):
        terminated, truncated = terminated | truncated, torch.zeros_like(truncated)
    return gae(rollout.rewards, rollout.values, next_values=rollout.next_values,
               terminated=terminated, truncated=truncated, gamma=gamma, lam=lam)
