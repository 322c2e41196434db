"""Tests of the rollout collector: exact arrays from environments whose episode ends we control."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from gaelib import gae
from gaelib.rollout import RolloutCollector, env_action, make_vector_env, rollout_advantages

# --------------------------------------------------------------------------- a controllable environment


class CounterEnv(gym.Env):
    """Observation = steps taken in this episode; the reward of the k-th step is k.

    Terminates after ``term_at`` steps (if given); truncation comes from a ``TimeLimit``.
    """

    observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, term_at=None):
        self.term_at = term_at
        self.k = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.k += 1
        terminated = self.term_at is not None and self.k == self.term_at
        return np.array([self.k], np.float32), float(self.k), terminated, False, {}


class StubModel:
    """Always action 0 with log-probability -1; V(s) = 100 + obs."""

    def act(self, obs):
        n = obs.shape[0]
        return torch.zeros(n, dtype=torch.int64), torch.full((n,), -1.0), self.value(obs)

    def value(self, obs):
        return 100.0 + obs[:, 0]


def counter_envs(mode):
    # env 0 terminates after 3 steps (its time limit of 5 never bites); env 1 is truncated after 4 steps
    fns = [lambda: gym.wrappers.TimeLimit(CounterEnv(term_at=3), 5),
           lambda: gym.wrappers.TimeLimit(CounterEnv(), 4)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode(mode))


F, T_ = False, True

# SameStep autoreset, 7 steps. Columns: env 0, env 1.
SAME = dict(
    obs=[[0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 3, 0, 1, 2]],
    rewards=[[1, 2, 3, 1, 2, 3, 1], [1, 2, 3, 4, 1, 2, 3]],
    terminated=[[F, F, T_, F, F, T_, F], [F] * 7],
    truncated=[[F] * 7, [F, F, F, T_, F, F, F]],
    # V(s_{t+1}) = 100 + s_{t+1}; 0 after termination; V(final obs = 4) = 104 at env 1's truncation
    next_values=[[101, 102, 0, 101, 102, 0, 101], [101, 102, 103, 104, 101, 102, 103]],
    valid=[[T_] * 7, [T_] * 7],
)
# NextStep autoreset: the step after an episode end only resets (valid False, reward 0), and the
# observation stored for it is the final observation.
NEXT = dict(
    obs=[[0, 1, 2, 3, 0, 1, 2], [0, 1, 2, 3, 4, 0, 1]],
    rewards=[[1, 2, 3, 0, 1, 2, 3], [1, 2, 3, 4, 0, 1, 2]],
    terminated=[[F, F, T_, F, F, F, T_], [F] * 7],
    truncated=[[F] * 7, [F, F, F, T_, F, F, F]],
    next_values=[[101, 102, 0, 100, 101, 102, 0], [101, 102, 103, 104, 100, 101, 102]],
    valid=[[T_, T_, T_, F, T_, T_, T_], [T_, T_, T_, T_, F, T_, T_]],
)


def expected(table, key):
    return np.array(table[key]).T  # [T, N]


@pytest.mark.parametrize("mode,table", [("SameStep", SAME), ("NextStep", NEXT)])
def test_collect_exact_arrays(mode, table):
    col = RolloutCollector(counter_envs(mode), StubModel(), seed=0)
    ro = col.collect(7)
    np.testing.assert_array_equal(ro.obs[..., 0].numpy(), expected(table, "obs"))
    np.testing.assert_array_equal(ro.rewards.numpy(), expected(table, "rewards"))
    np.testing.assert_array_equal(ro.terminated.numpy(), expected(table, "terminated"))
    np.testing.assert_array_equal(ro.truncated.numpy(), expected(table, "truncated"))
    np.testing.assert_array_equal(ro.values.numpy(), 100 + expected(table, "obs"))
    np.testing.assert_array_equal(ro.next_values.numpy(), expected(table, "next_values"))
    np.testing.assert_array_equal(ro.valid.numpy(), expected(table, "valid"))
    assert ro.actions.shape == (7, 2) and ro.log_probs.shape == (7, 2)
    assert col.env_steps == int(expected(table, "valid").sum())


def test_episode_records_same_step():
    col = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0)
    col.collect(7)
    # (env steps collected when it finished, return, length): env 0 after 3 steps (1+2+3),
    # env 1 truncated after 4 (1+2+3+4), env 0 again after 6 steps of each env
    assert [(e.env_step, e.ret, e.length) for e in col.episodes] == [(6, 6.0, 3), (8, 10.0, 4), (12, 6.0, 3)]


def test_next_step_valid_transitions_equal_same_step():
    """Dropping the reset-only steps of NextStep leaves the SameStep transitions, in order."""
    same = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0).collect(7)
    nxt = RolloutCollector(counter_envs("NextStep"), StubModel(), seed=0).collect(7)
    for n in range(2):
        keep = nxt.valid[:, n]
        k = int(keep.sum())
        for field in ("obs", "rewards", "terminated", "truncated", "next_values"):
            a, b = getattr(nxt, field)[:, n][keep], getattr(same, field)[:k, n]
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=field)


def test_consecutive_rollouts_continue_episodes():
    one = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0).collect(7)
    col = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0)
    a, b = col.collect(2), col.collect(5)
    for field in ("obs", "rewards", "terminated", "truncated", "next_values"):
        joined = torch.cat([getattr(a, field), getattr(b, field)])
        np.testing.assert_array_equal(joined.numpy(), getattr(one, field).numpy(), err_msg=field)
    # the first rollout ends mid-episode: its last next value is V(s_T), bootstrapped by GAE
    np.testing.assert_array_equal(a.next_values[-1].numpy(), [102.0, 102.0])


def test_rollout_advantages_match_gae_on_the_expected_arrays():
    ro = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0).collect(7)
    adv, ret = rollout_advantages(ro, gamma=0.9, lam=0.8)
    want = gae(expected(SAME, "rewards").astype(np.float32), 100 + expected(SAME, "obs").astype(np.float32),
               next_values=expected(SAME, "next_values").astype(np.float32),
               terminated=expected(SAME, "terminated"), truncated=expected(SAME, "truncated"),
               gamma=0.9, lam=0.8)
    np.testing.assert_allclose(adv.numpy(), want.advantages, rtol=1e-6)
    np.testing.assert_allclose(ret.numpy(), want.returns, rtol=1e-6)
    # env 1, step 3 is truncated: A = r + gamma * V(final obs) - V(s) = 4 + 0.9 * 104 - 103
    assert adv[3, 1].item() == pytest.approx(4 + 0.9 * 104 - 103, rel=1e-6)


def test_treating_truncation_as_termination_drops_the_bootstrap():
    ro = RolloutCollector(counter_envs("SameStep"), StubModel(), seed=0).collect(7)
    good, _ = rollout_advantages(ro, gamma=0.9, lam=0.8)
    bad, _ = rollout_advantages(ro, gamma=0.9, lam=0.8, treat_truncation_as_termination=True)
    assert bad[3, 1].item() == pytest.approx(4 - 103, rel=1e-6)  # the tail's value 0.9 * 104 is lost
    np.testing.assert_allclose(bad[:, 0].numpy(), good[:, 0].numpy())  # env 0 only terminates
    np.testing.assert_allclose(bad[4:, 1].numpy(), good[4:, 1].numpy())  # the next episode is unaffected


# --------------------------------------------------------------------------- continuous actions


class RecordingBoxEnv(gym.Env):
    observation_space = spaces.Box(-1, 1, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), float(action[0]), False, False, {}


class BigActionModel:
    def act(self, obs):
        n = obs.shape[0]
        return torch.full((n, 1), 5.0), torch.zeros(n), torch.zeros(n)

    def value(self, obs):
        return torch.zeros(obs.shape[0])


def test_box_actions_are_clipped_for_the_env_but_stored_unclipped():
    envs = make_vector_env(RecordingBoxEnv, 2)
    ro = RolloutCollector(envs, BigActionModel(), seed=0).collect(3)
    np.testing.assert_array_equal(ro.actions.numpy(), np.full((3, 2, 1), 5.0))
    np.testing.assert_array_equal(ro.rewards.numpy(), np.ones((3, 2)))  # the env saw 1.0


# --------------------------------------------------------------------------- bad inputs


def test_make_vector_env_uses_same_step_autoreset():
    envs = make_vector_env("CartPole-v1", 3)
    assert envs.num_envs == 3
    assert gym.vector.AutoresetMode(envs.metadata["autoreset_mode"]).value == "SameStep"


class NaNEnv(CounterEnv):
    """A CounterEnv whose second step returns a NaN observation (or reward)."""

    def __init__(self, where="obs"):
        super().__init__()
        self.where = where

    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        if self.k == 2:
            if self.where == "obs":
                obs = np.array([np.nan], np.float32)
            else:
                r = float("nan")
        return obs, r, term, trunc, info


class ShiftedDiscreteEnv(CounterEnv):
    """Actions are Discrete(3, start=5); records what it receives."""

    action_space = spaces.Discrete(3, start=5)

    def step(self, action):
        assert self.action_space.contains(action), action
        return super().step(action)


def _vec(fn, mode="SameStep"):
    return gym.vector.SyncVectorEnv([fn], autoreset_mode=gym.vector.AutoresetMode(mode))


def test_discrete_start_is_added_for_the_env_but_the_index_is_stored():
    envs = _vec(ShiftedDiscreteEnv)
    ro = RolloutCollector(envs, StubModel(), seed=0).collect(4)  # StubModel picks index 0 -> action 5
    assert (ro.actions == 0).all()


def test_env_action():
    d = spaces.Discrete(3, start=5)
    assert env_action(d, np.int64(0)) == 5 and type(env_action(d, np.array(2))) is int
    np.testing.assert_array_equal(env_action(d, np.array([0, 2])), [5, 7])
    box = spaces.Box(-1.0, 1.0, (2,))
    np.testing.assert_array_equal(env_action(box, np.array([[3.0, -0.5]])), [[1.0, -0.5]])
    assert env_action(spaces.MultiBinary(2), np.array(1)) == 1  # other spaces: unchanged


def _collector(**kw):
    args = dict(envs=counter_envs("SameStep"), model=StubModel(), seed=0)
    args.update(kw)
    return RolloutCollector(args.pop("envs"), args.pop("model"), **args)


def _ro():
    return _collector().collect(3)


_ROWS = [
    (lambda: make_vector_env("CartPole-v1", 0), ValueError, "num_envs must be a positive integer"),
    (lambda: make_vector_env("CartPole-v1", 2.5), ValueError, "num_envs must be a positive integer"),
    (lambda: make_vector_env("CartPole-v1", "2"), ValueError, "num_envs must be a positive integer"),
    (lambda: make_vector_env("CartPole-v1", True), ValueError, "num_envs must be a positive integer"),
    (lambda: make_vector_env(3, 1), TypeError, "env must be an environment id"),
    (lambda: make_vector_env(None, 1), TypeError, "env must be an environment id"),
    (lambda: make_vector_env("CartPole-v1", 1, autoreset_mode="Foo"), ValueError, "autoreset_mode must be"),
    (lambda: make_vector_env("CartPole-v1", 1, autoreset_mode="Disabled"), ValueError, "autoreset_mode must be"),
    (lambda: _collector(envs=CounterEnv()), TypeError, "envs must be a gymnasium.vector.VectorEnv"),
    (lambda: _collector(envs="CartPole-v1"), TypeError, "envs must be a gymnasium.vector.VectorEnv"),
    (lambda: _collector(envs=_vec(CounterEnv, "Disabled")), ValueError, "envs use autoreset mode"),
    (lambda: _collector(model=object()), TypeError, r"model must have the method act\(\.\.\.\)"),
    (lambda: _collector(model=None), TypeError, "model must have the method act"),
    (lambda: _collector(seed=-1), ValueError, "seed must be an integer >= 0"),
    (lambda: _collector(seed=1.5), ValueError, "seed must be an integer >= 0"),
    (lambda: _collector().collect(0), ValueError, "num_steps must be a positive integer"),
    (lambda: _collector().collect(2.5), ValueError, "num_steps must be a positive integer"),
    (lambda: _collector().collect(None), ValueError, "num_steps must be a positive integer"),
    (lambda: _collector(envs=_vec(NaNEnv)).collect(3), ValueError, "envs returned a NaN or infinite observation at step 1"),
    (lambda: _collector(envs=_vec(lambda: NaNEnv("reward"))).collect(3), ValueError,
     "envs returned a NaN or infinite reward at step 1"),
    (lambda: rollout_advantages(tuple(_ro()), gamma=0.9, lam=0.9), TypeError, "rollout must be a gaelib.rollout.Rollout"),
    (lambda: rollout_advantages(None, gamma=0.9, lam=0.9), TypeError, "rollout must be"),
    (lambda: rollout_advantages(_ro(), gamma=0.9, lam=0.9, treat_truncation_as_termination="yes"), TypeError,
     "treat_truncation_as_termination must be True or False"),
    (lambda: rollout_advantages(_ro(), gamma=1.5, lam=0.9), ValueError, r"gamma must lie in \[0, 1\]"),
    (lambda: rollout_advantages(_ro(), gamma=0.9, lam=-0.1), ValueError, r"lam must lie in \[0, 1\]"),
    (lambda: env_action("Discrete(3)", 0), TypeError, "space must be a gymnasium space"),
]


@pytest.mark.parametrize("call, exc, message", _ROWS)
def test_bad_inputs_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_multidiscrete_actions_are_refused():
    class MultiEnv(CounterEnv):
        action_space = spaces.MultiDiscrete([2, 2])

    with pytest.raises(TypeError, match="envs.single_action_space must be Discrete or Box"):
        _collector(envs=_vec(MultiEnv))
