"""Tests for gaelib.tabular: hand-computed values, identities, sampling statistics, bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gaelib
from gaelib import tabular as tb

UNIFORM2 = np.full((2, 2), 0.5)
MOVE = np.array([[1.0, 0.0], [0.0, 1.0]])  # s1 -> a1, s2 -> a2: always move


# --------------------------------------------------------------------------- hand-computed


def test_two_state_uniform_by_hand():
    # V1 = .5(1 + .9 V2) + .5(.9 V1), V2 = .5(.9 V1) + .5(.9 V2)  =>  V2 = 9/11 V1, V1 = 2.75
    m = tb.two_state_mdp()
    np.testing.assert_allclose(tb.state_values(m, UNIFORM2), [2.75, 2.25])
    np.testing.assert_allclose(tb.action_values(m, UNIFORM2), [[3.025, 2.475], [2.025, 2.475]])
    np.testing.assert_allclose(tb.advantage_function(m, UNIFORM2), [[0.275, -0.275], [-0.225, 0.225]])
    # d1 = 1 + .45 d1 + .45 d2, d2 = .45 d1 + .45 d2  =>  d = (5.5, 4.5)
    np.testing.assert_allclose(tb.discounted_visitation(m, UNIFORM2), [5.5, 4.5])
    np.testing.assert_allclose(tb.expected_return(m, UNIFORM2), 2.75)
    # dJ/dtheta_sa = d(s) pi(a|s) A(s, a)
    np.testing.assert_allclose(tb.exact_policy_gradient(m, np.zeros((2, 2))),
                               [[0.75625, -0.75625], [-0.50625, 0.50625]])


def test_two_state_always_move_and_optimal():
    m = tb.two_state_mdp()
    V = np.array([1.0, 0.9]) / (1 - 0.81)
    np.testing.assert_allclose(tb.state_values(m, MOVE), V)
    np.testing.assert_allclose(tb.discounted_visitation(m, MOVE), np.array([1.0, 0.9]) / 0.19)
    v_star, greedy = tb.value_iteration(m)
    np.testing.assert_allclose(v_star, V, atol=1e-8)
    np.testing.assert_array_equal(greedy, MOVE)
    assert m.state_names == ("s1", "s2") and m.action_names == ("a1", "a2")
    np.testing.assert_array_equal(m.initial, [1.0, 0.0])


def test_chain_by_hand():
    m = tb.chain_mdp(5, gamma=0.9)
    right = np.tile([0.0, 1.0], (5, 1))
    np.testing.assert_allclose(tb.state_values(m, right), [0.729, 0.81, 0.9, 1.0, 0.0])
    # reflecting random walk, gamma = 1: expected time from 0 to 4 is 20 steps
    m1 = tb.chain_mdp(5, gamma=1.0, step_reward=-0.1)
    np.testing.assert_allclose(tb.state_values(m1, np.full((5, 2), 0.5))[0], 1.0 - 2.0)
    # slip: moving right succeeds with 1 - slip
    ms = tb.chain_mdp(3, slip=0.25)
    np.testing.assert_allclose(ms.transitions[1, 1], [0.25, 0.0, 0.75])
    np.testing.assert_allclose(ms.rewards[1], [0.25, 0.75])
    assert ms.terminal.tolist() == [False, False, True]


def test_gridworld_by_hand():
    g = tb.gridworld(["S.G"], slip=0.0, gamma=0.5, step_reward=-0.04)
    v_star, greedy = tb.value_iteration(g)
    np.testing.assert_allclose(v_star, [-0.04 + 0.5 * 0.96, 0.96, 0.0], atol=1e-9)
    assert greedy[0].argmax() == 1 and greedy[1].argmax() == 1  # "right"
    np.testing.assert_array_equal(g.initial, [1.0, 0.0, 0.0])


def test_gridworld_default_structure():
    g = tb.gridworld()
    assert g.n_states == 11 and g.n_actions == 4
    assert g.terminal.sum() == 2
    np.testing.assert_allclose(g.transitions.sum(-1), 1.0)
    # (2, 0) is the start; from (1, 0) going "right" hits the wall: stays with prob 0.8
    k = g.state_names.index("(1, 0)")
    assert g.transitions[k, 1, k] == pytest.approx(0.8)
    grid = tb.grid_values(["...G", ".#.X", "S..."], np.arange(11.0))
    assert np.isnan(grid[1, 1]) and grid[0, 3] == 3.0 and grid[2, 3] == 10.0


def test_softmax_policy():
    np.testing.assert_allclose(tb.softmax_policy([[0.0, np.log(3.0)]]), [[0.25, 0.75]])
    big = tb.softmax_policy([[1000.0, 0.0]])  # no overflow
    np.testing.assert_allclose(big, [[1.0, 0.0]])


# --------------------------------------------------------------------------- identities


@st.composite
def random_mdp(draw, terminal_ok=True):
    seed = draw(st.integers(0, 2**31 - 1))
    S = draw(st.integers(2, 5))
    A = draw(st.integers(1, 3))
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    r = rng.normal(size=(S, A))
    term = np.zeros(S, bool)
    if terminal_ok and draw(st.booleans()):
        term[-1] = True
    initial = rng.dirichlet(np.ones(S))
    initial[term] = 0
    initial /= initial.sum()
    m = tb.TabularMDP(P, r, gamma, initial=initial, terminal=term)
    logits = rng.normal(size=(S, A))
    return m, logits


@settings(max_examples=40, deadline=None)
@given(random_mdp())
def test_three_evaluations_agree(case):
    m, logits = case
    pi = tb.softmax_policy(logits)
    V = tb.state_values(m, pi)
    np.testing.assert_allclose(tb.iterative_policy_evaluation(m, pi, tol=1e-12), V, atol=1e-9)
    np.testing.assert_allclose(tb.bellman_backup(m, pi, V), V, atol=1e-10)  # fixed point
    Q = tb.action_values(m, pi)
    A = tb.advantage_function(m, pi)
    np.testing.assert_allclose((pi * Q).sum(1), V, atol=1e-10)
    np.testing.assert_allclose((pi * A).sum(1), 0.0, atol=1e-10)
    assert np.all(V[m.terminal] == 0)


@settings(max_examples=30, deadline=None)
@given(random_mdp())
def test_value_iteration_dominates(case):
    m, logits = case
    v_star, greedy = tb.value_iteration(m, tol=1e-12)
    np.testing.assert_allclose(tb.state_values(m, greedy), v_star, atol=1e-8)
    assert np.all(tb.state_values(m, tb.softmax_policy(logits)) <= v_star + 1e-8)
    # V* is a fixed point of the Bellman optimality operator
    Q = m.rewards + m.gamma * m.transitions @ v_star
    np.testing.assert_allclose(np.where(m.terminal, 0, Q.max(1)), v_star, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(random_mdp())
def test_policy_gradient_analytic_autograd_finite_differences(case):
    m, logits = case
    g = tb.exact_policy_gradient(m, logits)
    np.testing.assert_allclose(tb.policy_gradient_autograd(m, logits), g, atol=1e-10)
    eps = 1e-6
    fd = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        e = np.zeros_like(logits)
        e[idx] = eps
        fd[idx] = (tb.expected_return(m, tb.softmax_policy(logits + e))
                   - tb.expected_return(m, tb.softmax_policy(logits - e))) / (2 * eps)
    np.testing.assert_allclose(fd, g, atol=1e-6 * max(1.0, np.abs(g).max()))


@settings(max_examples=20, deadline=None)
@given(random_mdp())
def test_visitation_identity(case):
    # J = sum_s d(s) r_pi(s)
    m, logits = case
    pi = tb.softmax_policy(logits)
    d = tb.discounted_visitation(m, pi)
    r_pi = np.where(m.terminal, 0.0, (pi * m.rewards).sum(1))
    np.testing.assert_allclose(d @ r_pi, tb.expected_return(m, pi), atol=1e-9)


def test_gamma_one_with_terminating_policy():
    m = tb.chain_mdp(4, gamma=1.0)
    right = np.tile([0.0, 1.0], (4, 1))
    np.testing.assert_allclose(tb.state_values(m, right), [1, 1, 1, 0])
    np.testing.assert_allclose(tb.discounted_visitation(m, right), [1, 1, 1, 0])


# --------------------------------------------------------------------------- sampling


def test_sampler_deterministic_chain():
    m = tb.chain_mdp(4)
    right = np.tile([0.0, 1.0], (4, 1))
    ro = tb.sample_episodes(m, right, n_episodes=2, max_steps=5, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ro.states[:, 0], [0, 1, 2, 3, 3])
    np.testing.assert_array_equal(ro.next_states[:, 0], [1, 2, 3, 3, 3])
    np.testing.assert_array_equal(ro.valid[:, 0], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(ro.terminated[:, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(ro.rewards[:, 0], [0, 0, 1, 0, 0])
    assert not ro.truncated.any()
    # too short: truncated on the last step, not terminated
    ro = tb.sample_episodes(m, right, n_episodes=1, max_steps=2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ro.truncated[:, 0], [0, 1])
    np.testing.assert_array_equal(ro.terminated[:, 0], [0, 0])
    assert ro.valid.all()


def test_sampler_two_state_continuing_is_truncated():
    m = tb.two_state_mdp()
    ro = tb.sample_episodes(m, MOVE, 3, 4, np.random.default_rng(1))
    np.testing.assert_array_equal(ro.states[:, 0], [0, 1, 0, 1])
    np.testing.assert_array_equal(ro.rewards[:, 0], [1, 0, 1, 0])
    assert ro.valid.all() and not ro.terminated.any()
    np.testing.assert_array_equal(ro.truncated[-1], True)
    assert ro.truncated[:-1].sum() == 0


def test_sampler_statistics_and_seed():
    m = tb.gridworld()
    rng = np.random.default_rng(0)
    pi = tb.softmax_policy(rng.normal(size=(m.n_states, 4)))
    ro = tb.sample_episodes(m, pi, 4000, 200, np.random.default_rng(7))
    ro2 = tb.sample_episodes(m, pi, 4000, 200, np.random.default_rng(7))
    for a, b in zip(ro, ro2):
        np.testing.assert_array_equal(a, b)
    v = ro.valid
    # rewards are r(s, a) exactly; valid steps form a prefix of each column
    np.testing.assert_array_equal(ro.rewards[v], m.rewards[ro.states[v], ro.actions[v]])
    assert np.all(v[1:] <= v[:-1])
    assert not (ro.terminated & ro.truncated).any()
    assert np.all(ro.terminated[~v]) and not ro.truncated[~v].any()
    # every episode ends exactly once, by termination or truncation
    ends = (ro.terminated | ro.truncated) & v
    np.testing.assert_array_equal(ends.sum(0), 1)
    # action frequencies in each state match pi (binomial 5-sigma bands)
    s, a = ro.states[v], ro.actions[v]
    for state in range(m.n_states):
        n = (s == state).sum()
        if n < 200:
            continue
        freq = np.bincount(a[s == state], minlength=4) / n
        np.testing.assert_array_less(np.abs(freq - pi[state]),
                                     5 * np.sqrt(pi[state] * (1 - pi[state]) / n) + 1e-12)
    # the mean discounted return from the start is V(s0), within 5 standard errors
    G0 = (ro.rewards * m.gamma ** np.arange(200)[:, None]).sum(0)
    V0 = tb.expected_return(m, pi)
    assert abs(G0.mean() - V0) < 5 * G0.std() / np.sqrt(len(G0)) + 0.95 ** 200
    # next_states follow P: their frequencies from (start, up)
    mask = v & (ro.states == 8) & (ro.actions == 0)
    freq = np.bincount(ro.next_states[mask], minlength=m.n_states) / mask.sum()
    np.testing.assert_allclose(freq, m.transitions[8, 0], atol=5 * 0.5 / np.sqrt(mask.sum()))


def test_sampled_td_residual_estimates_advantage():
    # with the exact V, E[delta_t | s_t, a_t] = A(s_t, a_t)
    m = tb.chain_mdp(4, gamma=0.9, slip=0.3)
    pi = np.full((4, 2), 0.5)
    V = tb.state_values(m, pi)
    A = tb.advantage_function(m, pi)
    ro = tb.sample_episodes(m, pi, 3000, 60, np.random.default_rng(3))
    delta = gaelib.td_residuals(ro.rewards, V[ro.states], next_values=V[ro.next_states],
                                terminated=ro.terminated, gamma=m.gamma)
    v = ro.valid
    for s in range(3):
        for a in range(2):
            sel = v & (ro.states == s) & (ro.actions == a)
            d = delta[sel]
            assert abs(d.mean() - A[s, a]) < 5 * d.std() / np.sqrt(len(d)) + 1e-12


def test_sampled_policy_gradient_by_hand():
    # one episode of the two-state MDP: (s1, a1, r=1), (s2, a2, r=0), truncated
    m = tb.two_state_mdp()
    ro = tb.sample_episodes(m, MOVE, 1, 2, np.random.default_rng(0))
    pi = UNIFORM2
    g = tb.sampled_policy_gradient(m, pi, ro, np.array([[2.0], [3.0]]))
    # step 0: 2 * ([1, 0] - [.5, .5]) in row s1; step 1: 0.9 * 3 * ([0, 1] - [.5, .5]) in row s2
    np.testing.assert_allclose(g, [[1.0, -1.0], [-1.35, 1.35]])
    g_nod = tb.sampled_policy_gradient(m, pi, ro, np.array([[2.0], [3.0]]), discount_steps=False)
    np.testing.assert_allclose(g_nod, [[1.0, -1.0], [-1.5, 1.5]])
    per = tb.sampled_policy_gradient(m, pi, ro, np.array([[2.0], [3.0]]), per_episode=True)
    assert per.shape == (1, 2, 2)


def test_reinforce_is_unbiased():
    m = tb.chain_mdp(4, gamma=0.9, slip=0.1, step_reward=-0.05)
    logits = np.array([[0.3, -0.2], [0.0, 0.5], [-0.4, 0.1], [0.0, 0.0]])
    pi = tb.softmax_policy(logits)
    ro = tb.sample_episodes(m, pi, 20000, 200, np.random.default_rng(11))
    G = gaelib.discounted_cumsum(ro.rewards, m.gamma, done=ro.terminated | ro.truncated)
    per = tb.sampled_policy_gradient(m, pi, ro, G, per_episode=True)
    exact = tb.exact_policy_gradient(m, logits)
    se = per.std(0) / np.sqrt(per.shape[0])
    assert np.all(np.abs(per.mean(0) - exact) <= 5 * se + 1e-12)


# --------------------------------------------------------------------------- bad inputs


def test_mdp_validation_messages():
    P = np.zeros((2, 2, 2))
    P[..., 0] = 1.0
    r = np.zeros((2, 2))
    with pytest.raises(ValueError, match="transitions must have 3 dimensions"):
        tb.TabularMDP(P[0], r, 0.9)
    with pytest.raises(ValueError, match="shape \\[S, A, S\\]"):
        tb.TabularMDP(np.ones((2, 2, 3)) / 3, r, 0.9)
    with pytest.raises(ValueError, match="transitions must sum to 1"):
        tb.TabularMDP(P * 0.5, r, 0.9)
    with pytest.raises(ValueError, match="negative probabilities"):
        tb.TabularMDP(np.stack([P[..., 0] * 2, -P[..., 0]], -1), r, 0.9)
    with pytest.raises(ValueError, match=r"rewards has shape \(2, 3\)"):
        tb.TabularMDP(P, np.zeros((2, 3)), 0.9)
    with pytest.raises(ValueError, match="rewards contains NaN"):
        tb.TabularMDP(P, np.full((2, 2), np.nan), 0.9)
    with pytest.raises(TypeError, match="rewards must be a real-valued numeric array"):
        tb.TabularMDP(P, np.zeros((2, 2), bool), 0.9)
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\]"):
        tb.TabularMDP(P, r, 1.5)
    with pytest.raises(TypeError, match="gamma must be a float"):
        tb.TabularMDP(P, r, True)
    with pytest.raises(TypeError, match="terminal must be a bool array"):
        tb.TabularMDP(P, r, 0.9, terminal=np.array([0, 1]))
    with pytest.raises(ValueError, match="terminal marks every state"):
        tb.TabularMDP(P, r, 0.9, terminal=np.array([True, True]))
    with pytest.raises(ValueError, match="initial puts probability on terminal"):
        tb.TabularMDP(P, r, 0.9, initial=[0.5, 0.5], terminal=np.array([False, True]))
    with pytest.raises(ValueError, match="initial must sum to 1"):
        tb.TabularMDP(P, r, 0.9, initial=[0.5, 0.6])
    with pytest.raises(ValueError, match="state_names must be a sequence of 2 labels"):
        tb.TabularMDP(P, r, 0.9, state_names=("a", "b", "c"))
    m = tb.TabularMDP(P, r, 0.9)
    with pytest.raises(ValueError, match="read-only"):
        m.rewards[0, 0] = 1.0
    np.testing.assert_array_equal(m.initial, [0.5, 0.5])


def test_policy_and_function_validation_messages():
    m = tb.two_state_mdp()
    with pytest.raises(ValueError, match=r"policy has shape \(3, 2\); this MDP needs \[S, A\] = \(2, 2\)"):
        tb.state_values(m, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="policy must sum to 1"):
        tb.state_values(m, np.full((2, 2), 0.4))
    with pytest.raises(TypeError, match="mdp must be a TabularMDP"):
        tb.state_values("mdp", UNIFORM2)
    with pytest.raises(ValueError, match=r"logits has shape \(2, 3\)"):
        tb.exact_policy_gradient(m, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"values has shape \(3,\)"):
        tb.bellman_backup(m, UNIFORM2, np.zeros(3))
    with pytest.raises(ValueError, match="tol must be a positive float"):
        tb.iterative_policy_evaluation(m, UNIFORM2, tol=0.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        tb.iterative_policy_evaluation(m, UNIFORM2, max_iter=3)
    with pytest.raises(RuntimeError, match="did not converge"):
        tb.value_iteration(m, max_iter=3)
    with pytest.raises(ValueError, match="gamma must be < 1 for the two-state MDP"):
        tb.two_state_mdp(gamma=1.0)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        tb.chain_mdp(1)
    with pytest.raises(ValueError, match=r"slip must lie in \[0, 1\)"):
        tb.chain_mdp(3, slip=1.0)
    with pytest.raises(ValueError, match="only '.', '#', 'S', 'G', 'X'"):
        tb.gridworld(["S.Q"])
    with pytest.raises(ValueError, match="equal length"):
        tb.gridworld(["S.G", ".."])
    with pytest.raises(TypeError, match="sequence of strings"):
        tb.gridworld("S.G")
    with pytest.raises(ValueError, match="layout has 2 non-wall cells"):
        tb.grid_values([".#G"], [1.0, 2.0, 3.0])


def test_singular_system_is_reported():
    # gamma = 1 and a policy that never reaches the goal: infinite horizon, no discount
    m = tb.chain_mdp(3, gamma=1.0)
    left = np.tile([1.0, 0.0], (3, 1))
    with pytest.raises(ValueError, match="singular.*never reaches a terminal state"):
        tb.state_values(m, left)
    with pytest.raises(ValueError, match="singular"):
        tb.policy_gradient_autograd(m, np.tile([50.0, -50.0], (3, 1)))


def test_sampler_validation_messages():
    m = tb.chain_mdp(3)
    pi = np.full((3, 2), 0.5)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_episodes must be a positive integer"):
        tb.sample_episodes(m, pi, 0, 5, rng)
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        tb.sample_episodes(m, pi, 2, 2.5, rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        tb.sample_episodes(m, pi, 2, 5, 0)
    ro = tb.sample_episodes(m, pi, 2, 5, rng)
    with pytest.raises(ValueError, match=r"weights has shape \(5, 3\) but episodes.rewards has shape \(5, 2\)"):
        tb.sampled_policy_gradient(m, pi, ro, np.zeros((5, 3)))
    with pytest.raises(TypeError, match="episodes must be an EpisodeBatch"):
        tb.sampled_policy_gradient(m, pi, tuple(ro), np.zeros((5, 2)))
