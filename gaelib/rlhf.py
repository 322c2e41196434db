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

import torch

from gaelib import llm
from gaelib.tiny_lm import EOS, TinyGPT, ValueModel, count_parameters, generate, make_prompts, \
    sequence_logprobs, sortedness

__all__ = ["RLHFConfig", "RLHFResult", "ppo_policy_loss", "ppo_value_loss",
           "compute_advantages", "rollout", "policy_gradient", "train_rlhf"]


@dataclass
class RLHFConfig:
    """Hyperparameters of :func:`train_rlhf` (defaults: the chapter's run)."""

    estimator: str = "gae"
    """A name registered in :mod:`gaelib.llm.registry` (:func:`gaelib.llm.estimator_names`): ``gae``
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
    epochs: int = 2
    """PPO epochs over each batch."""
    minibatches: int = 2
    """Minibatches per epoch."""
    clip: float = 0.2
    """PPO ratio clip ε."""
    value_clip: float = 0.2
    """Clip of the critic's change per update (TRL/verl style)."""
    lr: float = 1e-3
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-3
    """Adam learning rate of the critic."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    whiten: bool = True
    """Whiten GAE advantages over the batch's valid tokens (TRL, verl)."""
    seed: int = 0
    """Seed of the sampling generator (the model's initial weights come from ``base``)."""


@dataclass
class RLHFResult:
    """What :func:`train_rlhf` returns."""

    policy: TinyGPT
    critic: ValueModel | None
    history: dict = field(default_factory=dict)
    """Per-iteration lists, keyed ``score``, ``sorted`` (fraction with score 1), ``kl`` (mean
    per-sequence Σ k1 against the reference, nats), ``length`` (mean response tokens,
    EOS included), ``eos`` (fraction that emitted EOS), ``adv_std`` (std of the raw
    advantages over valid tokens, before whitening), ``seconds`` (wall time)."""
    parameters: dict = field(default_factory=dict)
    """Trainable parameters of the policy and the critic (0 without one)."""


def ppo_policy_loss(logp, logp_old, advantages, mask, *, clip: float):
    r"""Clipped PPO surrogate, token-mean over valid tokens.

    .. math:: L = \operatorname{mean}_{m_t=1} \max\big(-\hat A_t \rho_t,\;
              -\hat A_t\,\mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\big),\quad
              \rho_t = e^{\log\pi - \log\pi_{\mathrm{old}}}.
    """
    ratio = torch.exp(logp - logp_old)
    loss = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip))
    return (loss * mask).sum() / mask.sum()


def ppo_value_loss(v, v_old, targets, mask, *, clip: float):
    r"""Clipped value loss :math:`\tfrac12\operatorname{mean}\max((v-G)^2, (v_{\mathrm{clip}}-G)^2)` over valid tokens."""
    v_clipped = v_old + (v - v_old).clamp(-clip, clip)
    loss = torch.maximum((v - targets) ** 2, (v_clipped - targets) ** 2)
    return 0.5 * (loss * mask).sum() / mask.sum()


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
def rollout(policy: TinyGPT, ref: TinyGPT, critic: ValueModel | None, cfg: RLHFConfig,
            gen: torch.Generator) -> dict:
    """Sample a batch and build its shaped rewards (steps 1-3 of :func:`train_rlhf`).

    Returns a dict of tensors: ``prompts [B, P]``, ``responses [B, R]``, ``seq`` (both),
    ``P``, ``mask [B, R]`` (float), ``logp_old``, ``logp_ref``, ``values`` (or ``None``),
    ``score [B]``, ``kl`` (k1 per token, masked, for logging) and ``rewards [B, R]``.
    """
    prompts = make_prompts(cfg.n_prompts, gen).repeat_interleave(cfg.group_size, 0)
    responses = generate(policy, prompts, cfg.max_new, gen)
    mask = llm.response_mask(responses, EOS).float()
    seq = torch.cat([prompts, responses], 1)
    P = prompts.shape[1]
    logp_old = sequence_logprobs(policy, prompts, responses)
    logp_ref = sequence_logprobs(ref, prompts, responses)
    values = critic(seq)[:, P - 1:-1] * mask if critic is not None else None
    score = sortedness(prompts, responses, min_digits=cfg.min_digits)
    kl = llm.kl_penalty(logp_old, logp_ref, mask, kind=cfg.kl_kind)
    rewards = llm.token_rewards(score, kl, mask, kl_coef=cfg.kl_coef)
    return dict(prompts=prompts, responses=responses, seq=seq, P=P, mask=mask, logp_old=logp_old,
                logp_ref=logp_ref, values=values, score=score,
                kl=llm.kl_penalty(logp_old, logp_ref, mask, kind="k1"), rewards=rewards)


