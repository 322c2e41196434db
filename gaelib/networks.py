r"""Actor-critic networks for PPO: a discrete (categorical) head and a Gaussian head.

Both classes hold two separate multilayer perceptrons, an actor
:math:`\pi_\theta(a \mid s)` and a critic :math:`V_\phi(s)`, with orthogonal
initialisation (Saxe et al., 2014): hidden layers with gain :math:`\sqrt 2`, the
policy head with gain 0.01 (so the initial policy is close to uniform, or to a
zero-mean Gaussian) and the value head with gain 1, all biases zero. This is the
initialisation of the PPO implementations in OpenAI Baselines, Stable-Baselines3
and CleanRL; Andrychowicz et al. (2021, "What matters in on-policy RL?") measured
that a small policy head matters.

Distributions are written out with tensor ops rather than ``torch.distributions``
objects: the update calls them thousands of times on small batches, where
building distribution objects costs more than the arithmetic.

Every network has the same four methods, used by :mod:`gaelib.rollout` and
:mod:`gaelib.ppo`:

* ``act(obs) -> (action, log_prob, value)``: sample an action (collecting data);
* ``evaluate(obs, action, with_entropy=True) -> (log_prob, entropy, value)``: for the
  losses (``entropy`` is None with ``with_entropy=False``, which saves its cost);
* ``value(obs) -> value``: :math:`V_\phi(s)`, e.g. of a final observation;
* ``mode(obs) -> action``: the most likely action (deterministic evaluation).

Shapes: ``obs`` is ``[B, *obs_shape]``; actions are ``[B]`` (int64, discrete)
or ``[B, action_dim]`` (float, continuous); log-probabilities, entropies and
values are ``[B]``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gaelib import _args

__all__ = ["mlp", "DiscreteActorCritic", "GaussianActorCritic", "make_actor_critic", "observation_scale"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
_ACTIVATION_FNS = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu}


def mlp(sizes: Sequence[int], *, activation: str = "tanh", out_gain: float = 1.0) -> nn.Sequential:
    """A multilayer perceptron with orthogonal initialisation.

    Args:
        sizes: layer widths ``(in, hidden..., out)``, at least two entries.
        activation: ``"tanh"`` or ``"relu"``, after every layer but the last.
        out_gain: gain of the orthogonal initialisation of the last layer
            (hidden layers use :math:`\\sqrt 2`); all biases start at zero.

    Returns:
        ``nn.Sequential`` mapping ``[B, sizes[0]]`` to ``[B, sizes[-1]]``.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least two positive widths; got {sizes!r}")
    sizes = [_args.integer(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    out_gain = _finite("out_gain", out_gain)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        lin = nn.Linear(a, b)
        nn.init.orthogonal_(lin.weight, gain=out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _finite(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number; got {x!r}")
    return float(x)


def _run(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    # seq(x) without nn.Module's per-call machinery (hooks), which costs more than a small layer.
    for layer in seq:
        x = F.linear(x, layer.weight, layer.bias) if type(layer) is nn.Linear else _ACTIVATION_FNS[type(layer)](x)
    return x


class _ActorCritic(nn.Module):
    def __init__(self, obs_dim: int, out_dim: int, hidden: Sequence[int], activation: str, obs_scale=None):
        super().__init__()
        self.obs_dim = _args.integer("obs_dim", obs_dim)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a sequence of positive widths; got {hidden!r}")
        hidden = tuple(_args.integer(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        self.actor = mlp((obs_dim, *hidden, out_dim), activation=activation, out_gain=0.01)
        self.critic = mlp((obs_dim, *hidden, 1), activation=activation, out_gain=1.0)
        if obs_scale is not None:
            obs_scale = torch.as_tensor(obs_scale, dtype=torch.float32).reshape(-1)
            if obs_scale.shape != (obs_dim,) or not bool(torch.isfinite(obs_scale).all() & (obs_scale > 0).all()):
                raise ValueError(f"obs_scale must hold obs_dim = {obs_dim} finite numbers > 0; got {obs_scale.tolist()}")
        self.register_buffer("obs_scale", obs_scale)  # saved with the model: the input is part of the policy

    def _features(self, obs) -> torch.Tensor:
        """``obs`` ``[B, *obs_shape]`` as ``[B, obs_dim]`` in the parameters' dtype."""
        if not isinstance(obs, torch.Tensor):
            raise TypeError(f"obs must be a torch.Tensor of shape [B, *obs_shape]; got {type(obs).__name__}")
        if obs.ndim == 0:
            raise ValueError("obs must have a batch axis, shape [B, *obs_shape]; got a scalar")
        x = obs.reshape(obs.shape[0], -1)  # [B] (scalar observations) becomes [B, 1]
        if x.shape[1] != self.obs_dim:
            raise ValueError(f"obs has shape {tuple(obs.shape)}, {x.shape[1]} features per row; this "
                             f"network takes obs_dim = {self.obs_dim}")
        dtype = self.critic[0].weight.dtype
        x = x if x.dtype == dtype else x.to(dtype)
        return x if self.obs_scale is None else x * self.obs_scale.to(dtype)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """:math:`V_\\phi(s)`, shape ``[B]``."""
        return _run(self.critic, self._features(obs)).squeeze(-1)


class DiscreteActorCritic(_ActorCritic):
    r"""Categorical policy over ``n_actions`` and a state-value critic.

    .. math:: \pi_\theta(a \mid s) = \mathrm{softmax}(f_\theta(s))_a,
              \qquad \mathcal H = -\textstyle\sum_a \pi \log \pi .

    Args:
        obs_dim: flattened observation size.
        n_actions: number of discrete actions.
        hidden: hidden widths of each of the two MLPs (default ``(64, 64)``).
        activation: ``"tanh"`` (default) or ``"relu"``.
        obs_scale: None, or ``[obs_dim]`` positive factors that every flattened observation is
            multiplied by before the first layer (see :func:`make_actor_critic`).
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64),
                 activation: str = "tanh", obs_scale=None):
        n_actions = _args.integer("n_actions", n_actions, minimum=2)
        super().__init__(obs_dim, n_actions, hidden, activation, obs_scale)
        self.n_actions = n_actions

    def _log_probs(self, obs):
        return torch.log_softmax(_run(self.actor, self._features(obs)), dim=-1)

    def act(self, obs):
        """Sample ``a ~ π(·|s)``; return ``(action [B] int64, log_prob [B], value [B])``.

        Sampling uses the Gumbel-max trick, :math:`a = \\arg\\max_k (\\log\\pi_k - \\log E_k)` with
        :math:`E_k \\sim \\mathrm{Exp}(1)` (that is, :math:`-\\log E_k` is Gumbel), exactly a
        categorical sample and cheaper than ``torch.multinomial`` on small batches.
        """
        logp_all = self._log_probs(obs)
        action = (logp_all - torch.empty_like(logp_all).exponential_().log()).argmax(-1)
        return action, logp_all.gather(-1, action[:, None]).squeeze(-1), self.value(obs)

    def evaluate(self, obs, action, *, with_entropy: bool = True):
        """``(log π(a|s) [B], entropy [B] or None, V(s) [B])`` for given actions ``[B]``."""
        if not isinstance(action, torch.Tensor) or action.ndim != 1 or action.shape[0] != obs.shape[0]:
            raise ValueError(f"action must be [B] = [{obs.shape[0]}] action indices; got "
                             f"{getattr(action, 'shape', type(action).__name__)}")
        logp_all = self._log_probs(obs)
        logp = logp_all.gather(-1, action.long()[:, None]).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
        return logp, entropy, self.value(obs)

    def mode(self, obs):
        """The most likely action, ``[B]`` int64."""
        return _run(self.actor, self._features(obs)).argmax(-1)


class GaussianActorCritic(_ActorCritic):
    r"""Diagonal Gaussian policy with a state-independent log standard deviation.

    .. math:: \pi_\theta(a \mid s) = \mathcal N\big(a;\ \mu_\theta(s),\ \mathrm{diag}(e^{2\,\log\sigma})\big),
              \qquad \mathcal H = \textstyle\sum_i \big(\log\sigma_i + \tfrac12 \log(2\pi e)\big).

    Sampled actions are unbounded; the rollout collector clips them to the action
    space's bounds before stepping the environment and stores the unclipped ones
    (so log-probabilities stay exact), as Stable-Baselines3 does.

    Args:
        obs_dim: flattened observation size.
        action_dim: size of the action vector.
        hidden: hidden widths of each of the two MLPs (default ``(64, 64)``).
        activation: ``"tanh"`` (default) or ``"relu"``.
        log_std_init: initial :math:`\log\sigma` (default 0).
        obs_scale: None, or ``[obs_dim]`` positive factors that every flattened observation is
            multiplied by before the first layer (see :func:`make_actor_critic`).
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (64, 64),
                 activation: str = "tanh", log_std_init: float = 0.0, obs_scale=None):
        action_dim = _args.integer("action_dim", action_dim)
        log_std_init = _finite("log_std_init", log_std_init)
        super().__init__(obs_dim, action_dim, hidden, activation, obs_scale)
        self.log_std = nn.Parameter(torch.full((action_dim,), log_std_init))

    def _log_prob(self, mean, action):
        z = (action - mean) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def act(self, obs):
        """Sample ``a ~ N(μ(s), σ²)``; return ``(action [B, d], log_prob [B], value [B])``."""
        mean = _run(self.actor, self._features(obs))
        action = mean + torch.exp(self.log_std) * torch.randn_like(mean)
        return action, self._log_prob(mean, action), self.value(obs)

    def evaluate(self, obs, action, *, with_entropy: bool = True):
        """``(log π(a|s) [B], entropy [B] or None, V(s) [B])`` for given actions ``[B, d]``."""
        mean = _run(self.actor, self._features(obs))
        if not isinstance(action, torch.Tensor) or tuple(action.shape) != tuple(mean.shape):
            raise ValueError(f"action must have shape [B, action_dim] = {tuple(mean.shape)} (no "
                             f"broadcasting); got {getattr(action, 'shape', type(action).__name__)}")
        entropy = None
        if with_entropy:
            entropy = (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(mean.shape[0])
        return self._log_prob(mean, action), entropy, self.value(obs)

    def mode(self, obs):
        """The mean action ``μ(s)``, ``[B, d]``."""
        return _run(self.actor, self._features(obs))


def make_actor_critic(observation_space, action_space, *, hidden: Sequence[int] = (64, 64),
                      activation: str = "tanh",
                      scale_observations: bool = False) -> DiscreteActorCritic | GaussianActorCritic:
    r"""Build the actor-critic that fits a pair of Gymnasium spaces.

    Args:
        observation_space: a ``gymnasium.spaces.Box`` (any shape; flattened).
        action_space: ``gymnasium.spaces.Discrete`` (categorical head) or a 1-D
            ``gymnasium.spaces.Box`` (Gaussian head).
        hidden: hidden widths of the actor and of the critic.
        activation: ``"tanh"`` or ``"relu"``.
        scale_observations: divide each observation feature by its bound in the space,
            :math:`\max(|\mathrm{low}_i|, |\mathrm{high}_i|)`, where that bound is finite and > 0
            (other features are left as they are), so that bounded features lie in [-1, 1]. A fixed
            scale read from the space (not running statistics, as SB3's ``VecNormalize`` keeps): it is
            a buffer of the network (``obs_scale``), so the policy is evaluated as it was trained.

    Returns:
        A :class:`DiscreteActorCritic` or a :class:`GaussianActorCritic`.

    Raises:
        TypeError: other kinds of spaces.
    """
    from gymnasium import spaces

    if not isinstance(observation_space, spaces.Box):
        raise TypeError(f"observation_space must be a gymnasium Box; got {observation_space}")
    obs_dim = int(math.prod(observation_space.shape))
    if obs_dim < 1:
        raise ValueError(f"observation_space has no elements (shape {observation_space.shape})")
    if not isinstance(scale_observations, bool):
        raise ValueError(f"scale_observations must be True or False; got {scale_observations!r}")
    scale = observation_scale(observation_space) if scale_observations else None
    if isinstance(action_space, spaces.Discrete):
        return DiscreteActorCritic(obs_dim, int(action_space.n), hidden, activation, obs_scale=scale)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return GaussianActorCritic(obs_dim, int(action_space.shape[0]), hidden, activation, obs_scale=scale)
    raise TypeError(f"action_space must be Discrete or a 1-D Box; got {action_space}")


def observation_scale(observation_space) -> torch.Tensor:
    r"""``[obs_dim]`` float32 factors :math:`1 / \max(|\mathrm{low}_i|, |\mathrm{high}_i|)` of a Box's
    flattened features, 1 where that bound is infinite or 0 (``make_actor_critic(scale_observations=True)``).

    Example:
        >>> import gymnasium as gym
        >>> observation_scale(gym.make("Acrobot-v1").observation_space)  # cos, sin, cos, sin, then 1/(4π), 1/(9π)
        tensor([1.0000, 1.0000, 1.0000, 1.0000, 0.0796, 0.0354])
    """
    import numpy as np

    bound = np.maximum(np.abs(np.asarray(observation_space.low, np.float64)),
                       np.abs(np.asarray(observation_space.high, np.float64))).reshape(-1)
    ok = np.isfinite(bound) & (bound > 0)
    return torch.as_tensor(np.where(ok, 1.0 / np.where(ok, bound, 1.0), 1.0), dtype=torch.float32)
