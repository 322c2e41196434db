"""Tests of the actor-critic networks: shapes, initialisation, distributions against torch.distributions."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from gaelib.networks import DiscreteActorCritic, GaussianActorCritic, make_actor_critic, mlp


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


def test_bad_inputs():
    with pytest.raises(ValueError, match="sizes"):
        mlp((4,))
    with pytest.raises(ValueError, match="activation"):
        mlp((4, 2), activation="sigmoid")
    with pytest.raises(ValueError, match="n_actions"):
        DiscreteActorCritic(4, 1)
    with pytest.raises(TypeError, match="action_space"):
        make_actor_critic(gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([2, 2]))
    with pytest.raises(TypeError, match="observation_space"):
        make_actor_critic(gym.spaces.Discrete(3), gym.spaces.Discrete(2))


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
