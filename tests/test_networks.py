"""Tests of the actor-critic networks: shapes, initialisation, distributions against torch.distributions."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from gaelib.networks import DiscreteActorCritic, GaussianActorCritic, make_actor_critic, mlp, observation_scale


def test_mlp_orthogonal_init():
    net = mlp((4, 64, 64, 3), out_gain=0.01)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(64, 4), (64, 64), (3, 64)]
    w = linears[1].weight
    np.testing.assert_allclose((w @ w.T).detach().numpy(), 2 * np.eye(64), atol=1e-5)  # gain sqrt(2)
    w = linears[2].weight  # 3 x 64: orthonormal rows times the gain
    np.testing.assert_allclose((w @ w.T).detach().numpy(), 1e-4 * np.eye(3), atol=1e-9)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linears)


def test_discrete_matches_torch_categorical():
    torch.manual_seed(0)
    net = DiscreteActorCritic(4, 3, hidden=(16,))
    obs = torch.randn(5, 4)
    action, logp, value = net.act(obs)
    assert action.shape == (5,) and action.dtype == torch.int64 and value.shape == (5,)
    dist = torch.distributions.Categorical(logits=net.actor(obs))
    np.testing.assert_allclose(logp.detach(), dist.log_prob(action).detach(), atol=1e-6)
    lp, ent, v = net.evaluate(obs, action)
    np.testing.assert_allclose(lp.detach(), dist.log_prob(action).detach(), atol=1e-6)
    np.testing.assert_allclose(ent.detach(), dist.entropy().detach(), atol=1e-6)
    np.testing.assert_allclose(v.detach(), value.detach())
    assert torch.equal(net.mode(obs), dist.probs.argmax(-1))


def test_gaussian_matches_torch_normal():
    torch.manual_seed(0)
    net = GaussianActorCritic(3, 2, hidden=(16,), log_std_init=-0.5)
    obs = torch.randn(6, 3)
    action, logp, value = net.act(obs)
    assert action.shape == (6, 2) and logp.shape == (6,) and value.shape == (6,)
    dist = torch.distributions.Normal(net.actor(obs), torch.exp(net.log_std))
    np.testing.assert_allclose(logp.detach(), dist.log_prob(action).sum(-1).detach(), atol=1e-5)
    lp, ent, _ = net.evaluate(obs, action)
    np.testing.assert_allclose(ent.detach(), dist.entropy().sum(-1).detach(), atol=1e-6)
    # the entropy of N(mu, sigma^2) per dimension: log sigma + 0.5 log(2 pi e)
    assert ent[0].item() == pytest.approx(2 * (-0.5 + 0.5 * math.log(2 * math.pi * math.e)), rel=1e-6)
    np.testing.assert_allclose(net.mode(obs).detach(), net.actor(obs).detach())


def test_initial_policy_is_nearly_uniform():
    torch.manual_seed(0)
    net = DiscreteActorCritic(4, 2)
    _, ent, _ = net.evaluate(torch.randn(100, 4), torch.zeros(100, dtype=torch.int64))
    assert float(ent.detach().min()) > math.log(2) - 1e-3


def test_make_actor_critic_picks_the_head():
    env = gym.make("CartPole-v1")
    assert isinstance(make_actor_critic(env.observation_space, env.action_space), DiscreteActorCritic)
    env = gym.make("Pendulum-v1")
    assert isinstance(make_actor_critic(env.observation_space, env.action_space), GaussianActorCritic)


_D = DiscreteActorCritic(3, 2, hidden=(4,))
_G = GaussianActorCritic(3, 2, hidden=(4,))
_OBS = torch.zeros(5, 3)
_BOX = gym.spaces.Box(-1, 1, (3,))

_ROWS = [
    (lambda: mlp((4,)), ValueError, "sizes must be a sequence of at least two"),
    (lambda: mlp(4), ValueError, "sizes must be a sequence"),
    (lambda: mlp("42"), ValueError, "sizes must be a sequence"),
    (lambda: mlp((4, 0)), ValueError, r"sizes\[1\] must be a positive integer"),
    (lambda: mlp((4, 2.5)), ValueError, r"sizes\[1\] must be a positive integer"),
    (lambda: mlp((4, 2), activation="sigmoid"), ValueError, "activation must be one of"),
    (lambda: mlp((4, 2), out_gain=float("nan")), ValueError, "out_gain must be a finite number"),
    (lambda: mlp((4, 2), out_gain="1"), ValueError, "out_gain must be a finite number"),
    (lambda: DiscreteActorCritic(4, 1), ValueError, "n_actions must be an integer >= 2"),
    (lambda: DiscreteActorCritic(4, 2.0), ValueError, "n_actions must be an integer >= 2"),
    (lambda: DiscreteActorCritic(0, 2), ValueError, "obs_dim must be a positive integer"),
    (lambda: DiscreteActorCritic(4.5, 2), ValueError, "obs_dim must be a positive integer"),
    (lambda: DiscreteActorCritic(4, 2, hidden=(64, 0)), ValueError, r"hidden\[1\] must be a positive integer"),
    (lambda: DiscreteActorCritic(4, 2, hidden=64), ValueError, "hidden must be a sequence"),
    (lambda: DiscreteActorCritic(4, 2, activation="gelu"), ValueError, "activation must be one of"),
    (lambda: GaussianActorCritic(4, 0), ValueError, "action_dim must be a positive integer"),
    (lambda: GaussianActorCritic(4, 2, log_std_init=float("inf")), ValueError, "log_std_init must be a finite"),
    (lambda: GaussianActorCritic(4, 2, log_std_init=None), ValueError, "log_std_init must be a finite"),
    (lambda: _D.act(torch.zeros(5, 4)), ValueError, r"obs has shape \(5, 4\), 4 features per row; this network takes obs_dim = 3"),
    (lambda: _D.value(torch.tensor(1.0)), ValueError, "obs must have a batch axis"),
    (lambda: _D.mode(np.zeros((5, 3), np.float32)), TypeError, "obs must be a torch.Tensor"),
    (lambda: _G.act(torch.zeros(5)), ValueError, r"obs has shape \(5,\), 1 features per row"),
    (lambda: _D.evaluate(_OBS, torch.zeros(5, 1, dtype=torch.int64)), ValueError, r"action must be \[B\] = \[5\]"),
    (lambda: _D.evaluate(_OBS, torch.zeros(4, dtype=torch.int64)), ValueError, r"action must be \[B\] = \[5\]"),
    (lambda: _D.evaluate(_OBS, [0] * 5), ValueError, "action must be"),
    (lambda: _G.evaluate(_OBS, torch.zeros(5, 1)), ValueError, r"action must have shape \[B, action_dim\] = \(5, 2\)"),
    (lambda: _G.evaluate(_OBS, torch.zeros(5)), ValueError, r"action must have shape \[B, action_dim\]"),
    (lambda: _G.evaluate(torch.zeros(2, 3), torch.zeros(2, 2, 2)), ValueError, "action must have shape"),
    (lambda: make_actor_critic(_BOX, gym.spaces.MultiDiscrete([2, 2])), TypeError, "action_space must be Discrete or a 1-D Box"),
    (lambda: make_actor_critic(_BOX, gym.spaces.Box(-1, 1, (2, 2))), TypeError, "action_space must be Discrete or a 1-D Box"),
    (lambda: make_actor_critic(gym.spaces.Discrete(3), gym.spaces.Discrete(2)), TypeError, "observation_space must be"),
    (lambda: make_actor_critic(gym.spaces.Box(-1, 1, (0,)), gym.spaces.Discrete(2)), ValueError, "observation_space has no elements"),
    (lambda: make_actor_critic(_BOX, gym.spaces.Discrete(1)), ValueError, "n_actions must be an integer >= 2"),
    (lambda: make_actor_critic(_BOX, gym.spaces.Discrete(2), hidden=(8, -1)), ValueError, r"hidden\[1\] must be"),
    (lambda: make_actor_critic(_BOX, gym.spaces.Discrete(2), scale_observations=1), ValueError,
     "scale_observations must be True or False"),
    (lambda: DiscreteActorCritic(3, 2, obs_scale=[1.0, 2.0]), ValueError, "obs_scale must hold obs_dim = 3 finite"),
    (lambda: GaussianActorCritic(3, 2, obs_scale=[1.0, 0.0, 1.0]), ValueError, "obs_scale must hold obs_dim = 3 finite"),
    (lambda: DiscreteActorCritic(3, 2, obs_scale=[1.0, float("inf"), 1.0]), ValueError, "obs_scale must hold"),
]


@pytest.mark.parametrize("call, exc, message", _ROWS)
def test_bad_inputs_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_scale_observations_divides_each_bounded_feature_by_its_bound():
    space = gym.spaces.Box(np.array([-1.0, 0.0, -np.inf, -2.0], np.float32), np.array([1.0, 0.0, np.inf, 8.0], np.float32))
    np.testing.assert_allclose(observation_scale(space), [1.0, 1.0, 1.0, 1 / 8])  # 0 and infinite bounds: 1
    acro = gym.make("Acrobot-v1").observation_space
    np.testing.assert_allclose(observation_scale(acro), [1, 1, 1, 1, 1 / (4 * np.pi), 1 / (9 * np.pi)], rtol=1e-6)
    for cls, space_a in ((DiscreteActorCritic, gym.spaces.Discrete(3)), (GaussianActorCritic, gym.spaces.Box(-1, 1, (2,)))):
        torch.manual_seed(0)
        plain = make_actor_critic(space, space_a)
        torch.manual_seed(0)
        scaled = make_actor_critic(space, space_a, scale_observations=True)
        assert isinstance(scaled, cls) and plain.obs_scale is None
        obs = torch.randn(6, 4)
        # the same weights: the scaled network sees the observation multiplied by the scale
        torch.testing.assert_close(scaled.value(obs), plain.value(obs * observation_scale(space)))
        torch.testing.assert_close(scaled.mode(obs), plain.mode(obs * observation_scale(space)))
        # the scale is saved with the model (a buffer), and is not trained
        assert "obs_scale" in scaled.state_dict() and "obs_scale" not in dict(scaled.named_parameters())


def test_scalar_and_float64_observations():
    # a scalar Box observation arrives as [B]; it is one feature per row
    net = make_actor_critic(gym.spaces.Box(-1, 1, ()), gym.spaces.Discrete(2))
    action, logp, value = net.act(torch.zeros(7))
    assert action.shape == logp.shape == value.shape == (7,)
    np.testing.assert_allclose(net.value(torch.zeros(7, dtype=torch.float64)).detach(), value.detach())


def test_discrete_sampling_frequencies_match_the_probabilities():
    torch.manual_seed(0)
    net = DiscreteActorCritic(2, 3, hidden=(4,))
    with torch.no_grad():
        net.actor[-1].bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
        net.actor[-1].weight.zero_()
        action, logp, _ = net.act(torch.zeros(30_000, 2))
    p = torch.softmax(torch.tensor([0.0, 1.0, -1.0]), -1).numpy()
    freq = np.bincount(action.numpy(), minlength=3) / 30_000
    np.testing.assert_allclose(freq, p, atol=0.01)  # about 3.5 standard errors
    np.testing.assert_allclose(logp.numpy(), np.log(p)[action.numpy()], rtol=1e-5)