def policy_gradient(policy: TinyGPT, batch: dict, advantages) -> torch.Tensor:
    r"""The policy-gradient estimate of one batch, flattened: :math:`\nabla_\theta\,
    \operatorname{mean}_{m_t=1} \hat A_t \log\pi_\theta(a_t|s_t)` (the PPO surrogate's gradient at ratio 1).
    """
    policy.zero_grad(set_to_none=True)
    logp = sequence_logprobs(policy, batch["prompts"], batch["responses"])
    mask = batch["mask"]
    ((advantages * logp * mask).sum() / mask.sum()).backward()
    return torch.cat([p.grad.reshape(-1) for p in policy.parameters() if p.grad is not None]).clone()


def train_rlhf(base: TinyGPT, cfg: RLHFConfig, *, critic: ValueModel | None = None) -> RLHFResult:
    """Fine-tune a copy of ``base`` with PPO against :func:`~gaelib.tiny_lm.sortedness`.

    ``base`` stays untouched and serves as the frozen reference policy of the KL penalty.
    With ``estimator="gae"`` a critic is trained alongside: a copy of ``critic`` if given
    (e.g. a pretrained one), else a :class:`~gaelib.tiny_lm.ValueModel` made from
    ``base``'s trunk with a zero head.
    """
    est = llm.get_estimator(cfg.estimator)
    gen = torch.Generator().manual_seed(cfg.seed)
    ref = base.eval()
    policy = copy.deepcopy(base).train()
    if not est.critic:
        critic = None
    else:
        critic = copy.deepcopy(critic).train() if critic is not None else ValueModel(base).train()
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    copt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr) if critic is not None else None
    keys = ("score", "sorted", "kl", "length", "eos", "adv_std", "seconds")
    hist = {k: [] for k in keys}
    B = cfg.n_prompts * cfg.group_size
    for _ in range(cfg.iterations):
        t0 = time.perf_counter()
        # ---- 1-4. rollout, score, shape the rewards, advantages
        b = rollout(policy, ref, critic, cfg, gen)
        prompts, responses, seq, mask, P = b["prompts"], b["responses"], b["seq"], b["mask"], b["P"]
        logp_old, values, score = b["logp_old"], b["values"], b["score"]
        adv, targets, raw = compute_advantages(cfg, b["rewards"], values, mask)
        # ---- 5. PPO updates
        for _ in range(cfg.epochs):
            perm = torch.randperm(B, generator=gen)
            for mb in perm.chunk(cfg.minibatches):
                logp = sequence_logprobs(policy, prompts[mb], responses[mb])
                loss = ppo_policy_loss(logp, logp_old[mb], adv[mb], mask[mb], clip=cfg.clip)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
                if critic is not None:
                    v = critic(seq[mb])[:, P - 1:-1]
                    vloss = ppo_value_loss(v, values[mb], targets[mb], mask[mb], clip=cfg.value_clip)
                    copt.zero_grad(set_to_none=True)
                    vloss.backward()
                    torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
                    copt.step()
        # ---- log
        n = mask.sum(1)
        hist["score"].append(float(score.mean()))
        hist["sorted"].append(float((score == 1).float().mean()))
        hist["kl"].append(float(b["kl"].sum(1).mean()))
        hist["length"].append(float(n.mean()))
        hist["eos"].append(float((responses == EOS).any(1).float().mean()))
        hist["adv_std"].append(float(llm.masked_var(raw, mask) ** 0.5))
        hist["seconds"].append(time.perf_counter() - t0)
    params = {"policy": count_parameters(policy),
              "critic": count_parameters(critic) if critic is not None else 0}
    return RLHFResult(policy.eval(), critic, hist, params)
