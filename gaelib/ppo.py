r"""Proximal Policy Optimization (PPO-Clip) with GAE, for Gymnasium environments.

The training loop :func:`train_ppo` follows the algorithm box of the torch
chapter, one comment header per line of the box::

    seed → envs → model → for each update:
        rollout → advantages (GAE) → [epochs × minibatches: losses → gradient step] → log

The losses are small pure functions of tensors, so that tests can check them by
hand:

* :func:`clipped_surrogate_loss`, the PPO-Clip objective (Schulman et al., 2017, eq. 7),
* :func:`value_loss`, squared error to the GAE value targets, optionally clipped,
* the entropy bonus, the mean of the policy's entropies,

and :func:`approx_kl`, :func:`clip_fraction`, :func:`explained_variance` are the
diagnostics every PPO implementation logs.

Reference: J. Schulman, F. Wolski, P. Dhariwal, A. Radford, O. Klimov,
"Proximal Policy Optimization Algorithms", arXiv:1707.06347, 2017; the
implementation details follow Huang et al., "The 37 implementation details of
PPO" (ICLR blog track, 2022).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from gaelib.networks import make_actor_critic
from gaelib.rollout import RolloutCollector, make_vector_env, rollout_advantages

__all__ = [
    "PPOConfig",
    "CARTPOLE",
    "PPOHistory",
    "PPOResult",
    "clipped_surrogate_loss",
    "value_loss",
    "approx_kl",
    "clip_fraction",
    "explained_variance",
    "normalize_advantages",
    "ppo_update",
    "train_ppo",
    "evaluate_policy",
    "solve_point",
]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of :func:`train_ppo`. The defaults are general-purpose
    (close to CleanRL's and Stable-Baselines3's); tuned settings for a task are
    passed explicitly, e.g. ``PPOConfig(num_envs=4, gamma=0.98, ...)``."""

    total_steps: int = 100_000
    """Environment steps to train for (all sub-environments together); rounded up to whole rollouts."""
    num_envs: int = 8
    """Parallel sub-environments N in the vector environment."""
    num_steps: int = 128
    """Steps per sub-environment in each rollout, T; a rollout holds N·T transitions."""
    num_epochs: int = 10
    """Passes over each rollout (K in the PPO paper)."""
    minibatch_size: int = 256
    """Transitions per gradient step; a rollout is split into ceil(N·T / minibatch_size) minibatches."""
    learning_rate: float = 3e-4
    """Adam step size at the start of training."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over ``anneal_steps``."""
    anneal_steps: int | None = None
    """Environment steps over which the learning rate (and the clip range, if annealed) reach 0
    (None for ``total_steps``). If shorter than ``total_steps``, the policy is final from then on: the remaining
    rollouts are collected (and their episodes recorded) but no update is made."""
    adam_eps: float = 1e-5
    """Adam's ε (1e-5 as in OpenAI Baselines, rather than torch's 1e-8)."""
    gamma: float = 0.99
    """Discount γ."""
    lam: float = 0.95
    """GAE λ."""
    clip_range: float = 0.2
    """PPO's ε, the probability ratio is clipped to [1 - ε, 1 + ε]."""
    anneal_clip: bool = False
    """Decay ``clip_range`` linearly to 0 like the learning rate (RL Zoo's ``lin_0.2``)."""
    clip_range_vf: float | None = None
    """Clip the value prediction to within this distance of its value at collection time (None for the plain squared error)."""
    vf_coef: float = 0.5
    """Weight of the value loss in the total loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (subtracted from the loss)."""
    max_grad_norm: float | None = 0.5
    """Clip the global gradient norm, actor and critic together, to this (None for no clipping)."""
    normalize_advantages: bool = True
    """Standardise the advantages of each rollout to mean 0, standard deviation 1 before the epochs."""
    target_kl: float | None = None
    """Stop an update's epochs early once the mean approximate KL of an epoch's minibatches exceeds this (None for never)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the (separate) critic."""
    activation: str = "tanh"
    """Hidden activation, ``"tanh"`` or ``"relu"``."""
    treat_truncation_as_termination: bool = False
    """Reproduce a common bug, for measuring it, by treating time-limit cuts as terminal states in GAE."""

    def __post_init__(self):
        positive = ("total_steps", "num_envs", "num_steps", "num_epochs", "minibatch_size")
        for name in positive:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"PPOConfig.{name} must be a positive integer; got {v!r}")
        for name in ("gamma", "lam"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"PPOConfig.{name} must lie in [0, 1]; got {v!r}")
        for name in ("learning_rate", "clip_range", "adam_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0; got {getattr(self, name)!r}")
        for name in ("vf_coef", "ent_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0; got {getattr(self, name)!r}")
        for name in ("clip_range_vf", "max_grad_norm", "target_kl"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0 or None; got {v!r}")
        if self.anneal_steps is not None and self.anneal_steps < 1:
            raise ValueError(f"PPOConfig.anneal_steps must be >= 1 or None; got {self.anneal_steps!r}")

    @property
    def batch_size(self) -> int:
        """Transitions per rollout, N·T."""
        return self.num_envs * self.num_steps


CARTPOLE = PPOConfig(total_steps=30_000, num_envs=1, num_steps=64, num_epochs=10, minibatch_size=32,
                     learning_rate=1e-3, anneal_steps=15_000, gamma=0.98, lam=0.8)
"""Settings for CartPole-v1, tuned against Stable-Baselines3 in ``benchmarks/cartpole_vs_sb3.py``
(γ and λ are the RL Baselines3 Zoo's; one environment, 64-step rollouts, 20 gradient steps per rollout,
and a learning rate that reaches 0 after 15,000 steps, after which the policy is final)."""


# --------------------------------------------------------------------------- losses and diagnostics


def clipped_surrogate_loss(log_probs: torch.Tensor, old_log_probs: torch.Tensor,
                           advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    r"""PPO's clipped surrogate objective, negated (a loss to minimise).

    .. math::
        L^{\mathrm{CLIP}} = -\frac1B \sum_i \min\!\big(\rho_i \hat A_i,\;
        \mathrm{clip}(\rho_i, 1-\epsilon, 1+\epsilon)\, \hat A_i\big),
        \qquad \rho_i = \exp\big(\log\pi_\theta(a_i \mid s_i) - \log\pi_{\theta_\text{old}}(a_i \mid s_i)\big).

    At :math:`\rho = 1` (the first minibatch of an update) it is
    :math:`-\mathrm{mean}(\hat A)` and its gradient is the vanilla policy gradient.

    Args:
        log_probs: ``[B]`` :math:`\log\pi_\theta(a_i \mid s_i)`, with gradient.
        old_log_probs: ``[B]`` the same at collection time (constants).
        advantages: ``[B]`` :math:`\hat A_i` (constants).
        clip_range: ε > 0.

    Returns:
        A scalar tensor.
    """
    ratio = torch.exp(log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages
    return -torch.minimum(unclipped, clipped).mean()


def value_loss(values: torch.Tensor, returns: torch.Tensor, *, old_values: torch.Tensor | None = None,
               clip_range: float | None = None) -> torch.Tensor:
    r"""Squared error of the critic to its targets, optionally clipped.

    Plain: :math:`\frac1B\sum_i (V_\phi(s_i) - G_i)^2`. Clipped (OpenAI Baselines):
    :math:`\frac1B\sum_i \max\big((V_\phi(s_i) - G_i)^2,\ (V_\text{old}(s_i) +
    \mathrm{clip}(V_\phi(s_i) - V_\text{old}(s_i), -c, c) - G_i)^2\big)`.
    The targets :math:`G_i` (GAE's λ-returns) are constants: no gradient flows
    through the bootstrap values inside them.

    Args:
        values: ``[B]`` :math:`V_\phi(s_i)`, with gradient.
        returns: ``[B]`` targets :math:`G_i`.
        old_values: ``[B]`` :math:`V(s_i)` at collection time; needed with ``clip_range``.
        clip_range: c > 0, or None for the plain loss.

    Returns:
        A scalar tensor.
    """
    if values.shape != returns.shape:
        raise ValueError(f"values has shape {tuple(values.shape)} but returns has shape "
                         f"{tuple(returns.shape)}; they must match exactly")
    err = (values - returns).pow(2)
    if clip_range is None:
        return err.mean()
    if old_values is None:
        raise ValueError("value_loss: clip_range needs old_values (the values at collection time)")
    clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    return torch.maximum(err, (clipped - returns).pow(2)).mean()


def approx_kl(log_probs: torch.Tensor, old_log_probs: torch.Tensor) -> torch.Tensor:
    r"""Estimate of :math:`\mathrm{KL}(\pi_{\theta_\text{old}} \,\|\, \pi_\theta)` from samples of the old policy.

    .. math:: \widehat{\mathrm{KL}} = \frac1B \sum_i \big((\rho_i - 1) - \log \rho_i\big) \ \ge 0

    (unbiased, never negative; J. Schulman, "Approximating KL divergence", 2020).

    Args:
        log_probs, old_log_probs: ``[B]`` log-probabilities of the sampled actions.

    Returns:
        A scalar tensor (no gradient).
    """
    with torch.no_grad():
        log_ratio = log_probs - old_log_probs
        return (torch.expm1(log_ratio) - log_ratio).mean()


def clip_fraction(log_probs: torch.Tensor, old_log_probs: torch.Tensor, clip_range: float) -> torch.Tensor:
    r"""Fraction of samples whose ratio :math:`\rho_i` lies outside :math:`[1-\epsilon, 1+\epsilon]`."""
    with torch.no_grad():
        ratio = torch.exp(log_probs - old_log_probs)
        return ((ratio - 1.0).abs() > clip_range).float().mean()


def explained_variance(predictions, targets) -> float:
    r"""How much of the targets' variance the predictions explain.

    .. math:: \mathrm{EV} = 1 - \frac{\mathrm{Var}[G - V]}{\mathrm{Var}[G]}

    1 is perfect, 0 is no better than a constant, negative is worse than a constant.

    Args:
        predictions, targets: arrays or tensors of the same shape.

    Returns:
        A float; NaN when the targets are constant.
    """
    p = np.asarray(torch.as_tensor(predictions).detach().cpu(), dtype=np.float64).ravel()
    y = np.asarray(torch.as_tensor(targets).detach().cpu(), dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"predictions has {p.size} entries but targets has {y.size}")
    var_y = y.var()
    return float("nan") if var_y == 0 else float(1.0 - (y - p).var() / var_y)


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r""":math:`(\hat A - \mathrm{mean}\,\hat A) / (\mathrm{std}\,\hat A + \varepsilon)` over the whole batch.

    A single transition is returned unchanged (its standard deviation is undefined).
    """
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + eps)


# --------------------------------------------------------------------------- one update


def ppo_update(model, optimizer, batch: dict[str, torch.Tensor], config: PPOConfig, *,
               clip_range: float, generator: torch.Generator | None = None) -> dict[str, float]:
    """``num_epochs`` passes over one batch in shuffled minibatches: the PPO update.

    Each minibatch: evaluate the current policy and critic on the stored states
    and actions, form ``loss = L_clip + vf_coef · L_V - ent_coef · H``,
    backpropagate, clip the global gradient norm, take an Adam step.

    Args:
        model: an actor-critic from :mod:`gaelib.networks`.
        optimizer: a torch optimizer over ``model``'s parameters.
        batch: flat ``[B, ...]`` tensors ``obs``, ``actions``, ``log_probs``
            (at collection), ``values`` (at collection), ``advantages``
            (normalised if wanted) and ``returns`` (value targets).
        config: the hyperparameters (epochs, minibatch size, coefficients).
        clip_range: the current ε (it may be annealed).
        generator: torch random generator for the minibatch shuffles.

    Returns:
        Means over the minibatches of ``policy_loss`` and ``value_loss``; the mean
        ``entropy`` of the policy after the update, and its ``approx_kl`` and
        ``clipfrac`` against the policy that collected the batch (on the whole batch); and
        ``epochs`` run (fewer than ``num_epochs`` after an early stop on ``target_kl``,
        checked on the mean approximate KL of each epoch's minibatches).
    """
    obs, actions, old_logp = batch["obs"], batch["actions"], batch["log_probs"]
    n, mb = obs.shape[0], config.minibatch_size
    # One [B, obs_dim + 4] table, so that a minibatch is one gather rather than six (per-op overhead
    # dominates the cost of a gradient step on networks this small).
    table = torch.cat([obs.reshape(n, -1), old_logp[:, None], batch["values"][:, None],
                       batch["advantages"][:, None], batch["returns"][:, None]], dim=1)
    d = table.shape[1] - 4
    params = [p for group in optimizer.param_groups for p in group["params"]]
    with_entropy = config.ent_coef > 0
    losses: list[torch.Tensor] = []
    epochs = 0
    for _ in range(config.num_epochs):
        epochs += 1
        perm = torch.randperm(n, generator=generator)
        kls = []
        for start in range(0, n, mb):
            idx = perm[start:start + mb]
            rows = table[idx]
            mb_obs, mb_old_logp, mb_old_v, mb_adv, mb_ret = (rows[:, :d], rows[:, d], rows[:, d + 1],
                                                             rows[:, d + 2], rows[:, d + 3])
            logp, entropy, v = model.evaluate(mb_obs, actions[idx], with_entropy=with_entropy)
            pg = clipped_surrogate_loss(logp, mb_old_logp, mb_adv, clip_range)
            vl = value_loss(v, mb_ret, old_values=mb_old_v, clip_range=config.clip_range_vf)
            loss = pg + config.vf_coef * vl
            if with_entropy:
                loss = loss - config.ent_coef * entropy.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                _clip_grad_norm(params, config.max_grad_norm)
            optimizer.step()
            losses.append(torch.stack([pg, vl]).detach())
            if config.target_kl is not None:
                kls.append(approx_kl(logp, mb_old_logp))
        if config.target_kl is not None and float(torch.stack(kls).mean()) > config.target_kl:
            break
    out = dict(zip(("policy_loss", "value_loss"), torch.stack(losses).mean(0).tolist()))
    # Where the update left the policy, on the whole batch: one forward pass after the last step.
    with torch.no_grad():
        logp, entropy, _ = model.evaluate(obs, actions)
    out["entropy"] = float(entropy.mean())
    out["approx_kl"] = float(approx_kl(logp, old_logp))
    out["clipfrac"] = float(clip_fraction(logp, old_logp, clip_range))
    out["epochs"] = epochs
    return out


# --------------------------------------------------------------------------- training


@dataclass
class PPOHistory:
    """What :func:`train_ppo` records. Episode lists have one entry per finished
    episode (all sub-environments, in order of finishing); update lists one entry
    per update."""

    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted return of each finished episode."""
    episode_lengths: list[int] = field(default_factory=list)
    """Length of each finished episode."""
    episode_steps: list[int] = field(default_factory=list)
    """Environment steps collected when each episode finished."""
    episode_seconds: list[float] = field(default_factory=list)
    """Wall seconds since the start of :func:`train_ppo` when each episode finished (for benchmarks; varies run to run)."""
    update_steps: list[int] = field(default_factory=list)
    """Environment steps collected before each update."""
    learning_rate: list[float] = field(default_factory=list)
    """Learning rate used by each update."""
    policy_loss: list[float] = field(default_factory=list)
    """Mean clipped surrogate loss over each update's minibatches (NaN, like the other update
    statistics, for rollouts collected after the learning rate has reached 0)."""
    value_loss: list[float] = field(default_factory=list)
    """Mean value loss."""
    entropy: list[float] = field(default_factory=list)
    """Mean entropy of the policy after each update, over the rollout's states."""
    approx_kl: list[float] = field(default_factory=list)
    """Approximate KL from the policy that collected each rollout to the policy after its update."""
    clipfrac: list[float] = field(default_factory=list)
    """Fraction of the rollout's probability ratios outside the clip range after the update."""
    explained_variance: list[float] = field(default_factory=list)
    """Explained variance of the rollout's values (at collection) for its value targets."""

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Every list as a numpy array."""
        return {k: np.asarray(v) for k, v in asdict(self).items()}


class PPOResult(NamedTuple):
    """What :func:`train_ppo` returns."""

    model: torch.nn.Module
    """The trained actor-critic."""
    history: PPOHistory
    """Learning curves and diagnostics."""


def _linear(initial: float, steps_done: int, horizon: int) -> float:
    return initial * max(0.0, 1.0 - steps_done / horizon)


class _Adam:
    """Adam for the training loop: ``torch.optim.Adam``'s own arithmetic (its functional form
    ``torch.optim.adam.adam``, with the fused kernel when the torch build has it) without the per-step
    bookkeeping of the ``Optimizer`` class, which on networks this small costs as much as the arithmetic
    (measured: about 85 µs against 170 µs per step on this course's 2-core machine). Implements what
    :func:`ppo_update` and :func:`train_ppo` use of an optimizer: ``param_groups`` (one group; its
    ``"lr"`` is read at every step), ``zero_grad`` and ``step``. Tested step for step against
    ``torch.optim.Adam``."""

    def __init__(self, params, *, lr: float, eps: float, betas: tuple[float, float] = (0.9, 0.999)):
        params = [p for p in params if p.requires_grad]
        self.param_groups = [{"params": params, "lr": lr}]
        self.eps, self.betas = eps, betas
        self.exp_avgs = [torch.zeros_like(p) for p in params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32) for _ in params]
        self.fused = True

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adam import adam

        group = self.param_groups[0]
        live = [i for i, p in enumerate(group["params"]) if p.grad is not None]
        params = [group["params"][i] for i in live]
        state = ([p.grad for p in params], [self.exp_avgs[i] for i in live],
                 [self.exp_avg_sqs[i] for i in live], [], [self.steps[i] for i in live])
        kw = dict(amsgrad=False, beta1=self.betas[0], beta2=self.betas[1], lr=group["lr"],
                  weight_decay=0.0, eps=self.eps, maximize=False)
        if self.fused:
            try:
                adam(params, *state, fused=True, **kw)
                return
            except RuntimeError:  # pragma: no cover - a torch build without the fused CPU kernel
                self.fused = False
        adam(params, *state, foreach=True, **kw)


def _clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_``'s arithmetic in four operations, without its grouping of
    tensors by device and dtype (all CPU float32 here): scale every gradient by
    ``min(1, max_norm / (‖g‖ + 1e-6))``, ``‖g‖`` the 2-norm of all gradients together."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _progress_enabled(progress: bool | None) -> bool:
    if progress is None:  # automatic: only in an interactive terminal (never in notebooks' outputs)
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def train_ppo(env: str | Callable[[], Any], config: PPOConfig = PPOConfig(), *, seed: int = 0,
              progress: bool | None = None,
              callback: Callable[[dict], bool | None] | None = None) -> PPOResult:
    """Train an actor-critic with PPO and GAE.

    Args:
        env: an environment id (``"CartPole-v1"``) or a function returning a new
            ``gymnasium.Env`` (wrap it there, e.g. with a shorter ``TimeLimit``).
            Box observations; Discrete or 1-D Box actions.
        config: hyperparameters, see :class:`PPOConfig`.
        seed: seeds torch (network initialisation, action sampling, minibatch
            shuffles) and the environments (sub-environment ``i`` gets ``seed + i``).
            Runs repeat exactly for a fixed seed and torch thread count.
        progress: show a tqdm progress bar; None (default) shows it only when
            stderr is a terminal, so notebooks and logs stay clean.
        callback: called after each update with a dict of that update's log
            (``env_steps``, ``episodes``, the losses, ..., and ``history`` so far);
            returning ``False`` stops training.

    Returns:
        :class:`PPOResult` ``(model, history)``.
    """
    from tqdm import tqdm  # the plain bar: it is only ever shown in a terminal

    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig; got {type(config).__name__}")
    start = time.perf_counter()
    # -- seed
    torch.manual_seed(seed)
    shuffle_rng = torch.Generator().manual_seed(seed)
    # -- environments
    envs = make_vector_env(env, config.num_envs)
    # -- model and optimiser
    model = make_actor_critic(envs.single_observation_space, envs.single_action_space,
                              hidden=config.hidden_sizes, activation=config.activation)
    optimizer = _Adam(model.parameters(), lr=config.learning_rate, eps=config.adam_eps)
    collector = RolloutCollector(envs, model, seed=seed)
    history = PPOHistory()
    horizon = config.anneal_steps or config.total_steps
    num_updates = math.ceil(config.total_steps / config.batch_size)
    bar = tqdm(total=num_updates * config.batch_size, unit="step", disable=not _progress_enabled(progress))
    try:
        for _ in range(num_updates):
            steps_before = collector.env_steps
            lr = _linear(config.learning_rate, steps_before, horizon) if config.anneal_lr else config.learning_rate
            clip = _linear(config.clip_range, steps_before, horizon) if config.anneal_clip else config.clip_range
            for group in optimizer.param_groups:
                group["lr"] = lr
            # -- rollout: N·T transitions with the current policy
            n_episodes = len(collector.episodes)
            rollout = collector.collect(config.num_steps)
            # -- advantages: GAE, bootstrapping truncated episodes from V(final observation)
            advantages, returns = rollout_advantages(
                rollout, gamma=config.gamma, lam=config.lam,
                treat_truncation_as_termination=config.treat_truncation_as_termination)
            keep = rollout.valid.reshape(-1)
            batch = {
                "obs": rollout.obs.flatten(0, 1)[keep],
                "actions": rollout.actions.flatten(0, 1)[keep],
                "log_probs": rollout.log_probs.reshape(-1)[keep],
                "values": rollout.values.reshape(-1)[keep],
                "advantages": advantages.reshape(-1)[keep],
                "returns": returns.reshape(-1)[keep],
            }
            if config.normalize_advantages:
                batch["advantages"] = normalize_advantages(batch["advantages"])
            # -- losses and update: epochs of minibatch gradient steps
            if lr > 0:
                stats = ppo_update(model, optimizer, batch, config, clip_range=max(clip, 1e-8),
                                   generator=shuffle_rng)
            else:  # the annealed learning rate has reached 0: an update would not change the policy
                stats = {**dict.fromkeys(("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"),
                                         float("nan")), "epochs": 0}
            # -- log
            for ep in collector.episodes[n_episodes:]:
                history.episode_returns.append(ep.ret)
                history.episode_lengths.append(ep.length)
                history.episode_steps.append(ep.env_step)
                history.episode_seconds.append(ep.time - start)
            history.update_steps.append(steps_before)
            history.learning_rate.append(lr)
            for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"):
                getattr(history, key).append(stats[key])
            history.explained_variance.append(explained_variance(batch["values"], batch["returns"]))
            bar.update(collector.env_steps - steps_before)
            if history.episode_returns:
                bar.set_postfix(ret=f"{np.mean(history.episode_returns[-20:]):.1f}", refresh=False)
            if callback is not None:
                log = {"env_steps": collector.env_steps, "episodes": len(history.episode_returns),
                       "learning_rate": lr, "clip_range": clip, **stats,
                       "explained_variance": history.explained_variance[-1], "history": history}
                if callback(log) is False:
                    break
    finally:
        bar.close()
        envs.close()
    model.eval()
    return PPOResult(model, history)


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_policy(model, env: str | Callable[[], Any] | Any, *, n_episodes: int = 20, seed: int = 0,
                    deterministic: bool = True) -> np.ndarray:
    """Undiscounted returns of ``n_episodes`` episodes with the policy (no learning).

    Args:
        model: an actor-critic from :mod:`gaelib.networks`.
        env: an environment id, a function returning a ``gymnasium.Env``, or an env.
        n_episodes: episodes to run, one after the other.
        seed: the first episode's reset seed; episode ``k`` uses ``seed + k``.
        deterministic: take the most likely action (``model.mode``) rather than
            sampling.

    Returns:
        ``[n_episodes]`` float64 array of returns.
    """
    import gymnasium as gym
    from gymnasium import spaces

    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1; got {n_episodes}")
    owned = not isinstance(env, gym.Env)
    e = gym.make(env) if isinstance(env, str) else (env() if owned else env)
    box = e.action_space if isinstance(e.action_space, spaces.Box) else None
    if not deterministic:
        torch.manual_seed(seed)
    returns = np.zeros(n_episodes)
    try:
        for k in range(n_episodes):
            obs, _ = e.reset(seed=seed + k)
            done = False
            while not done:
                x = torch.as_tensor(np.asarray(obs, np.float32))[None]
                a = model.mode(x) if deterministic else model.act(x)[0]
                a = a[0].numpy()
                if box is not None:
                    a = np.clip(a, box.low, box.high)
                obs, r, terminated, truncated, _ = e.step(a.item() if box is None else a)
                returns[k] += float(r)
                done = terminated or truncated
    finally:
        if owned:
            e.close()
    return returns


def solve_point(history: PPOHistory, *, threshold: float, window: int = 20):
    """The first episode at which the mean return of the last ``window`` finished episodes reaches ``threshold``.

    Args:
        history: from :func:`train_ppo`.
        threshold: e.g. 475 for CartPole-v1.
        window: number of most recent episodes averaged.

    Returns:
        ``(env_steps, seconds)`` at that episode's end, or ``None`` if never reached.
    """
    r = np.asarray(history.episode_returns, dtype=np.float64)
    if r.size < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")  # means[k] ends at episode k + window - 1
    hit = np.flatnonzero(means >= threshold)
    if hit.size == 0:
        return None
    k = int(hit[0]) + window - 1
    return history.episode_steps[k], history.episode_seconds[k]
