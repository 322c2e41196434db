"""Tests of PPO: losses by hand, the update on fixed tensors, a tiny training run."""

import copy
import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from gaelib.losses import clipped_surrogate_loss, value_loss
from gaelib.networks import DiscreteActorCritic, GaussianActorCritic
from gaelib.ppo import (
    PPOConfig,
    PPOHistory,
    evaluate_policy,
    explained_variance,
    normalize_advantages,
    ppo_update,
    solve_point,
    train_ppo,
)
from gaelib.ppo.train import scheduled
from gaelib.rollout import RolloutCollector, make_vector_env, rollout_advantages

torch.set_num_threads(1)  # as in `make test`: tiny networks, one thread is faster and repeatable


def test_explained_variance_and_normalisation():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(np.full(4, y.mean()), y) == 0.0
    assert explained_variance(y - 1, y) == 1.0  # a constant offset is not penalised (variance only)
    assert math.isnan(explained_variance(y, np.ones(4)))
    a = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6) and a.std().item() == pytest.approx(1.0, rel=1e-6)


def test_schedule_by_hand():
    assert scheduled(1e-3, 0.0, 0, 100) == 1e-3
    assert scheduled(1e-3, 0.0, 50, 100) == pytest.approx(5e-4)
    assert scheduled(1e-3, 0.0, 150, 100) == 0.0
    assert scheduled(1e-3, 1e-4, 50, 100) == pytest.approx(5.5e-4)  # halfway between 1e-3 and the floor
    assert scheduled(1e-3, 1e-4, 10_000, 100) == pytest.approx(1e-4)  # the floor, forever after


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
    loss = clipped_surrogate_loss(logp, batch["log_probs"], batch["advantages"], clip_range=0.2) \
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
    assert clipped_surrogate_loss(logp, batch["log_probs"], batch["advantages"], clip_range=0.2) \
        < before["policy_loss"]
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


BAD_CONFIGS = [
    ({"num_envs": 0}, "num_envs"), ({"num_envs": 2.0}, "num_envs"), ({"num_envs": True}, "num_envs"),
    ({"total_steps": -1}, "total_steps"), ({"num_steps": 0}, "num_steps"), ({"num_epochs": 0}, "num_epochs"),
    ({"minibatch_size": 2.5}, "minibatch_size"), ({"gamma": 1.5}, "gamma"), ({"gamma": float("nan")}, "gamma"),
    ({"lam": -0.1}, "lam"), ({"learning_rate": 0}, "learning_rate"), ({"learning_rate": float("inf")}, "learning_rate"),
    ({"clip_range": 0.0}, "clip_range"), ({"adam_eps": -1e-5}, "adam_eps"), ({"clip_range_vf": 0.0}, "clip_range_vf"),
    ({"max_grad_norm": -1.0}, "max_grad_norm"), ({"target_kl": 0.0}, "target_kl"), ({"ent_coef": -1.0}, "ent_coef"),
    ({"vf_coef": float("nan")}, "vf_coef"), ({"anneal_steps": 0}, "anneal_steps"), ({"anneal_steps": 1.5}, "anneal_steps"),
    ({"min_learning_rate": -1e-4}, "min_learning_rate"), ({"min_learning_rate": 1.0}, "min_learning_rate"),
    ({"pause_return": float("nan")}, "pause_return"), ({"extend_return": float("inf")}, "extend_return"),
    ({"extend_steps": -1}, "extend_steps"), ({"extend_steps": 1.5}, "extend_steps"),
    ({"extend_eval_episodes": -1}, "extend_eval_episodes"), ({"extend_eval_episodes": 2.0}, "extend_eval_episodes"),
    ({"keep_best_every": -1}, "keep_best_every"), ({"keep_best_every": 1.0}, "keep_best_every"),
    ({"keep_best_every": 2}, "keep_best_every"),
    ({"keep_best_every": 2, "extend_return": 0.0, "min_learning_rate": 1e-4}, "keep_best_every"),
    ({"extend_return": 0.0, "min_learning_rate": 0.0}, "extend_return"), ({"pause_window": 0}, "pause_window"),
    ({"hidden_sizes": (64, 0)}, "hidden_sizes"), ({"hidden_sizes": [64, 64]}, "hidden_sizes"),
    ({"activation": "gelu"}, "activation"), ({"anneal_lr": "yes"}, "anneal_lr"),
    ({"normalize_advantages": 1}, "normalize_advantages"), ({"fused_adam": "yes"}, "fused_adam"),
    ({"scale_observations": 1}, "scale_observations"),
]


