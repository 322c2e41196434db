"""Tests of gaelib.bias_variance: hand-computed cases, identities, exact-vs-sampled checks, bad inputs."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaelib import gae, tabular
from gaelib.bias_variance import (
    ErrorDecomposition,
    advantage_error_sweep,
    estimator_error,
    expected_gae,
    grouped_error,
    gradient_error_sweep,
)


def random_mdp(seed, S=5, A=3, gamma=0.9, p_end=0.2):
    """A random MDP whose last state is terminal and reachable from every state."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S - 1), size=(S, A))
    P = np.concatenate([P * (1 - p_end), np.full((S, A, 1), p_end)], axis=2)
    P[S - 1] = 0.0
    P[S - 1, :, S - 1] = 1.0
    R = rng.normal(size=(S, A))
    terminal = np.zeros(S, bool)
    terminal[-1] = True
    initial = np.r_[np.ones(S - 1) / (S - 1), 0.0]
    mdp = tabular.TabularMDP(P, R, gamma, initial=initial, terminal=terminal)
    policy = tabular.softmax_policy(rng.normal(size=(S, A)))
    return mdp, policy, rng


# --------------------------------------------------------------------------- grouped_error


def test_grouped_error_by_hand():
    # group 0: errors -1, +1 -> bias 0, variance 1; group 1: error 0.
    est = np.array([1.0, 3.0, 5.0, 9.0])
    tgt = np.array([2.0, 2.0, 5.0, 0.0])
    grp = np.array([0, 0, 1, 1])
    valid = np.array([True, True, True, False])  # the last sample is padding
    e = grouped_error(est, tgt, grp, valid=valid)
    assert e == pytest.approx(ErrorDecomposition(0.0, 2 / 3, 2 / 3))


def test_grouped_error_constant_offset_is_pure_bias():
    # group 0 errors (2, 2, 2), group 1 errors (-1, -1): no variance, bias2 = (3*4 + 2*1)/5.
    err = np.array([2.0, 2.0, 2.0, -1.0, -1.0])
    e = grouped_error(err, np.zeros(5), np.array([0, 0, 0, 3, 3]))
    assert e == pytest.approx(ErrorDecomposition(14 / 5, 0.0, 14 / 5))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 5))
def test_grouped_error_identity(seed, n, n_groups):
    rng = np.random.default_rng(seed)
    est, tgt = rng.normal(size=(2, n, 3))
    grp = rng.integers(0, n_groups, size=(n, 3))
    e = grouped_error(est, tgt, grp)
    assert e.mse == pytest.approx(e.bias2 + e.variance, rel=1e-12, abs=1e-12)
    assert e.bias2 >= 0 and e.variance >= -1e-15
    assert e.mse == pytest.approx(np.mean((est - tgt) ** 2))


def test_grouped_error_bad_inputs():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="targets has shape"):
        grouped_error(x, np.zeros(4), np.zeros(3, int))
    with pytest.raises(TypeError, match="groups must be an integer array"):
        grouped_error(x, x, np.zeros(3))
    with pytest.raises(ValueError, match="groups must be >= 0"):
        grouped_error(x, x, np.array([0, -1, 0]))
    with pytest.raises(ValueError, match="no valid sample"):
        grouped_error(x, x, np.zeros(3, int), valid=np.zeros(3, bool))
    with pytest.raises(ValueError, match="estimates contains NaN"):
        grouped_error(np.array([0.0, np.nan, 0.0]), x, np.zeros(3, int))


# --------------------------------------------------------------------------- estimator_error


def test_estimator_error_by_hand():
    # mean (2, 0), target (1, 1): |mean - g|^2 = 2; s^2 = 2/(2-1) = 2; bias2 = 2 - 2/2 = 1.
    e = estimator_error(np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([1.0, 1.0]))
    assert e == pytest.approx(ErrorDecomposition(1.0, 2.0, 3.0))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 30))
def test_estimator_error_identity(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2, 3))
    g = rng.normal(size=(2, 3))
    e = estimator_error(x, g)
    assert e.mse == pytest.approx(e.bias2 + e.variance, rel=1e-12, abs=1e-12)
    assert e.mse == pytest.approx(np.mean(np.sum((x - g) ** 2, axis=(1, 2))))


