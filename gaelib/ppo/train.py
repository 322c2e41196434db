"""PPO's update and training loop: :func:`ppo_update` and :func:`train_ppo`, in the order of the algorithm box."""

from __future__ import annotations

import copy
import math
import numbers
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from gaelib.losses import approx_kl, clip_fraction, clipped_surrogate_loss, entropy_bonus, value_loss
from gaelib.networks import make_actor_critic
from gaelib.ppo.config import PPOConfig
from gaelib.ppo.evaluate import evaluate_policy, explained_variance
from gaelib.rollout import RolloutCollector, make_vector_env, rollout_advantages

__all__ = ["PPOHistory", "PPOResult", "normalize_advantages", "scheduled", "minibatch_loss", "ppo_update",
           "train_ppo", "CHECK_SEED"]

CHECK_SEED = 1_000_000
"""The first reset seed of the greedy checks of ``PPOConfig.extend_eval_episodes`` (episode ``k`` uses
``CHECK_SEED + k``): far from the seeds an evaluation would use (the benchmarks use 10,000 on)."""

_UPDATE_STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")


# --------------------------------------------------------------------------- one update


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r""":math:`(\hat A - \mathrm{mean}\,\hat A) / (\mathrm{std}\,\hat A + \varepsilon)` over the whole batch.

    A single transition is returned unchanged (its standard deviation is undefined).
    """
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def minibatch_loss(model, mb: dict[str, torch.Tensor], config: PPOConfig, clip_range: float):
    r"""PPO's total loss on one minibatch, :math:`L = L^{\mathrm{CLIP}} + c_V L^V - c_H \bar{\mathcal H}`.

    Args:
        model: an actor-critic from :mod:`gaelib.networks`.
        mb: ``[b, ...]`` tensors ``obs``, ``actions``, ``log_probs`` and ``values`` (at collection),
            ``advantages`` and ``returns``.
        config: ``vf_coef``, ``ent_coef`` and ``clip_range_vf``.
        clip_range: the current ε.

    Returns:
        ``(loss, policy_loss, value_loss)``, scalar tensors (the last two detached).
    """
    with_entropy = config.ent_coef > 0
    log_probs, entropy, values = model.evaluate(mb["obs"], mb["actions"], with_entropy=with_entropy)
    pg = clipped_surrogate_loss(log_probs, mb["log_probs"], mb["advantages"], clip_range=clip_range)
    vl = value_loss(values, mb["returns"], clip_range=config.clip_range_vf,
                    old_values=mb["values"] if config.clip_range_vf is not None else None)
    loss = pg + config.vf_coef * vl
    if with_entropy:
        loss = loss - config.ent_coef * entropy_bonus(entropy)
    return loss, pg.detach(), vl.detach()


def ppo_update(model, optimizer, batch: dict[str, torch.Tensor], config: PPOConfig, *,
               clip_range: float, generator: torch.Generator | None = None) -> dict[str, float]:
    """``num_epochs`` passes over one batch in shuffled minibatches: the PPO update.

    Each minibatch: :func:`minibatch_loss`, backpropagate, clip the global gradient norm
    (``torch.nn.utils.clip_grad_norm_``, with its multi-tensor kernels: the same gradients, less
    overhead per step), take an optimizer step.

    Args:
        model: an actor-critic from :mod:`gaelib.networks`.
        optimizer: a torch optimizer over ``model``'s parameters (``torch.optim.Adam`` in :func:`train_ppo`).
        batch: flat ``[B, ...]`` tensors ``obs``, ``actions``, ``log_probs`` (at collection), ``values``
            (at collection), ``advantages`` (normalised if wanted) and ``returns`` (value targets).
        config: the hyperparameters (epochs, minibatch size, coefficients).
        clip_range: the current ε (it may be annealed).
        generator: torch random generator for the minibatch shuffles.

    Returns:
        Means over the minibatches of ``policy_loss`` and ``value_loss``; the mean ``entropy`` of the
        policy after the update, and its ``approx_kl`` and ``clipfrac`` against the policy that collected
        the batch (on the whole batch); and ``epochs`` run (fewer than ``num_epochs`` after an early stop
        on ``target_kl``, checked on the mean approximate KL of each epoch's minibatches).
    """
    n = batch["obs"].shape[0]
    params = list(model.parameters())  # once, not per minibatch: a small network's step is mostly overhead
    policy_losses, value_losses, epochs = [], [], 0
    for _ in range(config.num_epochs):
        epochs += 1
        kls = []
        for idx in torch.randperm(n, generator=generator).split(config.minibatch_size):
            mb = {key: x[idx] for key, x in batch.items()}
            loss, pg, vl = minibatch_loss(model, mb, config, clip_range)
            optimizer.zero_grad()
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
            optimizer.step()
            policy_losses.append(pg)
            value_losses.append(vl)
            if config.target_kl is not None:
                with torch.no_grad():
                    kls.append(approx_kl(model.evaluate(mb["obs"], mb["actions"])[0], mb["log_probs"]))
        if config.target_kl is not None and float(torch.stack(kls).mean()) > config.target_kl:
            break
    # Where the update left the policy, on the whole batch: one forward pass after the last step.
    with torch.no_grad():
        log_probs, entropy, _ = model.evaluate(batch["obs"], batch["actions"])
    return {"policy_loss": float(torch.stack(policy_losses).mean()),
            "value_loss": float(torch.stack(value_losses).mean()),
            "entropy": float(entropy.mean()),
            "approx_kl": float(approx_kl(log_probs, batch["log_probs"])),
            "clipfrac": float(clip_fraction(log_probs, batch["log_probs"], clip_range=clip_range)),
            "epochs": epochs}


