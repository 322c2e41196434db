"""PPO's hyperparameters (:class:`PPOConfig`), their validation, and the tuned presets."""

from __future__ import annotations

from dataclasses import dataclass

from gaelib._args import is_finite_real, is_integer

__all__ = ["PPOConfig", "CARTPOLE", "ACROBOT", "LUNARLANDER", "check_config_fields"]


def check_config_fields(cfg, *, positive_int=(), unit=(), positive=(), nonneg=(), positive_or_none=()) -> None:
    """Validate a config dataclass's fields by kind; raise ``ValueError`` naming ``Class.field``.

    Shared by :class:`PPOConfig` and :class:`gaelib.rlhf.RLHFConfig`, so that the same field is
    checked the same way in both.

    Args:
        cfg: the dataclass instance.
        positive_int: fields that must be integers >= 1.
        unit: fields that must be real numbers in [0, 1].
        positive: fields that must be finite real numbers > 0.
        nonneg: fields that must be finite real numbers >= 0.
        positive_or_none: fields that must be None or finite real numbers > 0.
    """
    cls = type(cfg).__name__

    def bad(name, what):
        raise ValueError(f"{cls}.{name} must be {what}; got {getattr(cfg, name)!r}")

    for name in positive_int:
        v = getattr(cfg, name)
        if not is_integer(v) or v < 1:
            bad(name, "a positive integer")
    for name in unit:
        v = getattr(cfg, name)
        if not is_finite_real(v) or not 0.0 <= v <= 1.0:
            bad(name, "a number in [0, 1]")
    for name in positive:
        v = getattr(cfg, name)
        if not is_finite_real(v) or not v > 0:
            bad(name, "a finite number > 0")
    for name in nonneg:
        v = getattr(cfg, name)
        if not is_finite_real(v) or not v >= 0:
            bad(name, "a finite number >= 0")
    for name in positive_or_none:
        v = getattr(cfg, name)
        if v is not None and (not is_finite_real(v) or not v > 0):
            bad(name, "a finite number > 0, or None")


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of :func:`gaelib.ppo.train_ppo`. The defaults are general-purpose (close to
    CleanRL's and Stable-Baselines3's); tuned settings for a task are passed explicitly, e.g.
    ``PPOConfig(num_envs=4, gamma=0.98, ...)``. Frozen and validated on construction: a bad value
    raises ``ValueError`` naming the field."""

    total_steps: int = 100_000
    """Environment steps to train for (all sub-environments together); rounded up to whole rollouts. A run
    goes on past them only with ``extend_return``."""
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
    """Decay the learning rate linearly from ``learning_rate`` to ``min_learning_rate`` over ``anneal_steps``."""
    anneal_steps: int | None = None
    """Environment steps over which the learning rate (and the clip range, if annealed) decay (None for
    ``total_steps``). After them they stay at their floors."""
    min_learning_rate: float = 0.0
    """Floor of the annealed learning rate. With a floor of 0 and ``anneal_steps < total_steps`` the
    policy is final after ``anneal_steps`` (no update is made), whether or not it has learned the task;
    a floor > 0 keeps a policy that has not learned it learning."""
    pause_return: float | None = None
    """If set, no update is made while the mean return of the last ``pause_window`` finished training
    episodes is at least this (the policy is left alone while it performs); updates resume as soon as
    the mean falls below it. None: always update. Uses training episodes only."""
    pause_window: int = 20
    """Episodes averaged for ``pause_return`` and ``extend_return``."""
    extend_return: float | None = None
    """If set, a run whose last ``pause_window`` finished training episodes average below this when
    ``total_steps`` are done keeps training (on the same schedules, at their floors once past
    ``anneal_steps``) until they reach it, for at most ``extend_steps`` more environment steps: a seed
    that has not learned the task within the budget keeps learning, and a seed that has is not touched
    (its run is the run without the extension, step for step). None: stop after ``total_steps``. Uses
    training episodes only."""
    extend_steps: int = 0
    """The most environment steps added to ``total_steps`` by ``extend_return`` (rounded up to whole rollouts)."""
    extend_eval_episodes: int = 0
    """If > 0 (with ``extend_return``), a run also keeps training past ``total_steps`` while its greedy policy
    (the most likely action, as evaluated) averages below ``extend_return`` over this many episodes: a check
    made at ``total_steps`` and after each added update once the training episodes have reached the threshold,
    on the reset seeds 1,000,000, 1,000,001, ... (``gaelib.ppo.train.CHECK_SEED``; an evaluation should
    use others). The checks do not change the model or the random streams: a run whose first check passes is
    the run without them. Their returns are recorded in :attr:`PPOHistory.check_returns`. 0: no check."""
    keep_best_every: int = 0
    """If > 0 (with ``extend_return`` and ``extend_eval_episodes``), :func:`~gaelib.ppo.train_ppo` returns the
    model of its best greedy check rather than its last model. Once the last ``pause_window`` training episodes
    average at least ``extend_return``, the greedy policy is checked (as for ``extend_eval_episodes``: that many
    episodes from ``CHECK_SEED``) after every ``keep_best_every``-th update, and at the end of training; the
    model returned is the checked one with the highest mean (the latest of equals). A run then extends past
    ``total_steps`` only while its best check so far is below ``extend_return``. Model selection on held-out
    episodes, like Stable-Baselines3's ``EvalCallback`` keeping its best model: the checks change neither
    training nor the random streams, and :attr:`PPOHistory.kept_check` says which check's model was returned.
    Without a check (training never reached ``extend_return``) the last model is returned. 0: the last model."""
    adam_eps: float = 1e-5
    """Adam's ε (1e-5 as in OpenAI Baselines, rather than torch's 1e-8)."""
    fused_adam: bool = False
    """Opt in to ``torch.optim.Adam(..., fused=True)``, the same update as one fused kernel per step (on CPU it
    needs torch >= 2.4). On networks this small it takes fewer operations per gradient step; the
    benchmark ``benchmarks/ppo_vs_sb3.py`` measures the wall time that results."""
    gamma: float = 0.99
    """Discount γ."""
    lam: float = 0.95
    """GAE λ."""
    clip_range: float = 0.2
    """PPO's ε, the probability ratio is clipped to [1 - ε, 1 + ε]."""
    anneal_clip: bool = False
    """Decay ``clip_range`` linearly to 0 over ``anneal_steps``, like the learning rate (RL Zoo's ``lin_0.2``)."""
    clip_range_vf: float | None = None
    """Clip the value prediction to within this distance of its value at collection time (None for the
    plain squared error)."""
    vf_coef: float = 0.5
    """Weight of the value loss in the total loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (subtracted from the loss)."""
    max_grad_norm: float | None = 0.5
    """Clip the global gradient norm, actor and critic together, to this (None for no clipping)."""
    normalize_advantages: bool = True
    """Standardise the advantages of each rollout to mean 0, standard deviation 1 before the epochs."""
    target_kl: float | None = None
    """Stop an update's epochs early once the mean approximate KL of an epoch's minibatches exceeds this
    (None for never)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the (separate) critic."""
    activation: str = "tanh"
    """Hidden activation, ``"tanh"`` or ``"relu"``."""
    scale_observations: bool = False
    """Divide each observation feature by its bound in the observation space, where finite, before the
    networks (``make_actor_critic(scale_observations=True)``): a fixed scale, part of the model."""
    treat_truncation_as_termination: bool = False
    """Reproduce a common bug, for measuring it, by treating time-limit cuts as terminal states in GAE."""

    def __post_init__(self):
        check_config_fields(
            self, positive_int=("total_steps", "num_envs", "num_steps", "num_epochs", "minibatch_size",
                                "pause_window"),
            unit=("gamma", "lam"), positive=("learning_rate", "clip_range", "adam_eps"),
            nonneg=("vf_coef", "ent_coef", "min_learning_rate"),
            positive_or_none=("clip_range_vf", "max_grad_norm", "target_kl"))
        if self.anneal_steps is not None and (not is_integer(self.anneal_steps) or self.anneal_steps < 1):
            raise ValueError(f"PPOConfig.anneal_steps must be a positive integer or None; got {self.anneal_steps!r}")
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(f"PPOConfig.min_learning_rate ({self.min_learning_rate}) must not exceed "
                             f"learning_rate ({self.learning_rate})")
        for name in ("pause_return", "extend_return"):
            if getattr(self, name) is not None and not is_finite_real(getattr(self, name)):
                raise ValueError(f"PPOConfig.{name} must be a finite number or None; got {getattr(self, name)!r}")
        for name in ("extend_steps", "extend_eval_episodes", "keep_best_every"):
            if not is_integer(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"PPOConfig.{name} must be an integer >= 0; got {getattr(self, name)!r}")
        if self.keep_best_every and (self.extend_return is None or not self.extend_eval_episodes):
            raise ValueError("PPOConfig.keep_best_every needs extend_return (the checks start once training reaches "
                             "it) and extend_eval_episodes > 0 (the episodes of each check)")
        if self.extend_return is not None and self.anneal_lr and self.min_learning_rate == 0:
            raise ValueError("PPOConfig.extend_return needs a learning rate that stays above 0 after the budget "
                             "(min_learning_rate > 0, or anneal_lr=False): at a floor of 0 the added steps would "
                             "make no update")
        if not isinstance(self.hidden_sizes, tuple) or not self.hidden_sizes or \
                not all(is_integer(h) and h >= 1 for h in self.hidden_sizes):
            raise ValueError(f"PPOConfig.hidden_sizes must be a non-empty tuple of positive integers; "
                             f"got {self.hidden_sizes!r}")
        if self.activation not in ("tanh", "relu"):
            raise ValueError(f"PPOConfig.activation must be 'tanh' or 'relu'; got {self.activation!r}")
        for name in ("anneal_lr", "anneal_clip", "normalize_advantages", "treat_truncation_as_termination",
                     "fused_adam", "scale_observations"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"PPOConfig.{name} must be True or False; got {getattr(self, name)!r}")

    @property
    def batch_size(self) -> int:
        """Transitions per rollout, N·T."""
        return self.num_envs * self.num_steps

    @property
    def budget_steps(self) -> int:
        """``total_steps`` rounded up to whole rollouts: the environment steps a run takes without an extension."""
        return -(-self.total_steps // self.batch_size) * self.batch_size


CARTPOLE = PPOConfig(total_steps=50_000, num_envs=2, num_steps=32, num_epochs=10, minibatch_size=32,
                     learning_rate=2e-3, anneal_steps=15_000, min_learning_rate=2e-4, pause_return=500.0,
                     fused_adam=True, gamma=0.98, lam=0.8, clip_range=0.1, ent_coef=0.01)
"""Settings for CartPole-v1, chosen on the tuning seeds 100-119 only and reported on the report seeds 0-19
(``benchmarks/PROTOCOL.md``; results and tuning log in ``benchmarks/results/``). γ and λ are the RL Baselines3
Zoo's; two environments × 32 steps per rollout (64 transitions, one forward pass of the network for two of them),
10 epochs of minibatches of 32 (20 gradient steps per rollout), a
clip range of 0.1 and an entropy bonus of 0.01; the learning rate decays from 2e-3 to a floor of 2e-4 over
15,000 steps, so a seed that has not solved keeps learning; updates pause while the last 20 training episodes
all reach 500 (the maximum), and resume if one falls short."""

ACROBOT = PPOConfig(total_steps=150_000, num_envs=8, num_steps=128, num_epochs=10, minibatch_size=256,
                    learning_rate=1e-3, min_learning_rate=1e-4, extend_return=-100.0, extend_steps=150_000,
                    extend_eval_episodes=20, keep_best_every=10,
                    ent_coef=0.01, max_grad_norm=5.0, normalize_advantages=False, gamma=0.99, lam=0.95)
"""Settings for Acrobot-v1, chosen on the tuning seeds 100-219 only and reported on the report seeds 0-19
(``benchmarks/PROTOCOL.md``; results and tuning log in ``benchmarks/results/``). 8 environments × 128 steps
per rollout, 10 epochs of minibatches of 256, an entropy bonus of 0.01, the learning rate decaying from 1e-3 to
a floor of 1e-4 over the 150,000 steps, and a run whose last 20 training episodes average below -100 (the
threshold) at 150,000 steps keeps training until they reach it, for at most 150,000 more. The global gradient
norm is clipped at 5 rather than 0.5 (with 0.5, one tuning seed in twenty never learned the task), and the
advantages are not normalised: with them normalised, one tuning seed in 120 never finished an episode in
150,000 steps while its policy's entropy fell from 1.09 to 0.31 (a plausible cause, not measured: normalising
advantages that carry no signal scales their noise up to unit variance). The model returned is the one of the
run's best greedy check (``keep_best_every``: 20 episodes on reset seeds of its own, every 10 updates once the
training episodes average -100, and at the end); training itself is unchanged by the checks. Over the 120 tuning
seeds every run reached -100 in training, and 120 greedy evaluations are solved (119 of the models at the budget,
the worst at -100.95); the mean evaluation rose by 0.4, within the noise of 20-episode evaluations."""

LUNARLANDER = PPOConfig(total_steps=1_000_000, num_envs=16, num_steps=256, num_epochs=4, minibatch_size=64,
                        learning_rate=1e-3, min_learning_rate=1e-4, ent_coef=0.01, gamma=0.999, lam=0.98)
"""Settings for LunarLander-v3, chosen on the tuning seeds 100-139 only and reported on the report seeds 0-19
(``benchmarks/PROTOCOL.md``; results and tuning log in ``benchmarks/results/``). The RL Baselines3 Zoo's γ = 0.999,
λ = 0.98, 4 epochs, minibatches of 64 and entropy bonus of 0.01, with 16 environments × 256 steps per rollout (256
gradient steps per rollout: as many per environment step as the Zoo's settings) and the learning rate decaying from
1e-3 to a floor of 1e-4 over the 1,000,000 steps. After the whole budget its greedy policy averaged at least 200
over 100 episodes on all 40 tuning seeds and on all 20 report seeds (264.2 to 281.1)."""
