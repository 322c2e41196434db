"""Tests of gaelib's core estimators: hand-computed cases, identities, parity, bad inputs."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaelib import discounted_cumsum, gae, lambda_returns, next_state_values, td_residuals
from gaelib.reference import gae_loop, lambda_returns_bruteforce, nstep_return

# --------------------------------------------------------------------------- a 2 x 5 case by hand
# Two environments, five steps, gamma = 0.5, lam = 0.5 (so gamma * lam = 0.25).
#   env 0: terminates after step 1; a new episode runs steps 2..4; the rollout ends after step 4.
#   env 1: truncated (time limit) after step 2, final observation value 4.0; new episode 3..4.
R = np.array([[1.0, 2.0, 0.0, 1.0, 1.0],
              [0.0, 1.0, 2.0, 0.0, 4.0]]).T          # [T=5, N=2]
V = np.array([[1.0, 1.0, 2.0, 2.0, 2.0],
              [2.0, 2.0, 2.0, 1.0, 1.0]]).T
TERM = np.zeros((5, 2), bool); TERM[1, 0] = True
TRUNC = np.zeros((5, 2), bool); TRUNC[2, 1] = True
LAST = np.array([4.0, 2.0])
NEXT = np.array([[1.0, 0.0, 2.0, 2.0, 4.0],           # next value at step 1 is ignored (terminated)
                 [2.0, 2.0, 4.0, 1.0, 2.0]]).T         # step 2: V(final obs) = 4, not values[3] = 1
# delta_t = r_t + 0.5 * (1 - term_t) * V(s_{t+1}) - V(s_t)
DELTA = np.array([[1 + 0.5 - 1, 2 - 1, 0 + 1 - 2, 1 + 1 - 2, 1 + 2 - 2],
                  [0 + 1 - 2, 1 + 1 - 2, 2 + 2 - 2, 0 + 0.5 - 1, 4 + 1 - 1]]).T
#  env 0: delta = [0.5, 1, -1, 0, 1]; A_4 = 1, A_3 = 0 + .25 = .25, A_2 = -1 + .0625 = -.9375,
#         A_1 = 1 (terminated: cut), A_0 = .5 + .25 = .75
#  env 1: delta = [-1, 0, 2, -.5, 4];  A_4 = 4, A_3 = -.5 + 1 = .5, A_2 = 2 (truncated: cut),
#         A_1 = 0 + .5 = .5, A_0 = -1 + .125 = -.875
ADV = np.array([[0.75, 1.0, -0.9375, 0.25, 1.0],
                [-0.875, 0.5, 2.0, 0.5, 4.0]]).T


def test_hand_computed_td_residuals():
    d = td_residuals(R, V, next_values=NEXT, terminated=TERM, truncated=TRUNC, gamma=0.5)
    np.testing.assert_allclose(d, DELTA)


def test_hand_computed_gae_and_returns():
    adv, ret = gae(R, V, next_values=NEXT, terminated=TERM, truncated=TRUNC, gamma=0.5, lam=0.5)
    np.testing.assert_allclose(adv, ADV)
    np.testing.assert_allclose(ret, ADV + V)


def test_hand_computed_lambda_returns():
    g = lambda_returns(R, V, next_values=NEXT, terminated=TERM, truncated=TRUNC, gamma=0.5, lam=0.5)
    np.testing.assert_allclose(g, ADV + V)


def test_next_state_values_builds_the_truncation_bootstrap():
    final = np.zeros((5, 2)); final[2, 1] = 4.0
    nv = next_state_values(V, LAST, truncated=TRUNC, final_values=final)
    expected = NEXT.copy(); expected[1, 0] = V[2, 0]   # terminated step keeps values[t+1]: ignored anyway
    np.testing.assert_allclose(nv, expected)


def test_truncation_inside_rollout_needs_next_values():
    with pytest.raises(ValueError, match=r"truncated\[2\].*next_values"):
        gae(R, V, last_value=LAST, terminated=TERM, truncated=TRUNC, gamma=0.5, lam=0.5)


def test_truncation_at_last_step_with_last_value_is_fine():
    trunc = np.zeros((5, 2), bool); trunc[-1] = True
    a1, _ = gae(R, V, last_value=LAST, truncated=trunc, gamma=0.9, lam=0.9)
    a2, _ = gae(R, V, last_value=LAST, gamma=0.9, lam=0.9)
    np.testing.assert_allclose(a1, a2)


def test_seed_article_worked_example():
    # Section 4.3: r = (1, 0), V = 0, gamma = 0.9, lam = 0.5 -> A(s1, a1) = 1.
    adv, _ = gae(np.array([1.0, 0.0]), np.zeros(2), last_value=0.0, gamma=0.9, lam=0.5)
    np.testing.assert_allclose(adv, [1.0, 0.0])


# --------------------------------------------------------------------------- random episodes


@st.composite
def rollouts(draw, max_t=12):
    T = draw(st.integers(1, max_t))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    shape = (T, *batch)
    p_end = draw(st.sampled_from([0.0, 0.2, 0.5]))
    term = rng.random(shape) < p_end
    trunc = (rng.random(shape) < p_end) & ~term
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
    lam = draw(st.sampled_from([0.0, 0.3, 0.95, 1.0]))
    values = rng.normal(size=shape)
    # Consistent data: V(s_(t+1)) is values[t+1] inside an episode; at an episode end (and after
    # the last step) it is the value of a final observation that is not in `values`.
    next_values = np.concatenate([values[1:], rng.normal(size=(1, *batch))], axis=0)
    ends = term | trunc
    next_values[ends] = rng.normal(size=int(ends.sum()))
    return dict(rewards=rng.normal(size=shape), values=values, next_values=next_values,
                terminated=term, truncated=trunc, gamma=gamma, lam=lam)


def _flat_columns(d):
    T = d["rewards"].shape[0]
    return [{k: (v.reshape(T, -1)[:, j] if isinstance(v, np.ndarray) else v) for k, v in d.items()}
            for j in range(int(np.prod(d["rewards"].shape[1:], dtype=int)))]


@settings(max_examples=150, deadline=None)
@given(rollouts())
def test_gae_plus_values_is_lambda_return_from_nstep_returns(d):
    adv, ret = gae(**d)
    T = d["rewards"].shape[0]
    for j, col in enumerate(_flat_columns(d)):
        brute = lambda_returns_bruteforce(col["rewards"], col["next_values"], col["terminated"],
                                          col["truncated"], col["gamma"], col["lam"])
        np.testing.assert_allclose(ret.reshape(T, -1)[:, j], brute, atol=1e-9, rtol=1e-9)
    np.testing.assert_allclose(lambda_returns(**d), ret, atol=1e-10)


@settings(max_examples=100, deadline=None)
@given(rollouts())
def test_gae_matches_reference_loop(d):
    adv, ret = gae(**d)
    ref_adv, ref_ret = gae_loop(**d)
    np.testing.assert_allclose(adv, ref_adv, atol=1e-10)
    np.testing.assert_allclose(ret, ref_ret, atol=1e-10)


@settings(max_examples=100, deadline=None)
@given(rollouts())
def test_lambda_zero_is_td_residual(d):
    d["lam"] = 0.0
    adv, _ = gae(**d)
    kw = {k: v for k, v in d.items() if k != "lam"}
    np.testing.assert_allclose(adv, td_residuals(**kw), atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(rollouts())
def test_gamma_zero_is_reward_minus_value(d):
    d["gamma"] = 0.0
    adv, _ = gae(**d)
    np.testing.assert_allclose(adv, d["rewards"] - d["values"], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(rollouts())
def test_lambda_one_is_discounted_return_minus_value(d):
    d["lam"] = 1.0
    adv, _ = gae(**d)
    T = d["rewards"].shape[0]
    for j, col in enumerate(_flat_columns(d)):
        mc = [nstep_return(col["rewards"], col["next_values"], col["terminated"], col["truncated"],
                           t, T, col["gamma"]) for t in range(T)]
        np.testing.assert_allclose(adv.reshape(T, -1)[:, j], np.array(mc) - col["values"], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(rollouts())
def test_episode_boundaries_cut_the_sum(d):
    """Changing anything after an episode end leaves the advantages before it unchanged."""
    ends = d["terminated"] | d["truncated"]
    T = ends.shape[0]
    adv, _ = gae(**d)
    d2 = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}
    cols = ends.reshape(T, -1)
    for j in range(cols.shape[1]):
        hits = np.flatnonzero(cols[:, j])
        if len(hits) and hits[0] < T - 1:
            t0 = hits[0]
            for k in ("rewards", "values", "next_values"):
                d2[k].reshape(T, -1)[t0 + 1:, j] += 100.0
    adv2, _ = gae(**d2)
    for j in range(cols.shape[1]):
        hits = np.flatnonzero(cols[:, j])
        if len(hits):
            t0 = hits[0]
            np.testing.assert_allclose(adv2.reshape(T, -1)[: t0 + 1, j], adv.reshape(T, -1)[: t0 + 1, j])


@settings(max_examples=60, deadline=None)
@given(rollouts())
def test_discounted_cumsum_is_monte_carlo_return(d):
    done = d["terminated"] | d["truncated"]
    g = discounted_cumsum(d["rewards"], d["gamma"], done=done)
    T = d["rewards"].shape[0]
    zeros = np.zeros(T)
    for j, col in enumerate(_flat_columns(d)):
        mc = [nstep_return(col["rewards"], zeros, done.reshape(T, -1)[:, j], zeros.astype(bool),
                           t, T, col["gamma"]) for t in range(T)]
        np.testing.assert_allclose(g.reshape(T, -1)[:, j], mc, atol=1e-9)


def test_discounted_cumsum_example():
    np.testing.assert_allclose(discounted_cumsum(np.array([1.0, 1.0, 1.0]), 0.5), [1.75, 1.5, 1.0])


# --------------------------------------------------------------------------- per-step and per-sequence parameters


def test_per_sequence_lambda_equals_separate_calls():
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    lv = rng.normal(size=3)
    lams = np.array([0.0, 0.5, 1.0])
    adv, _ = gae(r, v, last_value=lv, gamma=0.9, lam=lams)
    for j, lam in enumerate(lams):
        a_j, _ = gae(r[:, j], v[:, j], last_value=lv[j], gamma=0.9, lam=float(lam))
        np.testing.assert_allclose(adv[:, j], a_j)


def test_per_step_gamma_matches_loop():
    rng = np.random.default_rng(1)
    r, v, nv = (rng.normal(size=(7, 2)) for _ in range(3))
    g = rng.uniform(0.5, 1.0, size=(7, 2))
    lam = rng.uniform(0.0, 1.0, size=(7, 2))
    adv, _ = gae(r, v, next_values=nv, gamma=g, lam=lam)
    expected = np.zeros((7, 2)); nxt = np.zeros(2)
    for t in reversed(range(7)):
        nxt = r[t] + g[t] * nv[t] - v[t] + g[t] * lam[t] * nxt
        expected[t] = nxt
    np.testing.assert_allclose(adv, expected)


# --------------------------------------------------------------------------- torch


def test_torch_matches_numpy_and_keeps_dtype():
    for dtype in (torch.float32, torch.float64):
        args = dict(next_values=torch.tensor(NEXT, dtype=dtype), terminated=torch.tensor(TERM),
                    truncated=torch.tensor(TRUNC), gamma=0.5, lam=0.5)
        adv, ret = gae(torch.tensor(R, dtype=dtype), torch.tensor(V, dtype=dtype), **args)
        assert isinstance(adv, torch.Tensor) and adv.dtype == dtype and ret.dtype == dtype
        np.testing.assert_allclose(adv.numpy(), ADV, rtol=1e-6)
        d = td_residuals(torch.tensor(R, dtype=dtype), torch.tensor(V, dtype=dtype),
                         **{k: a for k, a in args.items() if k != "lam"})
        np.testing.assert_allclose(d.numpy(), DELTA, rtol=1e-6)


def test_torch_float_dones_and_float16():
    adv, _ = gae(torch.tensor(R, dtype=torch.float16), torch.tensor(V, dtype=torch.float16),
                 next_values=torch.tensor(NEXT, dtype=torch.float16),
                 terminated=torch.tensor(TERM, dtype=torch.float32),
                 truncated=torch.tensor(TRUNC, dtype=torch.float32), gamma=0.5, lam=0.5)
    assert adv.dtype == torch.float16
    np.testing.assert_allclose(adv.float().numpy(), ADV, atol=1e-2)


def test_torch_targets_carry_no_gradient():
    values = torch.tensor(V, requires_grad=True)
    next_values = torch.tensor(NEXT, requires_grad=True)
    adv, ret = gae(torch.tensor(R), values, next_values=next_values, terminated=torch.tensor(TERM),
                   truncated=torch.tensor(TRUNC), gamma=0.5, lam=0.5)
    assert not adv.requires_grad and not ret.requires_grad
    # The critic's loss then differentiates only through its prediction, not its target.
    loss = ((values - ret) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(values.grad.numpy(), 2 * (V - (ADV + V)))
    assert next_values.grad is None


# --------------------------------------------------------------------------- numerics


def test_float32_long_rollout_is_finite_and_close_to_float64():
    """T = 100 000 steps in float32 stays within 1e-4 (relative to the largest |A|) of float64."""
    rng = np.random.default_rng(0)
    T, N = 100_000, 4
    r = rng.normal(size=(T, N)); v = rng.normal(size=(T, N)); lv = rng.normal(size=N)
    term = rng.random((T, N)) < 1e-4
    a64, _ = gae(r, v, last_value=lv, terminated=term, gamma=0.999, lam=0.99)
    a32, _ = gae(r.astype(np.float32), v.astype(np.float32), last_value=lv.astype(np.float32),
                 terminated=term, gamma=0.999, lam=0.99)
    assert a32.dtype == np.float32 and np.isfinite(a32).all()
    err = np.abs(a32 - a64).max() / np.abs(a64).max()
    assert err < 1e-4, err


def test_result_dtype_promotes_float32_and_float64():
    adv, _ = gae(R.astype(np.float32), V, next_values=NEXT, gamma=0.5, lam=0.5)
    assert adv.dtype == np.float64


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(values=np.zeros((5, 1))), ValueError, r"values has shape \(5, 1\) but rewards has shape \(5,\)"),
    (dict(last_value=np.zeros(2)), ValueError, r"last_value has shape \(2,\)"),
    (dict(last_value=None), ValueError, "exactly one of last_value"),
    (dict(next_values=np.zeros(5)), ValueError, "exactly one of last_value"),
    (dict(rewards=np.arange(5)), TypeError, "rewards must be a floating-point array; got dtype int"),
    (dict(values=np.arange(5)), TypeError, "values must be a floating-point"),
    (dict(rewards=np.array([1.0, np.nan, 0, 0, 0])), ValueError, "rewards contains NaN"),
    (dict(values=np.array([1.0, np.inf, 0, 0, 0])), ValueError, "values contains NaN or infinite"),
    (dict(last_value=np.float64(np.nan)), ValueError, "last_value contains NaN"),
    (dict(gamma=1.5), ValueError, r"gamma must lie in \[0, 1\]; got 1.5"),
    (dict(lam=-0.1), ValueError, r"lam must lie in \[0, 1\]"),
    (dict(lam=float("nan")), ValueError, r"lam must lie in \[0, 1\]"),
    (dict(lam=np.full(4, 0.5)), ValueError, r"lam has shape \(4,\)"),
    (dict(gamma=np.array([0.5, 2.0, 0.5, 0.5, 0.5])), ValueError, r"gamma must lie in \[0, 1\]"),
    (dict(gamma=True), TypeError, "gamma must be a float"),
    (dict(terminated=np.zeros(4, bool)), ValueError, r"terminated has shape \(4,\)"),
    (dict(terminated=np.array([0, 2, 0, 0, 0])), ValueError, "terminated must contain only True/False"),
    (dict(rewards=np.zeros(0), values=np.zeros(0)), ValueError, "rewards is empty"),
    (dict(rewards=np.float64(1.0), values=np.float64(1.0)), ValueError, "must have a time axis"),
])
def test_bad_inputs_are_named(kwargs, exc, message):
    args = dict(rewards=np.ones(5), values=np.zeros(5), last_value=np.float64(0.0), gamma=0.9, lam=0.9)
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        gae(**args)


def test_mixed_libraries_rejected():
    with pytest.raises(TypeError, match="mixed numpy and torch"):
        gae(torch.ones(3), np.zeros(3), last_value=0.0, gamma=0.9, lam=0.9)


def test_torch_nan_rejected():
    with pytest.raises(ValueError, match="values contains NaN"):
        gae(torch.ones(3), torch.tensor([0.0, float("nan"), 0.0]), last_value=0.0, gamma=0.9, lam=0.9)


def test_discounted_cumsum_bad_inputs():
    with pytest.raises(ValueError, match=r"done has shape \(2,\)"):
        discounted_cumsum(np.ones(3), 0.9, done=np.zeros(2, bool))
    with pytest.raises(ValueError, match=r"discount must lie in \[0, 1\]"):
        discounted_cumsum(np.ones(3), 1.1)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        discounted_cumsum(np.ones(3, int), 0.5)


def test_next_state_values_bad_inputs():
    with pytest.raises(ValueError, match="give truncated and final_values together"):
        next_state_values(np.zeros((3, 2)), np.zeros(2), truncated=np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match=r"last_value has shape \(3,\)"):
        next_state_values(np.zeros((3, 2)), np.zeros(3))


# --------------------------------------------------------------------------- batch-major (transposed) inputs


@pytest.mark.parametrize("variant", ["last_value", "next_values", "per_step", "per_sequence", "torch"])
def test_sequence_major_path_matches_time_major(variant):
    """[batch, tokens] arrays passed as .T take a kernel that walks each row; same results."""
    rng = np.random.default_rng(7)
    B, L = 5, 9
    r, v, nv = (rng.normal(size=(B, L)) for _ in range(3))   # batch-major, C-contiguous
    term = rng.random((B, L)) < 0.15
    trunc = (rng.random((B, L)) < 0.15) & ~term
    kw = dict(terminated=term.T, truncated=trunc.T, gamma=0.9, lam=0.8)
    if variant == "last_value":
        kw.update(last_value=rng.normal(size=B), truncated=None)
    else:
        kw.update(next_values=nv.T)
    if variant == "per_step":
        kw.update(gamma=rng.uniform(size=(B, L)).T, lam=rng.uniform(size=(B, L)).T)
    if variant == "per_sequence":
        kw.update(lam=rng.uniform(size=B))
    args = (r.T, v.T)
    if variant == "torch":
        args = tuple(torch.from_numpy(x) for x in args)
        kw = {k: (torch.from_numpy(np.asarray(x)) if isinstance(x, np.ndarray) else x) for k, x in kw.items()}
    assert not np.asarray(args[0]).flags.c_contiguous
    adv, ret = gae(*args, **kw)
    # the same data, copied to C-contiguous time-major arrays, takes the [T, M] kernels
    copy = lambda x: np.ascontiguousarray(np.asarray(x)) if x is not None and not isinstance(x, float) else x
    adv2, ret2 = gae(*(copy(a) for a in args), **{k: copy(x) for k, x in kw.items()})
    np.testing.assert_allclose(np.asarray(adv), adv2, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ret), ret2, atol=1e-12)
    ref, _ = gae_loop(*(copy(a) for a in args), **{k: copy(x) for k, x in kw.items()})
    np.testing.assert_allclose(adv2, ref, atol=1e-12)
