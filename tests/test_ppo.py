"""Tests of PPO: losses by hand, the update on fixed tensors, a tiny training run."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from gaelib.networks import DiscreteActorCritic, GaussianActorCritic
from gaelib.ppo import (
    PPOConfig,
    PPOHistory,
    approx_kl,
    clip_fraction,
    clipped_surrogate_loss,
    evaluate_policy,
    explained_variance,
    normalize_advantages,
    ppo_update,
    solve_point,
    train_ppo,
    value_loss,
)
from gaelib.rollout import RolloutCollector, make_vector_env, rollout_advantages

torch.set_num_threads(1)  # as in `make test`: tiny networks, one thread is faster and repeatable
# --------------------------------------------------------------------------- losses by hand

# ratios 1.5, 0.5, 1.0, 1.1, 0.5 with clip 0.2 and advantages 1, 1, -2, -1, -1:
#   min(1.5, 1.2) = 1.2 (clipped);  min(0.5, 0.8) = 0.5;  -2;  min(-1.1, -1.1) = -1.1;
#   min(-0.5, -0.8) = -0.8 (clipped)  ->  loss = -(1.2 + 0.5 - 2 - 1.1 - 0.8) / 5 = 0.44
RATIOS = torch.tensor([1.5, 0.5, 1.0, 1.1, 0.5], dtype=torch.float64)
ADV = torch.tensor([1.0, 1.0, -2.0, -1.0, -1.0], dtype=torch.float64)
OLD = torch.tensor([-0.3, -1.2, -0.7, -2.0, -0.1], dtype=torch.float64)


def test_clipped_surrogate_by_hand():
    logp = (OLD + torch.log(RATIOS)).requires_grad_()
    loss = clipped_surrogate_loss(logp, OLD, ADV, 0.2)
    assert loss.item() == pytest.approx(0.44)
    loss.backward()
    # d/dlogp of -(rho * A)/B = -rho * A / B where the unclipped term is the minimum, 0 where clipped
    want = -RATIOS * ADV / 5
    want[[0, 4]] = 0.0
    np.testing.assert_allclose(logp.grad, want, atol=1e-12)


def test_clipped_surrogate_at_ratio_one_is_the_policy_gradient():
    logp = OLD.clone().requires_grad_()
    loss = clipped_surrogate_loss(logp, OLD, ADV, 0.2)
    assert loss.item() == pytest.approx(-ADV.mean().item())
    loss.backward()
    np.testing.assert_allclose(logp.grad, -ADV / 5)


def test_value_loss_plain_and_clipped_by_hand():
    v = torch.tensor([1.0, 2.0, 3.0])
    ret = torch.tensor([0.0, 2.0, 5.0])
    old = torch.tensor([1.5, 2.0, 2.0])
    assert value_loss(v, ret).item() == pytest.approx((1 + 0 + 4) / 3)
    # clip 0.2: clipped predictions 1.3, 2.0, 2.2 -> squared errors 1.69, 0, 7.84; max with 1, 0, 4
    assert value_loss(v, ret, old_values=old, clip_range=0.2).item() == pytest.approx((1.69 + 0 + 7.84) / 3)


def test_kl_and_clip_fraction_by_hand():
    logp = OLD + torch.log(RATIOS)
    want = np.mean([(r - 1) - math.log(r) for r in RATIOS.tolist()])
    assert approx_kl(logp, OLD).item() == pytest.approx(want)
    assert approx_kl(OLD, OLD).item() == 0.0
    assert clip_fraction(logp, OLD, 0.2).item() == pytest.approx(3 / 5)  # 1.5, 0.5 and 0.5


def test_explained_variance_and_normalisation():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(np.full(4, y.mean()), y) == 0.0
    assert explained_variance(y - 1, y) == 1.0  # a constant offset is not penalised (variance only)
    assert math.isnan(explained_variance(y, np.ones(4)))
    a = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6) and a.std().item() == pytest.approx(1.0, rel=1e-6)


def test_loss_bad_inputs():
    with pytest.raises(ValueError, match="values has shape"):
        value_loss(torch.zeros(3, 1), torch.zeros(3))  # the seed listing's (T, 1) vs (T,) bug
    with pytest.raises(ValueError, match="old_values"):
        value_loss(torch.zeros(3), torch.zeros(3), clip_range=0.2)
    with pytest.raises(ValueError, match="predictions"):
        explained_variance(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------------- the update on fixed tensors


def fixed_batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 4, generator=g)
    return {"obs": obs, "actions": torch.randint(0, 2, (n,), generator=g),
            "advantages": torch.randn(n, generator=g), "returns": torch.randn(n, generator=g)}


def with_old(model, batch):
    with torch.no_grad():
        logp, _, v = model.evaluate(batch["obs"], batch["actions"])
    return {**batch, "log_probs": logp, "values": v}


def test_one_full_batch_step_equals_adam_on_the_loss():
    torch.manual_seed(0)
    model = DiscreteActorCritic(4, 2, hidden=(8,))
    batch = with_old(model, fixed_batch())
    cfg = PPOConfig(num_epochs=1, minibatch_size=64, learning_rate=1e-2, vf_coef=0.5, max_grad_norm=None)
    twin = copy.deepcopy(model)
    # by hand: one Adam step on L_clip + 0.5 * L_V over the whole batch (ratio 1: the policy gradient)
    logp, _, v = twin.evaluate(batch["obs"], batch["actions"])
    loss = clipped_surrogate_loss(logp, batch["log_probs"], batch["advantages"], 0.2) \
        + 0.5 * value_loss(v, batch["returns"])
    opt_twin = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=1e-5)
    loss.backward()
    opt_twin.step()
    stats = ppo_update(model, torch.optim.Adam(model.parameters(), lr=1e-2, eps=1e-5), batch, cfg,
                       clip_range=0.2)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach(), q.detach(), atol=1e-6)
    assert stats["policy_loss"] == pytest.approx(-batch["advantages"].mean().item(), abs=1e-6)
    assert stats["epochs"] == 1


def test_update_reduces_the_loss_and_moves_the_policy_a_little():
    torch.manual_seed(0)
    model = DiscreteActorCritic(4, 2)
    batch = with_old(model, fixed_batch(256))
    cfg = PPOConfig(num_epochs=4, minibatch_size=64, learning_rate=1e-3)
    twin = copy.deepcopy(model)
    before = ppo_update(twin, torch.optim.Adam(twin.parameters(), lr=0.0), batch,
                        PPOConfig(num_epochs=1, minibatch_size=256), clip_range=0.2)
    assert before["approx_kl"] == 0.0 and before["clipfrac"] == 0.0
    stats = ppo_update(model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5), batch, cfg,
                       clip_range=0.2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logp, _, v = model.evaluate(batch["obs"], batch["actions"])
    assert clipped_surrogate_loss(logp, batch["log_probs"], batch["advantages"], 0.2) < before["policy_loss"]
    assert value_loss(v, batch["returns"]) < before["value_loss"]
    assert 0.0 < stats["approx_kl"] < 0.1 and 0.0 <= stats["clipfrac"] <= 1.0


def test_target_kl_stops_after_the_first_epoch():
    torch.manual_seed(0)
    model = DiscreteActorCritic(4, 2)
    batch = with_old(model, fixed_batch())
    cfg = PPOConfig(num_epochs=10, minibatch_size=16, learning_rate=1e-2, target_kl=1e-9)
    stats = ppo_update(model, torch.optim.Adam(model.parameters(), lr=1e-2), batch, cfg, clip_range=0.2)
    assert stats["epochs"] == 1


@pytest.mark.parametrize("env_id,cls", [("CartPole-v1", DiscreteActorCritic), ("Pendulum-v1", GaussianActorCritic)])
def test_ratio_is_one_on_the_first_minibatch(env_id, cls):
    """The log-probabilities stored while collecting are those of the actions the update evaluates."""
    torch.manual_seed(0)
    envs = make_vector_env(env_id, 2)
    space = envs.single_action_space
    model = cls(envs.single_observation_space.shape[0], space.n if cls is DiscreteActorCritic else space.shape[0])
    ro = RolloutCollector(envs, model, seed=0).collect(32)
    adv, ret = rollout_advantages(ro, gamma=0.99, lam=0.95)
    batch = {"obs": ro.obs.flatten(0, 1), "actions": ro.actions.flatten(0, 1), "log_probs": ro.log_probs.flatten(),
             "values": ro.values.flatten(), "advantages": adv.flatten(), "returns": ret.flatten()}
    ratios = []
    evaluate = model.evaluate

    def spy(obs, actions, **kwargs):
        out = evaluate(obs, actions, **kwargs)
        ratios.append(torch.exp(out[0] - spy.old[: len(obs)]).detach())
        return out

    perm = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    spy.old = batch["log_probs"][perm]  # the update draws the same permutation from the same generator
    model.evaluate = spy
    ppo_update(model, torch.optim.Adam(model.parameters(), lr=1e-3), batch,
               PPOConfig(num_epochs=2, minibatch_size=32), clip_range=0.2,
               generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(ratios[0], np.ones(32), atol=1e-5)
    assert float((ratios[1] - 1).abs().max()) > 1e-6  # after one step the policy has moved


# --------------------------------------------------------------------------- configuration


def test_config_validation_names_the_field():
    assert PPOConfig(num_envs=4, num_steps=32).batch_size == 128
    for kw, name in [({"num_envs": 0}, "num_envs"), ({"gamma": 1.5}, "gamma"), ({"lam": -0.1}, "lam"),
                     ({"learning_rate": 0}, "learning_rate"), ({"clip_range_vf": 0.0}, "clip_range_vf"),
                     ({"minibatch_size": 2.5}, "minibatch_size"), ({"ent_coef": -1.0}, "ent_coef")]:
        with pytest.raises(ValueError, match=name):
            PPOConfig(**kw)
    with pytest.raises(TypeError, match="PPOConfig"):
        train_ppo("CartPole-v1", {"num_envs": 1})


def test_solve_point_by_hand():
    h = PPOHistory(episode_returns=[10.0, 500.0, 500.0, 20.0, 500.0], episode_steps=[10, 510, 1010, 1030, 1530],
                   episode_seconds=[0.1, 0.2, 0.3, 0.4, 0.5])
    # means of 3: 336.7 (episodes 0-2), 340 (1-3): reached when episode 3 finished
    assert solve_point(h, threshold=340, window=3) == (1030, 0.4)
    assert solve_point(h, threshold=1000, window=3) is None
    assert solve_point(h, threshold=0, window=6) is None  # fewer episodes than the window


# --------------------------------------------------------------------------- training smoke tests

SMOKE = PPOConfig(total_steps=6144, num_envs=4, num_steps=64, num_epochs=8, minibatch_size=64,
                  learning_rate=2e-3, gamma=0.98, lam=0.8)


def test_training_smoke_cartpole():
    model, h = train_ppo("CartPole-v1", SMOKE, seed=0, progress=False)
    n_updates = 6144 // 256
    assert len(h.update_steps) == n_updates and h.update_steps[:2] == [0, 256]
    assert h.learning_rate[0] == pytest.approx(2e-3) and h.learning_rate[-1] < 2e-4  # linear annealing
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"):
        assert len(getattr(h, key)) == n_updates and np.all(np.isfinite(getattr(h, key))), key
    assert len(h.episode_returns) == len(h.episode_steps) == len(h.episode_lengths) > 0
    assert np.all(np.diff(h.episode_steps) >= 0) and h.episode_steps[-1] <= 6144
    assert sum(h.episode_lengths) <= 6144 and h.episode_returns == [float(x) for x in h.episode_lengths]
    # it learns: CartPole's random policy lasts about 22 steps
    assert np.mean(h.episode_returns[-10:]) > 3 * np.mean(h.episode_returns[:10])
    assert evaluate_policy(model, "CartPole-v1", n_episodes=3).mean() > 100
    # the same seed repeats exactly (first three updates)
    _, h2 = train_ppo("CartPole-v1", SMOKE, seed=0, progress=False, callback=lambda log: log["env_steps"] < 768)
    n = len(h2.episode_returns)
    assert h2.episode_returns == h.episode_returns[:n] and h2.policy_loss == h.policy_loss[:3]


def test_training_smoke_pendulum_and_truncation_flag():
    # Pendulum never terminates: every episode ends by truncation, so the flag changes the targets
    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128)
    model, h = train_ppo(lambda: gym.make("Pendulum-v1", max_episode_steps=50), cfg, seed=1, progress=False)
    assert isinstance(model, GaussianActorCritic) and len(h.episode_returns) == 512 // 50
    _, h_bad = train_ppo(lambda: gym.make("Pendulum-v1", max_episode_steps=50),
                         PPOConfig(**{**cfg.__dict__, "treat_truncation_as_termination": True}), seed=1,
                         progress=False)
    assert h_bad.episode_returns[:4] == h.episode_returns[:4]  # same first rollout (2 episodes per env)
    assert h_bad.value_loss[0] != h.value_loss[0]  # different value targets
    r = evaluate_policy(model, lambda: gym.make("Pendulum-v1", max_episode_steps=50), n_episodes=2)
    assert r.shape == (2,) and np.all(r <= 0)


def test_callback_can_stop_training():
    seen = []
    _, h = train_ppo("CartPole-v1", SMOKE, seed=0, progress=False,
                     callback=lambda log: seen.append(log["env_steps"]) or len(seen) < 2)
    assert seen == [256, 512] and len(h.update_steps) == 2


def test_no_updates_once_the_learning_rate_has_reached_zero():
    cfg = PPOConfig(total_steps=1024, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, anneal_steps=512)
    _, h = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    np.testing.assert_allclose(h.learning_rate, [1e-3, 5e-4, 0.0, 0.0])
    assert np.isfinite(h.policy_loss[:2]).all() and np.isnan(h.policy_loss[2:]).all()
    assert h.episode_steps[-1] > 512  # episodes are still collected and recorded


def test_training_optimizer_and_clipping_equal_torchs():
    from gaelib.ppo import _Adam, _clip_grad_norm

    torch.manual_seed(0)
    a = DiscreteActorCritic(4, 2, hidden=(8, 8))
    b = copy.deepcopy(a)
    opt_a = _Adam(a.parameters(), lr=1e-2, eps=1e-5)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, eps=1e-5)
    x = torch.randn(16, 4)
    for step in range(4):
        opt_a.param_groups[0]["lr"] = opt_b.param_groups[0]["lr"] = 1e-2 / (step + 1)  # annealing
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            (model.value(x).pow(2).mean() + 10 * model._log_probs(x)[:, 0].sum()).backward()
        _clip_grad_norm(list(a.parameters()), 0.5)
        norm = torch.nn.utils.clip_grad_norm_(list(b.parameters()), 0.5)
        assert norm > 0.5  # the clip is active
        opt_a.step()
        opt_b.step()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
