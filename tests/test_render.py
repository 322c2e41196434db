"""Tests of gaelib.render (offscreen frames of a rollout)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from gaelib.networks import make_actor_critic
from gaelib.render import frame_strip, model_policy, rollout_frames, strip_of


def always(action):
    return lambda obs: action


def test_rollout_frames_keeps_every_kth_frame_of_a_cartpole_episode():
    out = rollout_frames("CartPole-v1", always(0), seed=0, n_frames=3, every=2)
    # Always pushing left, CartPole lasts longer than 4 steps, so the episode is still running.
    assert out.steps == [0, 2, 4] and not out.ended
    assert out.episode_return == 4.0  # +1 per step
    assert all(f.dtype == np.uint8 and f.shape == (400, 600, 3) for f in out.frames)
    assert not np.array_equal(out.frames[0], out.frames[2])  # the pole moved


def test_rollout_frames_stops_at_the_end_of_the_episode_and_keeps_its_last_frame():
    out = rollout_frames("CartPole-v1", always(1), seed=0, n_frames=100, every=5)
    assert out.ended and len(out.frames) < 100
    T = int(out.episode_return)  # episode length: +1 per step
    assert out.steps == list(range(0, T, 5)) + [T]  # the final frame once, even when T % 5 == 0


def test_rollout_frames_repeats_for_a_seed_and_differs_across_seeds():
    a = rollout_frames("CartPole-v1", always(0), seed=3, n_frames=2, every=1).frames
    b = rollout_frames("CartPole-v1", always(0), seed=3, n_frames=2, every=1).frames
    c = rollout_frames("CartPole-v1", always(0), seed=4, n_frames=2, every=1).frames
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])  # the initial state depends on the seed


def test_continuous_actions_are_clipped_to_the_action_space():
    seen = []

    class Spy(gym.Wrapper):
        def step(self, action):
            seen.append(np.asarray(action))
            return self.env.step(action)

    def make():
        return Spy(gym.make("Pendulum-v1", render_mode="rgb_array"))

    rollout_frames(make, always(np.array([50.0], np.float32)), seed=0, n_frames=2, every=3)
    assert len(seen) == 3 and all(np.allclose(a, 2.0) for a in seen)  # Pendulum's bound is 2


def test_frame_strip_lays_frames_side_by_side_with_gaps():
    strip = frame_strip("CartPole-v1", always(0), seed=0, n_frames=3, every=1, shrink=2, gap=4)
    assert strip.shape == (200, 3 * 300 + 2 * 4, 3) and strip.dtype == np.uint8
    assert (strip[:, 300:304] == 255).all()
    frames = rollout_frames("CartPole-v1", always(0), seed=0, n_frames=3, every=1).frames
    np.testing.assert_array_equal(strip[:, :300], frames[0][::2, ::2])
    np.testing.assert_array_equal(strip[:, -300:], frames[2][::2, ::2])


def test_strip_of_hand_made_frames():
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.ones((2, 3, 3), np.uint8)
    s = strip_of([a, b], gap=1)
    assert s.shape == (2, 7, 3)
    assert (s[:, :3] == 0).all() and (s[:, 3] == 255).all() and (s[:, 4:] == 1).all()
    assert (strip_of([a, b], gap=2, gap_value=128)[:, 3:5] == 128).all()


def test_model_policy_wraps_discrete_and_gaussian_networks():
    torch.manual_seed(0)
    cart = gym.make("CartPole-v1")
    pol = model_policy(make_actor_critic(cart.observation_space, cart.action_space))
    obs, _ = cart.reset(seed=0)
    a = pol(obs)
    assert isinstance(a, int) and cart.action_space.contains(a)
    pend = gym.make("Pendulum-v1")
    model = make_actor_critic(pend.observation_space, pend.action_space)
    obs, _ = pend.reset(seed=0)
    a = model_policy(model)(obs)
    assert a.shape == (1,)
    with torch.no_grad():
        np.testing.assert_allclose(a, model.mode(torch.as_tensor(obs)[None])[0].numpy())
    sampled = model_policy(model, deterministic=False)(obs)
    assert sampled.shape == (1,) and not np.allclose(sampled, a)


_F = np.zeros((2, 3, 3), np.uint8)
_ROWS = [
    (lambda: rollout_frames("CartPole-v1", always(0), n_frames=0), ValueError, "n_frames must be a positive integer"),
    (lambda: rollout_frames("CartPole-v1", always(0), n_frames=True), ValueError, "n_frames must be a positive integer"),
    (lambda: rollout_frames("CartPole-v1", always(0), every=1.5), ValueError, "every must be a positive integer"),
    (lambda: rollout_frames("CartPole-v1", always(0), seed=-1), ValueError, "seed must be an integer >= 0"),
    (lambda: rollout_frames("CartPole-v1", always(0), seed=None), ValueError, "seed must be an integer >= 0"),
    (lambda: rollout_frames("CartPole-v1", 0), TypeError, "policy_fn must be a function"),
    (lambda: rollout_frames(lambda: gym.make("CartPole-v1"), always(0)), ValueError, "env must be made with render_mode='rgb_array'"),
    (lambda: rollout_frames(42, always(0)), TypeError, "env must be an environment id"),
    (lambda: frame_strip("CartPole-v1", always(0), shrink=0), ValueError, "shrink must be a positive integer"),
    (lambda: frame_strip("CartPole-v1", always(0), gap=-1), ValueError, "gap must be an integer >= 0"),
    (lambda: frame_strip("CartPole-v1", always(0), gap=2.0), ValueError, "gap must be an integer >= 0"),
    (lambda: frame_strip("CartPole-v1", always(0), gap_value=-1), ValueError, "gap_value must be an integer >= 0"),
    (lambda: frame_strip("CartPole-v1", always(0), n_frames=-2), ValueError, "n_frames must be a positive integer"),
    (lambda: strip_of([_F, np.zeros((2, 4, 3), np.uint8)]), ValueError, "frames must all have one shape"),
    (lambda: strip_of([np.zeros((2, 3), np.uint8)]), ValueError, "frames must all have one shape"),
    (lambda: strip_of([_F], gap_value=300), ValueError, r"gap_value must lie in \[0, 255\]"),
    (lambda: strip_of([_F], gap_value="white"), ValueError, "gap_value must be an integer"),
    (lambda: strip_of([]), ValueError, "frames is empty"),
    (lambda: strip_of([_F.astype(np.float32) / 255]), TypeError, "frames must be uint8 images"),
    (lambda: strip_of("frames"), TypeError, "frames must be a list of"),
    (lambda: strip_of([[0, 1]]), TypeError, "frames must be a list of"),
    (lambda: strip_of([_F], shrink=0), ValueError, "shrink must be a positive integer"),
    (lambda: model_policy(object()), TypeError, r"model must have the method mode\(\.\.\.\)"),
    (lambda: model_policy(make_actor_critic(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2)), deterministic="no"),
     TypeError, "deterministic must be True or False"),
]


@pytest.mark.parametrize("call, exc, message", _ROWS)
def test_bad_inputs_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


class ShiftedActionsEnv(gym.Env):
    """Discrete(2, start=3) actions; draws a blank frame; ends after 3 steps."""

    metadata = {"render_modes": ["rgb_array"]}
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2, start=3)

    def __init__(self, render_mode="rgb_array"):
        self.render_mode = render_mode
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.received = []
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.received.append(int(action))
        return np.zeros(2, np.float32), 0.0, len(self.received) == 3, False, {}

    def render(self):
        return np.zeros((2, 2, 3), np.uint8)


def test_model_policy_index_is_shifted_by_the_discrete_start():
    model = make_actor_critic(ShiftedActionsEnv.observation_space, gym.spaces.Discrete(2))
    out = rollout_frames(ShiftedActionsEnv, model_policy(model), n_frames=5, every=1)
    assert out.ended and out.steps == [0, 1, 2, 3]
    # a hand-written policy_fn returns env actions: no shift
    assert rollout_frames(ShiftedActionsEnv, always(4), n_frames=2).steps == [0, 3]


def test_strip_of_accepts_a_stacked_array():
    assert strip_of(np.zeros((2, 2, 3, 3), np.uint8), gap=1).shape == (2, 7, 3)


def test_mujoco_renders_offscreen():
    pytest.importorskip("mujoco")
    out = rollout_frames("InvertedPendulum-v5", always(np.zeros(1, np.float32)), seed=0, n_frames=2, every=2)
    assert out.steps == [0, 2] and out.frames[0].ndim == 3 and out.frames[0].dtype == np.uint8
    assert out.frames[0].max() > 0  # not a black frame: EGL drew the scene