# --------------------------------------------------------------------------- records


@dataclass
class TrainingHistory:
    """Per-update training statistics: every field is a list with one entry per update."""

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Every list as a numpy array, keyed by field name (fields that are not lists are left out)."""
        return {k: np.asarray(v) for k, v in asdict(self).items() if isinstance(v, list)}


@dataclass
class PPOHistory(TrainingHistory):
    """What :func:`train_ppo` records. Episode lists have one entry per finished episode (all
    sub-environments, in order of finishing); update lists one entry per update; the ``check_`` lists
    one entry per greedy check (``PPOConfig.extend_eval_episodes``)."""

    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted return of each finished episode."""
    episode_lengths: list[int] = field(default_factory=list)
    """Length of each finished episode."""
    episode_steps: list[int] = field(default_factory=list)
    """Environment steps collected when each episode finished."""
    episode_seconds: list[float] = field(default_factory=list)
    """Wall seconds since the start of :func:`train_ppo` when each episode finished (for benchmarks;
    varies run to run)."""
    update_steps: list[int] = field(default_factory=list)
    """Environment steps collected before each update."""
    learning_rate: list[float] = field(default_factory=list)
    """Learning rate of each update (0 for a rollout after which no update was made)."""
    policy_loss: list[float] = field(default_factory=list)
    """Mean clipped surrogate loss over each update's minibatches (NaN, like the other update
    statistics, for a rollout after which no update was made)."""
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
    check_steps: list[int] = field(default_factory=list)
    """Environment steps collected at each greedy check of ``PPOConfig.extend_eval_episodes`` (empty without)."""
    check_returns: list[float] = field(default_factory=list)
    """The greedy policy's mean return over the check's episodes, one per check."""
    kept_check: int | None = None
    """With ``PPOConfig.keep_best_every``: the index in the ``check_`` lists of the check whose model
    :func:`train_ppo` returned (None: it returned the last model)."""


class PPOResult(NamedTuple):
    """What :func:`train_ppo` returns."""

    model: torch.nn.Module
    """The trained actor-critic."""
    history: PPOHistory
    """Learning curves and diagnostics."""


# --------------------------------------------------------------------------- training


def scheduled(initial: float, floor: float, steps_done: int, horizon: int) -> float:
    r"""A linear schedule with a floor: :math:`\max\big(f,\ f + (x_0 - f)(1 - n/H)\big)` after ``n`` of ``H`` steps."""
    return floor + (initial - floor) * max(0.0, 1.0 - steps_done / horizon)


def _recent_mean(history: PPOHistory, config: PPOConfig) -> float | None:
    """The mean return of the last ``pause_window`` training episodes (None until that many have finished)."""
    r, w = history.episode_returns, config.pause_window
    return float(np.mean(r[-w:])) if len(r) >= w else None


def _paused(history: PPOHistory, config: PPOConfig) -> bool:
    """Whether the last ``pause_window`` training episodes average at least ``pause_return``."""
    mean = _recent_mean(history, config)
    return config.pause_return is not None and mean is not None and mean >= config.pause_return


def _reached(history: PPOHistory, config: PPOConfig) -> bool:
    """Whether the last ``pause_window`` training episodes average at least ``extend_return``."""
    mean = _recent_mean(history, config)
    return mean is not None and mean >= config.extend_return


def _greedy_check(history: PPOHistory, config: PPOConfig, model, env, env_steps: int) -> float:
    """The greedy policy's mean return over ``extend_eval_episodes`` episodes from ``CHECK_SEED``, recorded
    in ``history``; a model already checked at ``env_steps`` (no update since) is not checked again."""
    if not history.check_steps or history.check_steps[-1] != env_steps:
        with torch.no_grad():
            returns = evaluate_policy(model, env, n_episodes=config.extend_eval_episodes, seed=CHECK_SEED)
        history.check_steps.append(env_steps)
        history.check_returns.append(float(returns.mean()))
    return history.check_returns[-1]


