r"""Token-level PPO for RLHF on the tiny testbed, with a switch between advantage estimators.

One function, :func:`train_rlhf`, in the fixed order of the chapter's algorithm box:

1. **rollout**: sample ``n_prompts`` prompts, ``group_size`` responses each, from the policy;
2. **score** each response with the programmatic reward (:func:`gaelib.tiny_lm.sortedness`);
3. **shape** per-token rewards: :math:`-\beta\,\mathrm{KL}_t` against the frozen reference
   (the pretrained model) on every token, the score on the last one
   (:func:`gaelib.llm.token_rewards`);
4. **advantages** with the chosen estimator (:func:`gaelib.llm.token_gae` and friends);
5. **update**: a few epochs of the clipped PPO loss on minibatches, for the policy and,
   with GAE, the clipped value loss for the critic.

The same KL-shaped rewards feed every estimator (the critic-free ones use their sum, the
sequence return, as verl does), so estimators are compared on the same objective.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from gaelib import llm
from gaelib.losses import clipped_surrogate_loss, value_loss
from gaelib.ppo.config import check_config_fields
from gaelib.ppo.train import TrainingHistory
from gaelib.tiny_lm import EOS, TinyGPT, ValueModel, count_parameters, generate, make_prompts, \
    sequence_log_probs, sortedness

__all__ = ["RLHFConfig", "RLHFHistory", "RLHFResult", "compute_advantages", "sample_batch",
           "policy_gradient_estimate", "train_rlhf"]


@dataclass(frozen=True)
class RLHFConfig:
    """Hyperparameters of :func:`train_rlhf` (defaults: the chapter's run). Fields that PPO has too
    carry :class:`gaelib.ppo.PPOConfig`'s names and meaning; frozen and validated on construction
    (a bad value raises ``ValueError`` naming the field)."""

    estimator: str = "gae"
    """A name registered in ``gaelib.llm.registry`` (:func:`gaelib.llm.estimator_names`): ``gae``
    (critic; λ, decoupled λ, length-adaptive λ), ``grpo``, ``drgrpo`` (GRPO without the std),
    ``rloo``, ``reinforce_pp`` (global normalisation), ``reinforce`` (no baseline)."""
    lam: float = 0.95
    """GAE λ of the actor (``estimator="gae"``)."""
    lam_critic: float | None = None
    """λ of the critic's targets; ``None``: the actor's λ (coupled). 1.0 with ``lam<1`` is VC-PPO."""
    adaptive_alpha: float | None = None
    """If set, the actor's λ is VAPO's ``1 - 1/(alpha * length)`` per response."""
    gamma: float = 1.0
    """Discount; 1 in every LLM engine."""
    kl_coef: float = 0.05
    """β of the per-token KL penalty in the reward."""
    kl_kind: str = "k1"
    """KL estimator in the reward (``k1``, ``k2``, ``k3``)."""
    n_prompts: int = 16
    """Prompts per iteration."""
    group_size: int = 4
    """Responses per prompt (the group of GRPO/RLOO; GAE uses the same batch)."""
    max_new: int = 10
    """Longest response; a response without EOS by then is cut (and treated as ended)."""
    min_digits: int = 4
    """Fewer digits than this score 0 (:func:`~gaelib.tiny_lm.sortedness`)."""
    iterations: int = 100
    """Rollout-and-update iterations."""
    num_epochs: int = 2
    """PPO epochs over each batch."""
    minibatch_size: int = 32
    """Responses per gradient step; a batch of ``n_prompts · group_size`` responses is split into
    ceil(batch / minibatch_size) minibatches."""
    clip_range: float = 0.2
    """The clip ε of PPO; the probability ratio is clipped to [1 - ε, 1 + ε]."""
    clip_range_vf: float | None = 0.2
    """Clip of the critic's change per update (TRL/verl style); None for the plain squared error."""
    vf_coef: float = 0.5
    """Weight of the value loss (the critic has its own optimiser, so this scales its gradient)."""
    learning_rate: float = 1e-3
    """Adam learning rate of the policy."""
    critic_learning_rate: float = 3e-3
    """Adam learning rate of the critic."""
    max_grad_norm: float | None = 1.0
    """Gradient-norm clip (None for no clipping)."""
    whiten: bool = True
    """Whiten GAE advantages over the batch's valid tokens (TRL, verl)."""
    seed: int = 0
    """Seed of the sampling generator (the model's initial weights come from ``base``)."""

    def __post_init__(self):
        check_config_fields(
            self, positive_int=("n_prompts", "group_size", "max_new", "iterations", "num_epochs",
                                "minibatch_size"),
            unit=("lam", "gamma"), positive=("clip_range", "learning_rate", "critic_learning_rate"),
            nonneg=("kl_coef", "vf_coef"), positive_or_none=("clip_range_vf", "max_grad_norm", "adaptive_alpha"))
        if self.lam_critic is not None:
            check_config_fields(self, unit=("lam_critic",))
        if self.estimator not in llm.estimator_names():
            raise ValueError(f"RLHFConfig.estimator must be one of {llm.estimator_names()}; got {self.estimator!r}")
        if self.kl_kind not in ("k1", "k2", "k3"):
            raise ValueError(f"RLHFConfig.kl_kind must be 'k1', 'k2' or 'k3'; got {self.kl_kind!r}")
        if isinstance(self.min_digits, bool) or not isinstance(self.min_digits, int) or self.min_digits < 0:
            raise ValueError(f"RLHFConfig.min_digits must be an integer >= 0; got {self.min_digits!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"RLHFConfig.seed must be an integer; got {self.seed!r}")
        if not isinstance(self.whiten, bool):
            raise ValueError(f"RLHFConfig.whiten must be True or False; got {self.whiten!r}")


@dataclass
class RLHFHistory(TrainingHistory):
    """What :func:`train_rlhf` records, one entry per iteration."""

    score: list[float] = field(default_factory=list)
    """Mean programmatic score of the batch's responses."""
    sorted: list[float] = field(default_factory=list)
    """Fraction of responses with score 1."""
    kl: list[float] = field(default_factory=list)
    """Mean per-sequence Σ k1 against the reference, nats."""
    length: list[float] = field(default_factory=list)
    """Mean response tokens, EOS included."""
    eos: list[float] = field(default_factory=list)
    """Fraction of responses that emitted EOS."""
    adv_std: list[float] = field(default_factory=list)
    """Standard deviation of the raw advantages over valid tokens, before whitening."""
    seconds: list[float] = field(default_factory=list)
    """Wall time of the iteration (varies run to run)."""


@dataclass
class RLHFResult:
    """What :func:`train_rlhf` returns."""

    policy: TinyGPT
    critic: ValueModel | None
    history: RLHFHistory = field(default_factory=RLHFHistory)
    """Per-iteration learning curves."""
    parameters: dict = field(default_factory=dict)
    """Trainable parameters of the policy and the critic (0 without one)."""


def compute_advantages(cfg: RLHFConfig, rewards, values, mask):
    """Advantages and value targets (``None`` for critic-free estimators) for one batch.

    Args:
        cfg: the configuration (``estimator``, ``lam``, ``lam_critic``, ``adaptive_alpha``,
            ``gamma``, ``group_size``, ``whiten``).
        rewards: ``[B, R]`` shaped token rewards.
        values: ``[B, R]`` critic values, or ``None`` for critic-free estimators.
        mask: ``[B, R]`` 0/1 float.

    Returns:
        ``(advantages, targets, raw_advantages)``: the advantages the loss uses, the critic's
        targets (or ``None``), and the advantages before whitening.
    """
    est = llm.get_estimator(cfg.estimator)
    lam = cfg.lam
    if est.critic and cfg.adaptive_alpha is not None:
        lam = torch.from_numpy(llm.length_adaptive_lam(mask.sum(1).numpy(), alpha=cfg.adaptive_alpha))
    adv, targets = est(rewards, mask, values=values, gamma=cfg.gamma, lam=lam, lam_critic=cfg.lam_critic,
                       groups=cfg.group_size)
    raw = adv
    if est.critic and cfg.whiten:
        adv = llm.masked_whiten(adv, mask)
    return adv, targets, raw


@torch.no_grad()
def sample_batch(policy: TinyGPT, ref: TinyGPT, critic: ValueModel | None, cfg: RLHFConfig,
                 gen: torch.Generator) -> dict:
    """Sample a batch and build its shaped rewards (steps 1-3 of :func:`train_rlhf`).

    Returns a dict of tensors: ``prompts [B, P]``, ``responses [B, R]``, ``seq`` (both),
    ``P``, ``mask [B, R]`` (float), ``log_probs`` (of the sampling policy), ``ref_log_probs``,
    ``values`` (or ``None``), ``score [B]``, ``kl`` (k1 per token, masked, for logging) and
    ``rewards [B, R]``.
    """
    prompts = make_prompts(cfg.n_prompts, gen).repeat_interleave(cfg.group_size, 0)
    responses = generate(policy, prompts, cfg.max_new, gen)
    mask = llm.response_mask(responses, EOS).float()
    seq = torch.cat([prompts, responses], 1)
    P = prompts.shape[1]
    log_probs = sequence_log_probs(policy, prompts, responses)
    ref_log_probs = sequence_log_probs(ref, prompts, responses)
    values = critic(seq)[:, P - 1:-1] * mask if critic is not None else None
    score = sortedness(prompts, responses, min_digits=cfg.min_digits)
    kl = llm.kl_penalty(log_probs, ref_log_probs, mask, kind=cfg.kl_kind)
    rewards = llm.token_rewards(score, kl, mask, kl_coef=cfg.kl_coef)
    return dict(prompts=prompts, responses=responses, seq=seq, P=P, mask=mask, log_probs=log_probs,
                ref_log_probs=ref_log_probs, values=values, score=score,
                kl=llm.kl_penalty(log_probs, ref_log_probs, mask, kind="k1"), rewards=rewards)


def policy_gradient_estimate(policy: TinyGPT, batch: dict, advantages) -> torch.Tensor:
    r"""The policy-gradient estimate of one batch, flattened: the gradient of the clipped surrogate
    at ratio 1, :math:`-\nabla_\theta L^{\mathrm{CLIP}} = \nabla_\theta \operatorname{mean}_{m_t=1}
    \hat A_t \log\pi_\theta(a_t|s_t)` (:func:`gaelib.losses.clipped_surrogate_loss`).
    """
    policy.zero_grad(set_to_none=True)
    log_probs = sequence_log_probs(policy, batch["prompts"], batch["responses"])
    loss = clipped_surrogate_loss(log_probs, log_probs.detach(), advantages, clip_range=1.0, mask=batch["mask"])
    (-loss).backward()
    return torch.cat([p.grad.reshape(-1) for p in policy.parameters() if p.grad is not None]).clone()


def _log(history: RLHFHistory, b: dict, raw_advantages, seconds: float) -> None:
    mask, responses, score = b["mask"], b["responses"], b["score"]
    history.score.append(float(score.mean()))
    history.sorted.append(float((score == 1).float().mean()))
    history.kl.append(float(b["kl"].sum(1).mean()))
    history.length.append(float(mask.sum(1).mean()))
    history.eos.append(float((responses == EOS).any(1).float().mean()))
    history.adv_std.append(float(llm.masked_var(raw_advantages, mask) ** 0.5))
    history.seconds.append(seconds)


def train_rlhf(base: TinyGPT, cfg: RLHFConfig, *, critic: ValueModel | None = None) -> RLHFResult:
    """Fine-tune a copy of ``base`` with PPO against :func:`~gaelib.tiny_lm.sortedness`.

    ``base`` stays untouched and serves as the frozen reference policy of the KL penalty.
    With ``estimator="gae"`` a critic is trained alongside: a copy of ``critic`` if given
    (e.g. a pretrained one), else a :class:`~gaelib.tiny_lm.ValueModel` made from
    ``base``'s trunk with a zero head. The losses are :mod:`gaelib.losses`' token-means.
    """
    if not isinstance(cfg, RLHFConfig):
        raise TypeError(f"cfg must be an RLHFConfig; got {type(cfg).__name__}")
    est = llm.get_estimator(cfg.estimator)
    gen = torch.Generator().manual_seed(cfg.seed)
    ref = base.eval()
    policy = copy.deepcopy(base).train()
    if not est.critic:
        critic = None
    else:
        critic = copy.deepcopy(critic).train() if critic is not None else ValueModel(base).train()
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=cfg.critic_learning_rate) \
        if critic is not None else None
    history = RLHFHistory()
    B = cfg.n_prompts * cfg.group_size
    for _ in range(cfg.iterations):
        t0 = time.perf_counter()
        # ---- 1-4. rollout, score, shape the rewards, advantages
        b = sample_batch(policy, ref, critic, cfg, gen)
        prompts, responses, seq, mask, P = b["prompts"], b["responses"], b["seq"], b["mask"], b["P"]
        adv, targets, raw = compute_advantages(cfg, b["rewards"], b["values"], mask)
        # ---- 5. PPO updates
        for _ in range(cfg.num_epochs):
            for mb in torch.randperm(B, generator=gen).split(cfg.minibatch_size):
                log_probs = sequence_log_probs(policy, prompts[mb], responses[mb])
                loss = clipped_surrogate_loss(log_probs, b["log_probs"][mb], adv[mb], clip_range=cfg.clip_range,
                                              mask=mask[mb])
                optimizer.zero_grad()
                loss.backward()
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if critic is not None:
                    v = critic(seq[mb])[:, P - 1:-1]
                    vloss = cfg.vf_coef * value_loss(
                        v, targets[mb], clip_range=cfg.clip_range_vf, mask=mask[mb],
                        old_values=b["values"][mb] if cfg.clip_range_vf is not None else None)
                    critic_optimizer.zero_grad()
                    vloss.backward()
                    if cfg.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
                    critic_optimizer.step()
        # ---- log
        _log(history, b, raw, time.perf_counter() - t0)
    params = {"policy": count_parameters(policy),
              "critic": count_parameters(critic) if critic is not None else 0}
    return RLHFResult(policy.eval(), critic, history, params)
