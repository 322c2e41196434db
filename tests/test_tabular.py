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


def test_mdp_is_read_only_and_non_convergence_is_reported():
    P = np.zeros((2, 2, 2))
    P[..., 0] = 1.0
    m = tb.TabularMDP(P, np.zeros((2, 2)), 0.9)
    with pytest.raises(ValueError, match="read-only"):
        m.rewards[0, 0] = 1.0
    np.testing.assert_array_equal(m.initial, [0.5, 0.5])
    m = tb.two_state_mdp()
    with pytest.raises(RuntimeError, match="did not converge"):
        tb.iterative_policy_evaluation(m, UNIFORM2, max_iter=3)
    with pytest.raises(RuntimeError, match="did not converge"):
        tb.value_iteration(m, max_iter=3)


def test_singular_system_is_reported():
    # gamma = 1 and a policy that never reaches the goal: infinite horizon, no discount
    m = tb.chain_mdp(3, gamma=1.0)
    left = np.tile([1.0, 0.0], (3, 1))
    with pytest.raises(ValueError, match="singular.*never reaches a terminal state"):
        tb.state_values(m, left)
    with pytest.raises(ValueError, match="singular"):
        tb.policy_gradient_autograd(m, np.tile([50.0, -50.0], (3, 1)))


# --------------------------------------------------------------------------- the silent cases of issue 12


def test_float32_policy_from_torch_softmax_is_accepted_and_renormalised():
    import torch

    m = tb.gridworld()
    logits = np.random.default_rng(0).normal(size=(m.n_states, m.n_actions))
    pi32 = torch.softmax(torch.tensor(logits, dtype=torch.float32), dim=1).numpy()
    assert np.abs(pi32.astype(np.float64).sum(1) - 1).max() > 1e-8  # the old tolerance refused it
    np.testing.assert_allclose(tb.state_values(m, pi32), tb.state_values(m, tb.softmax_policy(logits)),
                               atol=1e-5)
    ro = tb.sample_episodes(m, pi32, 5, 10, np.random.default_rng(0))
    assert ro.valid[0].all()
    # a float32 table that is really off is still refused
    with pytest.raises(ValueError, match="policy must sum to 1"):
        tb.state_values(m, (pi32 * np.float32(1.001)).astype(np.float32))


def test_terminal_rows_may_be_zeros():
    m = tb.chain_mdp(4, gamma=0.9, slip=0.1)
    P = np.array(m.transitions)
    P[m.terminal] = 0.0
    m0 = tb.TabularMDP(P, m.rewards, 0.9, initial=m.initial, terminal=m.terminal)
    np.testing.assert_array_equal(m0.transitions, m.transitions)  # stored absorbing
    pi = np.full((4, 2), 0.5)
    pi0 = pi.copy()
    pi0[m.terminal] = 0.0
    np.testing.assert_allclose(tb.state_values(m0, pi0), tb.state_values(m, pi))
    np.testing.assert_allclose(tb.advantage_function(m0, pi0), tb.advantage_function(m, pi))
    # zero rows of non-terminal states are still refused
    with pytest.raises(ValueError, match="policy must sum to 1"):
        tb.state_values(m, np.where(np.arange(4)[:, None] == 0, 0.0, pi))
    P[0] = 0.0
    with pytest.raises(ValueError, match="transitions must sum to 1"):
        tb.TabularMDP(P, m.rewards, 0.9, terminal=m.terminal)


def test_iterative_evaluation_at_gamma_one_fails_before_sweeping():
    m = tb.two_state_mdp(0.9)
    loop = tb.TabularMDP(m.transitions, m.rewards, 1.0, initial=m.initial)
    # max_iter=1 would otherwise raise RuntimeError: the ValueError comes from the check up front
    with pytest.raises(ValueError, match=r"iterative_policy_evaluation: with gamma = 1 the policy never "
                                         r"reaches a terminal state from states \[0, 1\]"):
        tb.iterative_policy_evaluation(loop, UNIFORM2, max_iter=1)
    with pytest.raises(ValueError, match="value_iteration: mdp.gamma = 1 and the MDP has no terminal"):
        tb.value_iteration(loop, max_iter=1)
    chain = tb.chain_mdp(4, gamma=1.0)
    left = np.tile([1.0, 0.0], (4, 1))
    with pytest.raises(ValueError, match=r"from states \[0, 1, 2\]"):
        tb.iterative_policy_evaluation(chain, left)
    # a policy that terminates from every state is evaluated as before
    np.testing.assert_allclose(tb.iterative_policy_evaluation(chain, np.full((4, 2), 0.5), tol=1e-12),
                               tb.state_values(chain, np.full((4, 2), 0.5)), atol=1e-8)