def _extending(history: PPOHistory, config: PPOConfig, model, env, env_steps: int) -> bool:
    """Whether a run past ``total_steps`` goes on: the last ``pause_window`` training episodes average
    below ``extend_return`` (or fewer than ``pause_window`` have finished), or, with
    ``extend_eval_episodes``, the greedy policy averages below it on the check's episodes (with
    ``keep_best_every``: the best check so far, this one included)."""
    if config.extend_return is None:
        return False
    if not _reached(history, config):
        return True
    if not config.extend_eval_episodes:
        return False
    check = _greedy_check(history, config, model, env, env_steps)
    if config.keep_best_every:
        check = max(history.check_returns)
    return check < config.extend_return


class _BestModel:
    """The parameters of the best greedy check so far, for ``PPOConfig.keep_best_every``."""

    def __init__(self, enabled: bool):
        self.enabled, self.state, self.index = enabled, None, None

    def offer(self, history: PPOHistory, model) -> None:
        """Keep ``model``'s parameters if the last check is the best so far (the latest of equals)."""
        i = len(history.check_returns) - 1
        if not self.enabled or i < 0 or i == self.index:  # off, no check yet, or this check already offered
            return
        if self.index is None or history.check_returns[i] >= history.check_returns[self.index]:
            self.state, self.index = copy.deepcopy(model.state_dict()), i

    def restore(self, history: PPOHistory, model) -> None:
        """Load the kept parameters into ``model`` and record which check they are."""
        if self.state is not None:
            model.load_state_dict(self.state)
            history.kept_check = self.index


def _schedules(config: PPOConfig, steps_done: int) -> tuple[float, float]:
    """The learning rate and the clip range after ``steps_done`` environment steps."""
    horizon = config.anneal_steps or config.total_steps
    lr, clip = config.learning_rate, config.clip_range
    if config.anneal_lr:
        lr = scheduled(lr, config.min_learning_rate, steps_done, horizon)
    if config.anneal_clip:
        clip = max(scheduled(clip, 0.0, steps_done, horizon), 1e-8)
    return lr, clip


def _flat_batch(rollout, advantages, returns, config: PPOConfig) -> dict[str, torch.Tensor]:
    """The rollout's valid transitions as flat ``[B, ...]`` tensors, advantages normalised if configured."""
    keep = rollout.valid.reshape(-1)
    batch = {"obs": rollout.obs.flatten(0, 1)[keep], "actions": rollout.actions.flatten(0, 1)[keep],
             "log_probs": rollout.log_probs.reshape(-1)[keep], "values": rollout.values.reshape(-1)[keep],
             "advantages": advantages.reshape(-1)[keep], "returns": returns.reshape(-1)[keep]}
    if config.normalize_advantages:
        batch["advantages"] = normalize_advantages(batch["advantages"])
    return batch


def _record_episodes(history: PPOHistory, episodes, start: float) -> None:
    for ep in episodes:
        history.episode_returns.append(ep.ret)
        history.episode_lengths.append(ep.length)
        history.episode_steps.append(ep.env_step)
        history.episode_seconds.append(ep.time - start)


def _record_update(history: PPOHistory, steps_before: int, lr: float, stats: dict, batch: dict) -> None:
    history.update_steps.append(steps_before)
    history.learning_rate.append(lr)
    for key in _UPDATE_STATS:
        getattr(history, key).append(stats[key])
    history.explained_variance.append(explained_variance(batch["values"], batch["returns"]))


def _check_arguments(config, seed) -> None:
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig; got {type(config).__name__}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer (runs are seeded so that they repeat); got {seed!r}")


def _make_envs(env, config: PPOConfig):
    envs = make_vector_env(env, config.num_envs)
    if envs.single_observation_space.shape == ():
        envs.close()
        raise ValueError("env has scalar observations (observation space shape ()); PPO's networks need a "
                         "feature axis: wrap it, e.g. gymnasium.wrappers.ReshapeObservation(env, (1,))")
    return envs


def _progress_bar(total: int, progress: bool | None):
    from tqdm import tqdm  # the plain bar: it is only ever shown in a terminal

    if progress is None:  # automatic: only in an interactive terminal (never in notebooks' outputs)
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return tqdm(total=total, unit="step", disable=not progress)