@pytest.mark.parametrize("kwargs,name", BAD_CONFIGS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_CONFIGS)])
def test_config_validation_names_the_field(kwargs, name):
    with pytest.raises(ValueError, match=f"PPOConfig.{name}"):
        PPOConfig(**kwargs)


def test_config_is_frozen_and_train_checks_its_arguments():
    assert PPOConfig(num_envs=4, num_steps=32).batch_size == 128
    with pytest.raises(dataclasses.FrozenInstanceError):
        PPOConfig().gamma = 0.5
    with pytest.raises(TypeError, match="config"):
        train_ppo("CartPole-v1", {"num_envs": 1})
    for seed in (None, 1.0, "0", True):
        with pytest.raises(TypeError, match="seed"):
            train_ppo("CartPole-v1", PPOConfig(total_steps=8, num_envs=1, num_steps=8), seed=seed)


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


def test_a_shorter_run_on_the_same_schedule_is_the_start_of_the_longer_one():
    # what the games chapter relies on: total_steps cut, anneal_steps kept -> the same first updates
    long = PPOConfig(total_steps=2048, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                     learning_rate=1e-3, min_learning_rate=1e-4)
    short = dataclasses.replace(long, total_steps=1024, anneal_steps=long.total_steps)
    _, h = train_ppo("CartPole-v1", long, seed=3, progress=False)
    _, hs = train_ppo("CartPole-v1", short, seed=3, progress=False)
    n = len(hs.update_steps)
    assert n == 4 and len(h.update_steps) == 8
    assert hs.learning_rate == h.learning_rate[:n] and hs.policy_loss == h.policy_loss[:n]
    assert hs.episode_returns == h.episode_returns[:len(hs.episode_returns)]
    # without anneal_steps the schedule is compressed into the shorter run, and the runs part after the first update
    _, hc = train_ppo("CartPole-v1", dataclasses.replace(long, total_steps=1024), seed=3, progress=False)
    assert hc.learning_rate[1] != h.learning_rate[1]


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


def test_a_floor_keeps_learning_and_pause_return_pauses_while_the_policy_performs():
    cfg = PPOConfig(total_steps=1024, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, anneal_steps=512, min_learning_rate=1e-4)
    _, h = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    np.testing.assert_allclose(h.learning_rate, [1e-3, 5.5e-4, 1e-4, 1e-4])
    assert np.isfinite(h.policy_loss).all()  # still learning after anneal_steps
    # a threshold every episode meets: no update once pause_window episodes have finished
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, pause_return=0.0, pause_window=3), seed=0,
                     progress=False)
    paused = [i for i, s in enumerate(h.update_steps) if sum(e <= s + 256 for e in h.episode_steps) >= 3]
    assert paused and all(np.isnan(h.policy_loss[i]) and h.learning_rate[i] == 0 for i in paused)
    assert all(np.isfinite(h.policy_loss[i]) for i in range(len(h.update_steps)) if i not in paused)


def test_scale_observations_reaches_the_trained_model():
    cfg = PPOConfig(total_steps=64, num_envs=2, num_steps=32, num_epochs=1, minibatch_size=32)
    plain, _ = train_ppo("Acrobot-v1", cfg, seed=0, progress=False)
    scaled, _ = train_ppo("Acrobot-v1", dataclasses.replace(cfg, scale_observations=True), seed=0, progress=False)
    assert plain.obs_scale is None
    np.testing.assert_allclose(scaled.obs_scale, [1, 1, 1, 1, 1 / (4 * np.pi), 1 / (9 * np.pi)], rtol=1e-6)


