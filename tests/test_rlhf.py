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
    cfg = rlhf.RLHFConfig(estimator=estimator, iterations=2, n_prompts=2, group_size=2, max_new=5, epochs=1)
    a = rlhf.train_rlhf(base, cfg)
    b = rlhf.train_rlhf(base, cfg)
    assert a.history["score"] == b.history["score"] and a.history["kl"] == b.history["kl"]
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())  # the reference is untouched
    assert (a.critic is not None) == (estimator == "gae")
    assert a.parameters["critic"] == (tiny_lm.count_parameters(a.critic) if a.critic is not None else 0)
    assert all(np.isfinite(v).all() for v in a.history.values())


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
    with pytest.raises(ValueError, match="estimator must be one of"):
        rlhf.compute_advantages(rlhf.RLHFConfig(estimator="ppo"), rewards, values, mask)


def test_ppo_losses_by_hand():
    logp_old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0]]))
    adv = torch.tensor([[1.0, 1.0, -2.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    # token 0: ratio 1.5 clipped to 1.2 -> -1.2; token 1: ratio 0.5 -> max(-0.5, -0.8) = -0.5; token 2 masked
    loss = rlhf.ppo_policy_loss(logp, logp_old, adv, mask, clip=0.2)
    torch.testing.assert_close(loss, torch.tensor(-(1.2 + 0.5) / 2))
    v = torch.tensor([[1.0, 0.0]])
    v_old = torch.tensor([[0.0, 0.0]])
    g = torch.tensor([[1.0, 1.0]])
    # token 0: max((1-1)^2, (0.2-1)^2) = 0.64; token 1: 1
    torch.testing.assert_close(rlhf.ppo_value_loss(v, v_old, g, torch.ones(1, 2), clip=0.2),
                               torch.tensor(0.5 * (0.64 + 1.0) / 2))


def test_bad_estimator(base):
    with pytest.raises(ValueError, match="estimator must be one of"):
        rlhf.train_rlhf(base, rlhf.RLHFConfig(estimator="nope", iterations=1))