def train_ppo(env: str | Callable[[], Any], config: PPOConfig = PPOConfig(), *, seed: int = 0,
              progress: bool | None = None,
              callback: Callable[[dict], bool | None] | None = None) -> PPOResult:
    """Train an actor-critic with PPO and GAE.

    Args:
        env: an environment id (``"CartPole-v1"``) or a function returning a new ``gymnasium.Env``
            (wrap it there, e.g. with a shorter ``TimeLimit``). Box observations of at least one
            dimension; Discrete (any ``start``) or 1-D Box actions.
        config: hyperparameters, see :class:`PPOConfig`.
        seed: an integer; seeds torch (network initialisation, action sampling, minibatch shuffles)
            and the environments (sub-environment ``i`` gets ``seed + i``). Runs repeat exactly for a
            fixed seed and torch thread count.
        progress: show a tqdm progress bar; None (default) shows it only when stderr is a terminal,
            so notebooks and logs stay clean.
        callback: called after each update with a dict of that update's log (``env_steps``,
            ``episodes``, the losses, ..., ``history`` so far, and the ``model`` being trained, e.g. to
            evaluate it there without changing it); returning ``False`` stops training.

    Returns:
        :class:`PPOResult` ``(model, history)``.

    Raises:
        TypeError: ``config`` is not a :class:`PPOConfig`, or ``seed`` is not an integer.
        ValueError: scalar observations, or a non-finite observation or reward during training
            (raised by :meth:`gaelib.rollout.RolloutCollector.collect`).
    """
    _check_arguments(config, seed)
    start = time.perf_counter()
    # -- seed
    torch.manual_seed(seed)
    shuffle_rng = torch.Generator().manual_seed(seed)
    # -- environments
    envs = _make_envs(env, config)
    # -- model and optimiser
    model = make_actor_critic(envs.single_observation_space, envs.single_action_space,
                              hidden=config.hidden_sizes, activation=config.activation,
                              scale_observations=config.scale_observations)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=config.adam_eps,
                                 fused=config.fused_adam or None)
    collector = RolloutCollector(envs, model, seed=seed)
    history = PPOHistory()
    num_updates = config.budget_steps // config.batch_size
    extra_updates = math.ceil(config.extend_steps / config.batch_size) if config.extend_return is not None else 0
    best = _BestModel(enabled=config.keep_best_every > 0)
    bar = _progress_bar(num_updates * config.batch_size, progress)
    try:
        for update in range(num_updates + extra_updates):
            # -- budget: past total_steps, only while extend_return is not yet reached
            if update >= num_updates:
                extending = _extending(history, config, model, env, collector.env_steps)
                best.offer(history, model)
                if not extending:
                    break
            if update == num_updates:  # the bar grows by the extension's most
                bar.total += extra_updates * config.batch_size
                bar.refresh()
            steps_before, n_episodes = collector.env_steps, len(collector.episodes)
            # -- schedules: this update's learning rate and clip range
            lr, clip = _schedules(config, steps_before)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # -- rollout: N·T transitions with the current policy
            rollout = collector.collect(config.num_steps)  # refuses NaN/inf observations and rewards
            _record_episodes(history, collector.episodes[n_episodes:], start)
            # -- advantages: GAE, bootstrapping truncated episodes from V(final observation)
            advantages, returns = rollout_advantages(
                rollout, gamma=config.gamma, lam=config.lam,
                treat_truncation_as_termination=config.treat_truncation_as_termination)
            batch = _flat_batch(rollout, advantages, returns, config)
            # -- losses and update: epochs of minibatch gradient steps; none at a learning rate
            #    of 0 (it would not change the policy), nor while paused on pause_return
            if lr > 0 and not _paused(history, config):
                stats = ppo_update(model, optimizer, batch, config, clip_range=clip, generator=shuffle_rng)
            else:
                lr, stats = 0.0, {**dict.fromkeys(_UPDATE_STATS, float("nan")), "epochs": 0}
            # -- log
            _record_update(history, steps_before, lr, stats, batch)
            bar.update(collector.env_steps - steps_before)
            if callback is not None and callback({
                    "env_steps": collector.env_steps, "episodes": len(history.episode_returns),
                    "learning_rate": lr, "clip_range": clip, **stats,
                    "explained_variance": history.explained_variance[-1], "history": history,
                    "model": model}) is False:
                break
            # -- model selection: a greedy check every keep_best_every updates once training has reached
            #    extend_return
            if config.keep_best_every and (update + 1) % config.keep_best_every == 0 and _reached(history, config):
                _greedy_check(history, config, model, env, collector.env_steps)
                best.offer(history, model)
        if best.index is not None:  # the last model is a candidate too
            _greedy_check(history, config, model, env, collector.env_steps)
            best.offer(history, model)
    finally:
        bar.close()
        envs.close()
    best.restore(history, model)
    model.eval()
    return PPOResult(model, history)