def test_estimator_error_recovers_known_bias_and_variance():
    rng = np.random.default_rng(0)
    bias = np.array([0.3, -0.4])                # |bias|^2 = 0.25
    x = bias + rng.normal(scale=2.0, size=(200_000, 2))  # variance 2 * 4 = 8
    e = estimator_error(x, np.zeros(2))
    assert e.bias2 == pytest.approx(0.25, abs=0.01)
    assert e.variance == pytest.approx(8.0, rel=0.01)


def test_estimator_error_bad_inputs():
    with pytest.raises(ValueError, match="N >= 2"):
        estimator_error(np.zeros((1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="target must have shape"):
        estimator_error(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(TypeError, match="samples must be a real-valued numeric array"):
        estimator_error(np.array([["a"], ["b"]]), np.zeros(1))


# --------------------------------------------------------------------------- expected_gae


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 1.0), st.sampled_from([0.5, 0.9, 1.0]))
def test_expected_gae_with_exact_critic_is_the_advantage_for_every_lambda(seed, lam, gamma):
    mdp, pi, _ = random_mdp(seed, gamma=gamma)
    V = tabular.state_values(mdp, pi)
    np.testing.assert_allclose(expected_gae(mdp, pi, V, gamma=gamma, lam=lam),
                               tabular.advantage_function(mdp, pi), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_expected_gae_special_cases(seed):
    mdp, pi, rng = random_mdp(seed)
    V = rng.normal(size=mdp.n_states)
    live = ~mdp.terminal
    Vz = np.where(live, V, 0.0)
    # lambda = 0: the expected TD residual r + gamma P V - V.
    d = mdp.rewards + mdp.gamma * mdp.transitions @ Vz - Vz[:, None]
    d[mdp.terminal] = 0
    np.testing.assert_allclose(expected_gae(mdp, pi, V, gamma=mdp.gamma, lam=0.0), d, atol=1e-12)
    # V = 0, lambda = 1: the expected return Q.
    np.testing.assert_allclose(expected_gae(mdp, pi, np.zeros(mdp.n_states), gamma=mdp.gamma, lam=1.0),
                               tabular.action_values(mdp, pi), atol=1e-9)
    # lambda = 1, any critic: A - e(s), a state-only bias (e = V - V^pi).
    e = np.where(live, V - tabular.state_values(mdp, pi), 0.0)
    np.testing.assert_allclose(expected_gae(mdp, pi, V, gamma=mdp.gamma, lam=1.0),
                               tabular.advantage_function(mdp, pi) - e[:, None], atol=1e-9)


def test_expected_gae_with_a_smaller_gamma_targets_the_discounted_advantage():
    mdp, pi, _ = random_mdp(3, gamma=1.0)
    short = dataclasses.replace(mdp, gamma=0.8)
    V08 = tabular.state_values(short, pi)
    A08 = tabular.advantage_function(short, pi)
    for lam in (0.0, 0.5, 1.0):
        est = expected_gae(mdp, pi, V08, gamma=0.8, lam=lam)
        np.testing.assert_allclose(est, A08, atol=1e-9)            # unbiased for A^{pi, 0.8}
        assert np.abs(est - tabular.advantage_function(mdp, pi)).max() > 1e-2  # not A^{pi, 1}


def test_expected_gae_matches_sampled_means():
    mdp, pi, rng = random_mdp(7, S=4, A=2, gamma=0.9, p_end=0.3)
    V = rng.normal(size=mdp.n_states)
    ro = tabular.sample_episodes(mdp, pi, 20_000, 80, rng)
    assert not ro.truncated.any()
    for lam in (0.0, 0.7):
        adv = gae(ro.rewards, V[ro.states], next_values=V[ro.next_states],
                  terminated=ro.terminated, truncated=ro.truncated, gamma=0.9, lam=lam).advantages
        exact = expected_gae(mdp, pi, V, gamma=0.9, lam=lam)
        g = (ro.states * 2 + ro.actions)[ro.valid]
        n = np.bincount(g, minlength=8)
        mean = np.bincount(g, weights=adv[ro.valid], minlength=8) / np.maximum(n, 1)
        seen = n > 500
        np.testing.assert_allclose(mean[seen], exact.ravel()[seen], atol=0.06)


def test_expected_gae_bad_inputs():
    mdp, pi, _ = random_mdp(0)
    V = np.zeros(mdp.n_states)
    with pytest.raises(ValueError, match="lam must lie in"):
        expected_gae(mdp, pi, V, gamma=0.9, lam=1.5)
    with pytest.raises(TypeError, match="gamma must be a float"):
        expected_gae(mdp, pi, V, gamma=None, lam=0.5)
    with pytest.raises(ValueError, match=r"values has shape \(3,\)"):
        expected_gae(mdp, pi, np.zeros(3), gamma=0.9, lam=0.5)
    with pytest.raises(ValueError, match="policy has shape"):
        expected_gae(mdp, pi[:, :2], V, gamma=0.9, lam=0.5)
    loop = tabular.two_state_mdp()  # never terminates
    with pytest.raises(ValueError, match="singular"):
        expected_gae(loop, np.full((2, 2), 0.5), np.zeros(2), gamma=1.0, lam=1.0)


# --------------------------------------------------------------------------- the sweeps


@pytest.fixture(scope="module")
def chain_rollout():
    mdp = tabular.chain_mdp(5, gamma=0.95, slip=0.1, step_reward=-0.1)
    logits = np.tile([0.0, 1.0], (5, 1))
    pi = tabular.softmax_policy(logits)
    ro = tabular.sample_episodes(mdp, pi, 3000, 120, np.random.default_rng(0))
    assert not ro.truncated.any()
    return mdp, logits, pi, ro


def test_advantage_sweep_matches_a_manual_computation(chain_rollout):
    mdp, _, pi, ro = chain_rollout
    V = np.linspace(-1, 0, 5)
    A = tabular.advantage_function(mdp, pi)
    sweep = advantage_error_sweep(ro, V, A, gamma=0.95, lams=[0.3])
    adv = gae(ro.rewards, V[ro.states], next_values=V[ro.next_states], terminated=ro.terminated,
              truncated=ro.truncated, gamma=0.95, lam=0.3).advantages
    manual = grouped_error(adv, A[ro.states, ro.actions], ro.states * 2 + ro.actions, valid=ro.valid)
    np.testing.assert_allclose(np.array(sweep)[:, 0], np.array(manual))


def test_advantage_sweep_exact_critic_is_unbiased_and_variance_grows_with_lambda(chain_rollout):
    mdp, _, pi, ro = chain_rollout
    V = tabular.state_values(mdp, pi)
    lams = [0.0, 0.5, 0.9, 1.0]
    e = advantage_error_sweep(ro, V, tabular.advantage_function(mdp, pi), gamma=0.95, lams=lams)
    assert np.all(e.bias2 < 0.02 * e.variance)
    assert np.all(np.diff(e.variance) > 0)


def test_gradient_sweep_is_unbiased_with_the_exact_critic(chain_rollout):
    mdp, logits, pi, ro = chain_rollout
    V = tabular.state_values(mdp, pi)
    grad = tabular.exact_policy_gradient(mdp, logits)
    e = gradient_error_sweep(mdp, pi, ro, V, grad, gamma=0.95, lams=[0.0, 1.0])
    n = ro.states.shape[1]
    # the bias2 estimate has standard error ~ variance / n; allow four of them
    assert np.all(np.abs(e.bias2) < 4 * e.variance / n)
    # with V = 0 and lambda = 0 (reward only) the estimate is clearly biased
    z = gradient_error_sweep(mdp, pi, ro, np.zeros(5), grad, gamma=0.95, lams=[0.0])
    assert z.bias2[0] > 20 * z.variance[0] / n


# --------------------------------------------------------------------------- a table of bad inputs


def test_grouped_error_with_large_sparse_group_ids():
    # ids are only labels: 10**12 must not allocate a table of that size
    e = grouped_error(np.array([1.0, 3.0, 5.0]), np.array([2.0, 2.0, 5.0]), np.array([10**12, 10**12, 7]))
    assert e == pytest.approx(ErrorDecomposition(0.0, 2 / 3, 2 / 3))


_MDP, _PI, _ = random_mdp(0, S=4, A=2)
_EP = tabular.sample_episodes(_MDP, _PI, 3, 5, np.random.default_rng(0))
_V = np.zeros(4)
_ADV = np.zeros((4, 2))
_BASE = {
    "grouped_error": dict(estimates=np.ones(4), targets=np.zeros(4), groups=np.arange(4)),
    "estimator_error": dict(samples=np.zeros((3, 2)), target=np.zeros(2)),
    "expected_gae": dict(mdp=_MDP, policy=_PI, values=_V, gamma=0.9, lam=0.5),
    "advantage_error_sweep": dict(episodes=_EP, values=_V, advantage=_ADV, gamma=0.9, lams=[0.5]),
    "gradient_error_sweep": dict(mdp=_MDP, policy=_PI, episodes=_EP, values=_V, gradient=_ADV,
                                 gamma=0.9, lams=[0.5]),
}
_ROWS = [
    ("grouped_error", dict(estimates=np.ones(3)), ValueError, r"targets has shape \(4,\) but estimates has shape \(3,\)"),
    ("grouped_error", dict(targets=np.zeros((4, 1))), ValueError, r"targets has shape \(4, 1\)"),
    ("grouped_error", dict(groups=np.arange(3)), ValueError, r"groups has shape \(3,\)"),
    ("grouped_error", dict(groups=np.arange(4.0)), TypeError, "groups must be an integer array"),
    ("grouped_error", dict(groups=np.ones(4, bool)), TypeError, "groups must be an integer array"),
    ("grouped_error", dict(groups=np.array([0, -1, 0, 0])), ValueError, "groups must be >= 0"),
    ("grouped_error", dict(estimates=np.array([1.0, np.nan, 0, 0])), ValueError, "estimates contains NaN"),
    ("grouped_error", dict(targets=np.full(4, np.inf)), ValueError, "targets contains NaN or infinite"),
    ("grouped_error", dict(estimates=np.array(["a"] * 4)), TypeError, "estimates must be a real-valued"),
    ("grouped_error", dict(estimates=np.ones(4, complex)), TypeError, "estimates has dtype complex"),
    ("grouped_error", dict(estimates=np.float64(1.0), targets=np.float64(0.0), groups=np.int64(0)),
     ValueError, "estimates must be an array of samples"),
    ("grouped_error", dict(valid=np.zeros(4, bool)), ValueError, "no valid sample .valid is False everywhere"),
    ("grouped_error", dict(valid=np.ones(3, bool)), ValueError, r"valid has shape \(3,\)"),
    ("grouped_error", dict(valid=np.array([0, 2, 1, 1])), ValueError, "valid must contain only True/False"),
    ("estimator_error", dict(samples=np.zeros((1, 2))), ValueError, r"samples must have shape \[N, \*shape\] with N >= 2"),
    ("estimator_error", dict(samples=np.float64(0.0)), ValueError, "samples must have shape"),
    ("estimator_error", dict(target=np.zeros(3)), ValueError, "target must have shape"),
    ("estimator_error", dict(target=np.array([np.nan, 0.0])), ValueError, "target contains NaN"),
    ("estimator_error", dict(samples=np.ones((3, 2), bool)), TypeError, "samples must be a real-valued"),
    ("expected_gae", dict(lam=1.5), ValueError, r"lam must lie in \[0, 1\]"),
    ("expected_gae", dict(lam=float("nan")), ValueError, r"lam must lie in \[0, 1\]"),
    ("expected_gae", dict(gamma=-0.5), ValueError, r"gamma must lie in \[0, 1\]"),
    ("expected_gae", dict(gamma=None), TypeError, "gamma must be a float"),
    ("expected_gae", dict(lam=True), TypeError, "lam must be a float"),
    ("expected_gae", dict(values=np.zeros(3)), ValueError, r"values has shape \(3,\)"),
    ("expected_gae", dict(values=np.full(4, np.nan)), ValueError, "values contains NaN"),
    ("expected_gae", dict(policy=_PI[:, :1]), ValueError, r"policy has shape \(4, 1\)"),
    ("expected_gae", dict(policy=np.full((4, 2), 0.7)), ValueError, "policy must sum to 1"),
    ("expected_gae", dict(policy=np.ones(8) / 2), ValueError, "policy must have 2 dimensions"),
    ("expected_gae", dict(mdp=dataclasses.make_dataclass("M", ["transitions", "rewards"])(np.zeros((4, 2, 3)), np.zeros((4, 2)))),
     ValueError, r"mdp.transitions must be \[S, A, S\]"),
    ("expected_gae", dict(mdp=dataclasses.make_dataclass("M", ["transitions", "rewards", "terminal"])(
        np.array(_MDP.transitions), np.array(_MDP.rewards), np.zeros(4))), ValueError, "mdp.terminal must be a bool array"),
    ("expected_gae", dict(mdp=tabular.two_state_mdp(), policy=np.full((2, 2), 0.5), values=np.zeros(2),
                          gamma=1.0, lam=1.0), ValueError, "singular .γλ = 1 and the policy may never reach"),
    ("expected_gae", dict(mdp=None), TypeError, "mdp must have the fields transitions"),
    ("expected_gae", dict(mdp=np.zeros((4, 2, 4))), TypeError, "mdp must have the fields transitions"),
    ("expected_gae", dict(mdp=dataclasses.make_dataclass("M", ["transitions", "rewards"])(
        np.array(_MDP.transitions) * 0.5, np.array(_MDP.rewards))), ValueError, "mdp.transitions must sum to 1"),
    ("advantage_error_sweep", dict(episodes=tuple(_EP)), TypeError, "episodes must have the fields"),
    ("advantage_error_sweep", dict(values=np.zeros(5)), ValueError, r"values has shape \(5,\)"),
    ("advantage_error_sweep", dict(advantage=np.zeros(4)), ValueError, "advantage must have 2 dimensions"),
    ("advantage_error_sweep", dict(advantage=np.zeros((4, 1))), ValueError, "episodes.actions must hold integer indices"),
    ("advantage_error_sweep", dict(advantage=np.zeros((2, 2)), values=np.zeros(2)), ValueError,
     "episodes.states must hold integer indices"),
    ("advantage_error_sweep", dict(lams=[]), ValueError, "lams must be a non-empty sequence"),
    ("advantage_error_sweep", dict(lams=0.5), ValueError, "lams must be a non-empty sequence"),
    ("advantage_error_sweep", dict(lams=[0.5, 1.2]), ValueError, r"lams must lie in \[0, 1\]"),
    ("advantage_error_sweep", dict(gamma=2.0), ValueError, r"gamma must lie in \[0, 1\]"),
    ("gradient_error_sweep", dict(mdp="mdp"), TypeError, "mdp must be a TabularMDP"),
    ("gradient_error_sweep", dict(gradient=np.zeros((4, 3))), ValueError, r"gradient has shape \(4, 3\); the MDP needs"),
    ("gradient_error_sweep", dict(gradient=np.zeros((3, 2)), values=np.zeros(3)), ValueError,
     r"episodes.states must hold integer indices in \[0, 3\) to match gradient"),
    ("gradient_error_sweep", dict(policy=np.full((4, 2), 0.3)), ValueError, "policy must sum to 1"),
    ("gradient_error_sweep", dict(discount_steps="False"), TypeError, "discount_steps must be True or False"),
    ("gradient_error_sweep", dict(lams=["x"]), TypeError, "lams must be a float"),
]


@pytest.mark.parametrize("name, kwargs, exc, message", _ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(_ROWS)])
def test_bad_inputs_are_named(name, kwargs, exc, message):
    import gaelib.bias_variance as bv

    args = dict(_BASE[name])
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        getattr(bv, name)(**args)


def test_every_public_function_has_bad_input_rows():
    import gaelib.bias_variance as bv

    assert {r[0] for r in _ROWS} == set(bv.__all__) - {"ErrorDecomposition"}
