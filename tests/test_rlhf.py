"""Tests for gaelib.rlhf: the PPO-RLHF loop and its estimator switch (fast smoke tests)."""

import numpy as np
import pytest
import torch

from gaelib import llm, rlhf, tiny_lm


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    m = tiny_lm.TinyGPT(tiny_lm.LMConfig(d_model=16, n_layers=1, n_heads=2, context=12))
    tiny_lm.pretrain(m, steps=10, batch_size=16, lr=1e-2, generator=torch.Generator().manual_seed(0))
    return m.eval()


@pytest.mark.parametrize("estimator", llm.estimator_names())
def test_every_estimator_runs_and_repeats(base, estimator):
    before = {k: v.clone() for k, v in base.state_dict().items()}
    cfg = rlhf.RLHFConfig(estimator=estimator, iterations=2, n_prompts=2, group_size=2, max_new=5, num_epochs=1,
                          minibatch_size=2)
    a = rlhf.train_rlhf(base, cfg)
    b = rlhf.train_rlhf(base, cfg)
    assert a.history.score == b.history.score and a.history.kl == b.history.kl
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())  # the reference is untouched
    assert (a.critic is not None) == (estimator == "gae")
    assert a.parameters["critic"] == (tiny_lm.count_parameters(a.critic) if a.critic is not None else 0)
    assert all(np.isfinite(v).all() and len(v) == 2 for v in a.history.as_arrays().values())


def test_gae_options_reach_the_estimator():
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0]])
    rewards = torch.tensor([[0.0, 0, 1, 0], [0, 0.5, 0, 0]])
    values = torch.tensor([[0.2, 0.3, 0.1, 0], [0.4, 0.1, 0, 0]])
    cfg = rlhf.RLHFConfig(lam=0.9, lam_critic=1.0, whiten=False)
    adv, targets, raw = rlhf.compute_advantages(cfg, rewards, values, mask)
    torch.testing.assert_close(adv, llm.token_gae(rewards, values, mask, gamma=1.0, lam=0.9).advantages)
    torch.testing.assert_close(targets, llm.token_gae(rewards, values, mask, gamma=1.0, lam=1.0).returns)
    cfg = rlhf.RLHFConfig(adaptive_alpha=1.0, whiten=False)
    adv, _, _ = rlhf.compute_advantages(cfg, rewards, values, mask)
    lam = torch.tensor([1 - 1 / 3, 1 - 1 / 2], dtype=torch.float64)
    torch.testing.assert_close(adv, llm.token_gae(rewards, values, mask, gamma=1.0, lam=lam).advantages)


def test_policy_gradient_estimate_is_the_mean_of_advantage_times_score(base):
    cfg = rlhf.RLHFConfig(n_prompts=2, group_size=2, max_new=5)
    b = rlhf.sample_batch(base, base, None, cfg, torch.Generator().manual_seed(0))
    adv = torch.randn(b["mask"].shape, generator=torch.Generator().manual_seed(1))
    g = rlhf.policy_gradient_estimate(base, b, adv)
    base.zero_grad(set_to_none=True)
    log_probs = tiny_lm.sequence_log_probs(base, b["prompts"], b["responses"])
    ((adv * log_probs * b["mask"]).sum() / b["mask"].sum()).backward()
    want = torch.cat([p.grad.reshape(-1) for p in base.parameters() if p.grad is not None])
    base.zero_grad(set_to_none=True)
    torch.testing.assert_close(g, want)


BAD_CONFIGS = [
    ({"estimator": "ppo"}, "estimator"), ({"lam": 1.5}, "lam"), ({"lam_critic": -0.1}, "lam_critic"),
    ({"gamma": 2.0}, "gamma"), ({"kl_coef": -0.1}, "kl_coef"), ({"kl_kind": "k4"}, "kl_kind"),
    ({"n_prompts": 0}, "n_prompts"), ({"group_size": 1.5}, "group_size"), ({"max_new": 0}, "max_new"),
    ({"min_digits": -1}, "min_digits"), ({"iterations": 0}, "iterations"), ({"num_epochs": 0}, "num_epochs"),
    ({"minibatch_size": 0}, "minibatch_size"), ({"clip_range": 0.0}, "clip_range"),
    ({"clip_range_vf": -0.2}, "clip_range_vf"), ({"vf_coef": -1.0}, "vf_coef"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"critic_learning_rate": float("nan")}, "critic_learning_rate"),
    ({"max_grad_norm": 0.0}, "max_grad_norm"), ({"adaptive_alpha": 0.0}, "adaptive_alpha"),
    ({"whiten": "yes"}, "whiten"), ({"seed": None}, "seed"),
]


@pytest.mark.parametrize("kwargs,name", BAD_CONFIGS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_CONFIGS)])
def test_config_validation_names_the_field(kwargs, name):
    with pytest.raises(ValueError, match=f"RLHFConfig.{name}"):
        rlhf.RLHFConfig(**kwargs)


def test_config_shares_ppo_names_and_is_frozen():
    import dataclasses

    from gaelib.ppo import PPOConfig

    shared = {f.name for f in dataclasses.fields(rlhf.RLHFConfig)} & {f.name for f in dataclasses.fields(PPOConfig)}
    assert {"gamma", "lam", "clip_range", "clip_range_vf", "vf_coef", "learning_rate", "num_epochs",
            "minibatch_size", "max_grad_norm"} <= shared
    with pytest.raises(dataclasses.FrozenInstanceError):
        rlhf.RLHFConfig().lam = 0.5


def test_train_rlhf_needs_a_config(base):
    with pytest.raises(TypeError, match="cfg"):
        rlhf.train_rlhf(base, {"estimator": "gae"})