def test_extend_return_keeps_an_unsolved_run_learning_and_leaves_a_solved_run_alone():
    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, min_learning_rate=1e-4, pause_window=3)
    _, base = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    assert base.update_steps == [0, 256] and cfg.budget_steps == 512
    assert dataclasses.replace(cfg, total_steps=513).budget_steps == 768  # whole rollouts of 256
    # a threshold no CartPole episode reaches: the run goes on for all of extend_steps (rounded up to rollouts)
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_return=1e9, extend_steps=600), seed=0,
                     progress=False)
    assert h.update_steps == [0, 256, 512, 768, 1024]
    np.testing.assert_allclose(h.learning_rate[2:], 1e-4)  # past the budget: at the floor, still updating
    assert np.isfinite(h.policy_loss).all()
    # the first total_steps are the run without the extension, step for step
    assert h.policy_loss[:2] == base.policy_loss and h.episode_returns[:len(base.episode_returns)] == \
        base.episode_returns[:len(base.episode_returns)]
    # a threshold every run meets by the budget: nothing is added
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_return=-1.0, extend_steps=600), seed=0,
                     progress=False)
    assert h.update_steps == base.update_steps and h.policy_loss == base.policy_loss
    # the extension stops at the first update after which the last pause_window episodes average the threshold
    target = float(np.mean(base.episode_returns[-3:])) + 1.0
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_return=target, extend_steps=10_000), seed=0,
                     progress=False)
    ends = [s + 256 for s in h.update_steps]
    means = [np.mean([r for r, e in zip(h.episode_returns, h.episode_steps) if e <= end][-3:]) for end in ends]
    assert all(m < target for m in means[1:-1]) and (means[-1] >= target or ends[-1] >= 512 + 10_000)


def test_extend_eval_episodes_keeps_a_run_learning_until_its_greedy_policy_reaches_the_threshold(monkeypatch):
    import gaelib.ppo.train as train_module
    from gaelib.ppo import evaluate_policy

    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, min_learning_rate=1e-4, pause_window=3, extend_return=-1.0, extend_steps=600)
    model0, base = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    assert base.update_steps == [0, 256] and base.check_steps == [] and base.check_returns == []
    # training episodes reach -1, and so does every greedy check: one check at the budget, nothing added,
    # and the run is the run without the check (same updates, same model)
    model, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_eval_episodes=3), seed=0, progress=False)
    assert h.update_steps == base.update_steps and h.policy_loss == base.policy_loss
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model0.parameters()))
    assert h.check_steps == [512]
    # the check is the greedy policy's mean over the episodes CHECK_SEED, CHECK_SEED + 1, ...
    assert h.check_returns == [float(evaluate_policy(model, "CartPole-v1", n_episodes=3,
                                                     seed=train_module.CHECK_SEED).mean())]
    # checks that fail twice, then pass: two more updates, each followed by a check
    calls = []

    def fake(model, env, *, n_episodes, seed):
        calls.append((n_episodes, seed))
        return np.full(n_episodes, -10.0 if len(calls) <= 2 else 10.0)

    monkeypatch.setattr(train_module, "evaluate_policy", fake)
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_eval_episodes=2), seed=0, progress=False)
    assert h.update_steps == [0, 256, 512, 768] and h.check_steps == [512, 768, 1024]
    assert h.check_returns == [-10.0, -10.0, 10.0] and calls == [(2, train_module.CHECK_SEED)] * 3
    # checks that never pass: the run stops at extend_steps (600, rounded up to 3 rollouts)
    calls.clear()
    monkeypatch.setattr(train_module, "evaluate_policy", lambda *a, n_episodes, seed: np.full(n_episodes, -10.0))
    _, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, extend_eval_episodes=2), seed=0, progress=False)
    assert h.update_steps == [0, 256, 512, 768, 1024] and h.check_steps == [512, 768, 1024]