# --------------------------------------------------------------------------- a table of bad inputs

_M = tb.chain_mdp(3)  # S = 3 (state 2 terminal), A = 2
_PI = np.full((3, 2), 0.5)
_EP = tb.sample_episodes(_M, _PI, 2, 4, np.random.default_rng(0))
_P = np.array(_M.transitions)
_R = np.array(_M.rewards)

_BASE = {
    "TabularMDP": dict(transitions=_P, rewards=_R, gamma=0.9),
    "softmax_policy": dict(logits=np.zeros((3, 2))),
    "state_values": dict(mdp=_M, policy=_PI),
    "action_values": dict(mdp=_M, policy=_PI),
    "advantage_function": dict(mdp=_M, policy=_PI),
    "discounted_visitation": dict(mdp=_M, policy=_PI),
    "expected_return": dict(mdp=_M, policy=_PI),
    "bellman_backup": dict(mdp=_M, policy=_PI, values=np.zeros(3)),
    "iterative_policy_evaluation": dict(mdp=_M, policy=_PI),
    "value_iteration": dict(mdp=_M),
    "exact_policy_gradient": dict(mdp=_M, logits=np.zeros((3, 2))),
    "policy_gradient_autograd": dict(mdp=_M, logits=np.zeros((3, 2))),
    "sample_episodes": dict(mdp=_M, policy=_PI, n_episodes=2, max_steps=4, rng=np.random.default_rng(0)),
    "sampled_policy_gradient": dict(mdp=_M, policy=_PI, episodes=_EP, weights=np.zeros((4, 2))),
    "two_state_mdp": dict(),
    "chain_mdp": dict(),
    "gridworld": dict(),
    "grid_values": dict(layout=[".#G"], values=[1.0, 2.0]),
}
_ROWS = [
    ("TabularMDP", dict(transitions=_P[0]), ValueError, "transitions must have 3 dimensions"),
    ("TabularMDP", dict(transitions=np.ones((3, 2, 2)) / 2), ValueError, r"transitions must have shape \[S, A, S\]"),
    ("TabularMDP", dict(transitions=_P * 0.5), ValueError, "transitions must sum to 1"),
    ("TabularMDP", dict(transitions=-_P), ValueError, "transitions has negative probabilities"),
    ("TabularMDP", dict(transitions=np.where(_P > 0, np.nan, 0.0)), ValueError, "transitions contains NaN"),
    ("TabularMDP", dict(transitions=_P.astype(bool)), TypeError, "transitions must be a real-valued numeric"),
    ("TabularMDP", dict(transitions=_P.astype(complex)), TypeError, "transitions has dtype complex"),
    ("TabularMDP", dict(transitions="P"), TypeError, "transitions must be a real-valued numeric"),
    ("TabularMDP", dict(rewards=np.zeros((3, 3))), ValueError, r"rewards has shape \(3, 3\)"),
    ("TabularMDP", dict(rewards=np.zeros(3)), ValueError, "rewards must have 2 dimensions"),
    ("TabularMDP", dict(rewards=np.full((3, 2), np.inf)), ValueError, "rewards contains NaN or infinite"),
    ("TabularMDP", dict(gamma=1.5), ValueError, r"gamma must lie in \[0, 1\]"),
    ("TabularMDP", dict(gamma=-0.1), ValueError, r"gamma must lie in \[0, 1\]"),
    ("TabularMDP", dict(gamma=float("nan")), ValueError, r"gamma must lie in \[0, 1\]"),
    ("TabularMDP", dict(gamma=True), TypeError, "gamma must be a float"),
    ("TabularMDP", dict(gamma="0.9"), TypeError, "gamma must be a float"),
    ("TabularMDP", dict(gamma=np.array([0.9])), TypeError, "gamma must be a float"),
    ("TabularMDP", dict(terminal=np.array([0, 0, 1])), TypeError, "terminal must be a bool array"),
    ("TabularMDP", dict(terminal=np.zeros(2, bool)), ValueError, r"terminal has shape \(2,\)"),
    ("TabularMDP", dict(terminal=np.ones(3, bool)), ValueError, "terminal marks every state"),
    ("TabularMDP", dict(initial=[0.5, 0.5, 0.5]), ValueError, "initial must sum to 1"),
    ("TabularMDP", dict(initial=[1.0, 0.0]), ValueError, r"initial has shape \(2,\)"),
    ("TabularMDP", dict(initial=[[1.0, 0.0, 0.0]]), ValueError, "initial must have 1 dimensions"),
    ("TabularMDP", dict(initial=[0.0, 0.0, 1.0], terminal=np.array([0, 0, 1], bool)), ValueError,
     "initial puts probability on terminal states"),
    ("TabularMDP", dict(state_names=("a", "b")), ValueError, "state_names must be a sequence of 3 labels"),
    ("TabularMDP", dict(state_names="abc"), ValueError, "state_names must be a sequence of 3 labels"),
    ("TabularMDP", dict(action_names=("l",)), ValueError, "action_names must be a sequence of 2 labels"),
    ("softmax_policy", dict(logits=np.zeros(3)), ValueError, "logits must have 2 dimensions"),
    ("softmax_policy", dict(logits=np.zeros((0, 2))), ValueError, "logits is empty"),
    ("softmax_policy", dict(logits=np.full((2, 2), np.nan)), ValueError, "logits contains NaN"),
    ("softmax_policy", dict(logits=[["a", "b"]]), TypeError, "logits must be a real-valued numeric"),
    ("state_values", dict(mdp="mdp"), TypeError, "mdp must be a TabularMDP"),
    ("state_values", dict(policy=np.full((2, 2), 0.5)), ValueError, r"policy has shape \(2, 2\)"),
    ("state_values", dict(policy=np.full((3, 2), 0.4)), ValueError, "policy must sum to 1"),
    ("state_values", dict(policy=np.array([[1.5, -0.5]] * 3)), ValueError, "policy has negative probabilities"),
    ("state_values", dict(policy=np.full(6, 0.5)), ValueError, "policy must have 2 dimensions"),
    ("action_values", dict(policy=np.full((3, 2), np.nan)), ValueError, "policy contains NaN"),
    ("advantage_function", dict(mdp=None), TypeError, "mdp must be a TabularMDP"),
    ("discounted_visitation", dict(policy=np.full((3, 3), 1 / 3)), ValueError, r"policy has shape \(3, 3\)"),
    ("expected_return", dict(policy=np.ones((3, 2), bool)), TypeError, "policy must be a real-valued numeric"),
    ("bellman_backup", dict(values=np.zeros(2)), ValueError, r"values has shape \(2,\)"),
    ("bellman_backup", dict(values=np.array([0.0, np.inf, 0.0])), ValueError, "values contains NaN"),
    ("bellman_backup", dict(values=np.zeros((3, 1))), ValueError, "values must have 1 dimensions"),
    ("iterative_policy_evaluation", dict(tol=0.0), ValueError, "tol must be a positive float"),
    ("iterative_policy_evaluation", dict(tol=float("nan")), ValueError, "tol must be a positive float"),
    ("iterative_policy_evaluation", dict(max_iter=0), ValueError, "max_iter must be a positive integer"),
    ("iterative_policy_evaluation", dict(max_iter=2.5), ValueError, "max_iter must be a positive integer"),
    ("value_iteration", dict(tol=-1.0), ValueError, "tol must be a positive float"),
    ("value_iteration", dict(max_iter=True), ValueError, "max_iter must be a positive integer"),
    ("value_iteration", dict(mdp=_P), TypeError, "mdp must be a TabularMDP"),
    ("exact_policy_gradient", dict(logits=np.zeros((2, 3))), ValueError, r"logits has shape \(2, 3\)"),
    ("exact_policy_gradient", dict(logits=np.full((3, 2), np.inf)), ValueError, "logits contains NaN"),
    ("policy_gradient_autograd", dict(logits=np.zeros((3, 1))), ValueError, r"logits has shape \(3, 1\)"),
    ("policy_gradient_autograd", dict(mdp="x"), TypeError, "mdp must be a TabularMDP"),
    ("sample_episodes", dict(n_episodes=0), ValueError, "n_episodes must be a positive integer"),
    ("sample_episodes", dict(n_episodes=2.0), ValueError, "n_episodes must be a positive integer"),
    ("sample_episodes", dict(max_steps=-3), ValueError, "max_steps must be a positive integer"),
    ("sample_episodes", dict(max_steps="4"), ValueError, "max_steps must be a positive integer"),
    ("sample_episodes", dict(rng=0), TypeError, "rng must be a numpy.random.Generator"),
    ("sample_episodes", dict(rng=np.random.RandomState(0)), TypeError, "rng must be a numpy.random.Generator"),
    ("sample_episodes", dict(policy=np.full((3, 2), 0.6)), ValueError, "policy must sum to 1"),
    ("sampled_policy_gradient", dict(episodes=tuple(_EP)), TypeError, "episodes must be an EpisodeBatch"),
    ("sampled_policy_gradient", dict(weights=np.zeros((4, 3))), ValueError, r"weights has shape \(4, 3\)"),
    ("sampled_policy_gradient", dict(weights=np.zeros(4)), ValueError, "weights must have 2 dimensions"),
    ("sampled_policy_gradient", dict(weights=np.full((4, 2), np.nan)), ValueError, "weights contains NaN"),
    ("sampled_policy_gradient", dict(discount_steps="no"), TypeError, "discount_steps must be True or False"),
    ("sampled_policy_gradient", dict(per_episode=1), TypeError, "per_episode must be True or False"),
    ("sampled_policy_gradient", dict(mdp=tb.two_state_mdp(), policy=UNIFORM2), ValueError,
     "episodes.states holds indices outside"),
    ("two_state_mdp", dict(gamma=1.0), ValueError, "gamma must be < 1"),
    ("two_state_mdp", dict(gamma=2.0), ValueError, r"gamma must lie in \[0, 1\]"),
    ("two_state_mdp", dict(gamma=None), TypeError, "gamma must be a float"),
    ("chain_mdp", dict(n=1), ValueError, "n must be an integer >= 2"),
    ("chain_mdp", dict(n=3.0), ValueError, "n must be an integer >= 2"),
    ("chain_mdp", dict(slip=1.0), ValueError, r"slip must lie in \[0, 1\)"),
    ("chain_mdp", dict(slip=-0.1), ValueError, r"slip must lie in \[0, 1\]"),
    ("chain_mdp", dict(gamma=1.01), ValueError, r"gamma must lie in \[0, 1\]"),
    ("chain_mdp", dict(step_reward=float("nan")), ValueError, "step_reward must be a finite number"),
    ("chain_mdp", dict(goal_reward="1"), ValueError, "goal_reward must be a finite number"),
    ("gridworld", dict(layout=["S.Q"]), ValueError, r"layout may contain only"),
    ("gridworld", dict(layout=["S.G", ".."]), ValueError, "layout rows must be non-empty and of equal length"),
    ("gridworld", dict(layout="S.G"), TypeError, "layout must be a non-empty sequence of strings"),
    ("gridworld", dict(layout=[]), TypeError, "layout must be a non-empty sequence of strings"),
    ("gridworld", dict(layout=["GX"]), ValueError, "layout has no non-terminal cell"),
    ("gridworld", dict(slip=1.5), ValueError, r"slip must lie in \[0, 1\]"),
    ("gridworld", dict(pit_reward=float("-inf")), ValueError, "pit_reward must be a finite number"),
    ("gridworld", dict(gamma=True), TypeError, "gamma must be a float"),
    ("grid_values", dict(values=[1.0, 2.0, 3.0]), ValueError, "values has shape .* the layout has 2 non-wall"),
    ("grid_values", dict(values=[1.0, np.nan]), ValueError, "values contains NaN"),
    ("grid_values", dict(layout=[".#", "G"]), ValueError, "layout rows must be non-empty and of equal length"),
]


@pytest.mark.parametrize("name, kwargs, exc, message", _ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(_ROWS)])
def test_bad_inputs_are_named(name, kwargs, exc, message):
    args = dict(_BASE[name])
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        getattr(tb, name)(**args)


def test_every_public_function_has_bad_input_rows():
    assert {r[0] for r in _ROWS} == set(tb.__all__) - {"EpisodeBatch"}