def test_keep_best_every_returns_the_model_of_the_best_greedy_check(monkeypatch):
    import gaelib.ppo.train as train_module

    cfg = PPOConfig(total_steps=1024, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, min_learning_rate=1e-4, pause_window=3, extend_return=-1.0,
                    extend_steps=512, extend_eval_episodes=2)
    snapshots = {}

    def keep(log):
        snapshots[log["env_steps"]] = [p.detach().clone() for p in log["model"].parameters()]

    base_model, base = train_ppo("CartPole-v1", cfg, seed=0, progress=False, callback=keep)
    assert base.update_steps == [0, 256, 512, 768] and base.kept_check is None
    # checks after every update once 3 training episodes have finished (CartPole's returns are >= 1 > -1),
    # with made-up results: the best is the second check, and its model is returned
    values = iter([5.0, 9.0, 7.0, 1.0, 3.0])
    monkeypatch.setattr(train_module, "evaluate_policy",
                        lambda model, env, *, n_episodes, seed: np.full(n_episodes, next(values)))
    model, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, keep_best_every=1), seed=0, progress=False)
    # training itself is the run without the checks
    assert h.update_steps == base.update_steps and h.policy_loss == base.policy_loss
    assert h.check_returns == [5.0, 9.0, 7.0, 1.0] and h.check_steps[-1] == 1024 and h.kept_check == 1
    assert "kept_check" not in h.as_arrays() and list(h.as_arrays()["check_returns"]) == h.check_returns
    kept = snapshots[h.check_steps[1]]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), kept))
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), base_model.parameters()))
    # equal checks: the latest is kept (here the last model)
    monkeypatch.setattr(train_module, "evaluate_policy", lambda model, env, *, n_episodes, seed: np.zeros(n_episodes))
    model, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, keep_best_every=2), seed=0, progress=False)
    assert h.kept_check == len(h.check_returns) - 1 and h.check_steps[-1] == 1024
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), base_model.parameters()))


def test_keep_best_every_extends_only_while_the_best_check_is_below_the_threshold(monkeypatch):
    import gaelib.ppo.train as train_module

    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, min_learning_rate=1e-4, pause_window=3, extend_return=0.0,
                    extend_steps=768, extend_eval_episodes=2, keep_best_every=1)
    # an earlier check passed: the failing check at the budget does not extend the run
    values = iter([4.0, -3.0])
    monkeypatch.setattr(train_module, "evaluate_policy",
                        lambda model, env, *, n_episodes, seed: np.full(n_episodes, next(values)))
    _, h = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    assert h.update_steps == [0, 256] and h.check_returns == [4.0, -3.0] and h.kept_check == 0
    # every check fails: the run extends to its cap, and the last model is checked too
    values = iter([-4.0, -3.0, -5.0, -6.0, -9.0, -8.0])
    _, h = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    assert h.update_steps == [0, 256, 512, 768, 1024] and h.check_steps == [256, 512, 768, 1024, 1280]
    assert h.check_returns == [-4.0, -3.0, -5.0, -6.0, -9.0] and h.kept_check == 1


def test_keep_best_every_without_a_check_returns_the_last_model():
    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=128, num_epochs=2, minibatch_size=128,
                    learning_rate=1e-3, min_learning_rate=1e-4, pause_window=3, extend_return=1e9,
                    extend_steps=0, extend_eval_episodes=2)
    model0, base = train_ppo("CartPole-v1", cfg, seed=0, progress=False)
    model, h = train_ppo("CartPole-v1", dataclasses.replace(cfg, keep_best_every=1), seed=0, progress=False)
    assert h.check_steps == [] and h.kept_check is None and h.update_steps == base.update_steps
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model0.parameters()))


def test_the_callback_sees_the_model():
    seen = []
    cfg = PPOConfig(total_steps=256, num_envs=2, num_steps=64, num_epochs=1, minibatch_size=64)
    model, _ = train_ppo("CartPole-v1", cfg, seed=0, progress=False, callback=lambda log: seen.append(log["model"]))
    assert len(seen) == 2 and all(m is model for m in seen)


# --------------------------------------------------------------------------- edge cases that used to be silent


class _ShiftedCartPole(gym.Wrapper):
    """CartPole with actions Discrete(2, start=5): 5 pushes left, 6 pushes right; others raise."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.action_space = gym.spaces.Discrete(2, start=5)

    def step(self, action):
        assert self.action_space.contains(action), f"action {action} outside {self.action_space}"
        return self.env.step(int(action) - 5)


def test_discrete_actions_with_a_start():
    cfg = PPOConfig(total_steps=512, num_envs=2, num_steps=64, num_epochs=1, minibatch_size=64)
    model, h = train_ppo(_ShiftedCartPole, cfg, seed=0, progress=False)  # raises if an action is outside
    assert len(h.episode_returns) > 0
    r = evaluate_policy(model, _ShiftedCartPole, n_episodes=2)
    assert r.shape == (2,) and (r > 0).all()


class _Endless(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, False, False, {}


class _ScalarObs(_Endless):
    observation_space = gym.spaces.Box(-1.0, 1.0, (), np.float32)


class _NaNObs(_Endless):
    def step(self, action):
        return np.array([np.nan, 0.0], np.float32), 1.0, False, False, {}


def test_evaluation_caps_an_endless_episode():
    r = evaluate_policy(DiscreteActorCritic(2, 2), _Endless, n_episodes=2, max_episode_steps=50)
    np.testing.assert_array_equal(r, [50.0, 50.0])
    for kwargs, name in [({"max_episode_steps": 0}, "max_episode_steps"), ({"n_episodes": 0}, "n_episodes"),
                         ({"n_episodes": 2.0}, "n_episodes")]:
        with pytest.raises(ValueError, match=name):
            evaluate_policy(DiscreteActorCritic(2, 2), _Endless, **kwargs)
    with pytest.raises(TypeError, match="seed"):
        evaluate_policy(DiscreteActorCritic(2, 2), _Endless, seed=None)


def test_nan_observations_and_scalar_observations_are_named():
    cfg = PPOConfig(total_steps=16, num_envs=1, num_steps=16, num_epochs=1, minibatch_size=16)
    with pytest.raises(ValueError, match="NaN or infinite observation"):
        train_ppo(_NaNObs, cfg, progress=False)
    with pytest.raises(ValueError, match="scalar observations"):
        train_ppo(_ScalarObs, cfg, progress=False)


def test_collector_refuses_a_single_env():
    with pytest.raises(TypeError, match="envs must be a gymnasium.vector.VectorEnv"):
        RolloutCollector(gym.make("CartPole-v1"), DiscreteActorCritic(4, 2))


def test_solve_point_and_explained_variance_bad_inputs():
    with pytest.raises(ValueError, match="window"):
        solve_point(PPOHistory(), threshold=1.0, window=0)
    with pytest.raises(ValueError, match="predictions"):
        explained_variance(np.zeros(3), np.zeros(4))


def test_fused_adam_is_adam():
    """The opt-in fused kernel takes the same steps as the default Adam (to float32 rounding)."""
    torch.manual_seed(0)
    a = DiscreteActorCritic(4, 2, hidden=(8, 8))
    b = copy.deepcopy(a)
    batch = with_old(a, fixed_batch())
    cfg = PPOConfig(num_epochs=3, minibatch_size=16, learning_rate=1e-2)
    for model, fused in ((a, None), (b, True)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2, eps=1e-5, fused=fused)
        ppo_update(model, opt, batch, cfg, clip_range=0.2, generator=torch.Generator().manual_seed(0))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
