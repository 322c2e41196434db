"""Tests for gaelib.llm: token-level estimators for language models (batch-major, masked), and their registry."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gaelib
from gaelib import llm

# --------------------------------------------------------------------------- a hand-computed batch
# Row 0: two tokens and EOS, then one pad. KL (k1) 0.2, -0.1, 0.3; score 1; beta 0.1; values 0.5, 0.6, 0.8.
#   rewards  = -0.02, 0.01, -0.03 + 1 = 0.97
#   deltas   = -0.02 + 0.6 - 0.5 = 0.08,  0.01 + 0.8 - 0.6 = 0.21,  0.97 + 0 - 0.8 = 0.17
#   A (0.95) = 0.08 + 0.95 * 0.3715 = 0.432925,  0.21 + 0.95 * 0.17 = 0.3715,  0.17
#   returns  = A + V = 0.932925, 0.9715, 0.97
# Row 1: one token and EOS; KL 0, 0; score 0.5; values 0.2, 0.4.
#   rewards = 0, 0.5; deltas = 0 + 0.4 - 0.2 = 0.2, 0.5 - 0.4 = 0.1; A = 0.2 + 0.095 = 0.295, 0.1
KL = np.array([[0.2, -0.1, 0.3, 7.0], [0.0, 0.0, 5.0, 5.0]])
MASK = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
SCORES = np.array([1.0, 0.5])
VALUES = np.array([[0.5, 0.6, 0.8, 9.9], [0.2, 0.4, -3.0, 2.0]])  # garbage at pads on purpose


def test_hand_computed_rewards():
    r = llm.token_rewards(SCORES, KL, MASK, kl_coef=0.1)
    np.testing.assert_allclose(r, [[-0.02, 0.01, 0.97, 0.0], [0.0, 0.5, 0.0, 0.0]], atol=1e-12)


def test_hand_computed_gae_and_targets():
    r = llm.token_rewards(SCORES, KL, MASK, kl_coef=0.1)
    adv, ret = llm.token_gae(r, VALUES, MASK, gamma=1.0, lam=0.95)
    np.testing.assert_allclose(adv, [[0.432925, 0.3715, 0.17, 0.0], [0.295, 0.1, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(ret, [[0.932925, 0.9715, 0.97, 0.0], [0.495, 0.5, 0.0, 0.0]], atol=1e-12)


def test_lam_one_gives_reward_to_go_minus_value():
    r = llm.token_rewards(SCORES, KL, MASK, kl_coef=0.1)
    adv, ret = llm.token_gae(r, VALUES, MASK, gamma=1.0, lam=1.0)
    rtg = np.cumsum(r[:, ::-1], axis=1)[:, ::-1] * MASK
    np.testing.assert_allclose(ret, rtg, atol=1e-12)
    np.testing.assert_allclose(adv, (rtg - VALUES) * MASK, atol=1e-12)


# --------------------------------------------------------------------------- relation to the time-major core


def _random_batch(rng, B, T, right_padded=True):
    lengths = rng.integers(1, T + 1, size=B)
    mask = np.arange(T)[None, :] < lengths[:, None]
    if not right_padded:
        mask = rng.random((B, T)) < 0.7
        mask[np.arange(B), rng.integers(0, T, B)] = True
    rewards = rng.normal(size=(B, T))
    values = rng.normal(size=(B, T))
    return rewards, values, mask


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 5), T=st.integers(1, 7),
       gamma=st.floats(0, 1), lam=st.floats(0, 1))
def test_token_gae_equals_core_gae_transposed(seed, B, T, gamma, lam):
    """Right padding: token_gae == gaelib.gae on [T, B], terminated at the last valid token, V after it 0."""
    rng = np.random.default_rng(seed)
    rewards, values, mask = _random_batch(rng, B, T)
    adv, ret = llm.token_gae(rewards, values, mask, gamma=gamma, lam=lam)
    terminated = np.zeros((B, T), bool)
    terminated[np.arange(B), llm.last_token_index(mask)] = True
    core_adv, core_ret = gaelib.gae(rewards.T, values.T, last_value=np.zeros(B), terminated=terminated.T,
                                    gamma=gamma, lam=lam)
    np.testing.assert_allclose(adv, core_adv.T * mask, atol=1e-10)
    np.testing.assert_allclose(ret, core_ret.T * mask, atol=1e-10)


def _skip_loop(rewards, values, mask, gamma, lam):
    """The masked recursion written out (the verl convention): masked tokens carry V and A through."""
    B, T = rewards.shape
    adv = np.zeros((B, T))
    next_v = np.zeros(B)
    next_a = np.zeros(B)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        a = delta + gamma * lam * next_a
        m = mask[:, t]
        next_v = np.where(m, values[:, t], next_v)
        next_a = np.where(m, a, next_a)
        adv[:, t] = np.where(m, a, 0.0)
    return adv


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 5), T=st.integers(1, 8),
       gamma=st.floats(0, 1), lam=st.floats(0, 1))
def test_interior_masks_are_skipped(seed, B, T, gamma, lam):
    rng = np.random.default_rng(seed)
    rewards, values, mask = _random_batch(rng, B, T, right_padded=False)
    adv, _ = llm.token_gae(rewards, values, mask, gamma=gamma, lam=lam)
    np.testing.assert_allclose(adv, _skip_loop(rewards, values, mask, gamma, lam), atol=1e-10)


def test_padding_invariance():
    """Extra pad columns, with any finite rewards and values in them, change nothing."""
    rng = np.random.default_rng(0)
    rewards, values, mask = _random_batch(rng, 4, 5)
    adv, ret = llm.token_gae(rewards, values, mask, gamma=1.0, lam=0.9)
    pad = rng.normal(size=(4, 3)) * 100
    adv2, ret2 = llm.token_gae(np.hstack([rewards, pad]), np.hstack([values, pad]),
                               np.hstack([mask, np.zeros((4, 3), bool)]), gamma=1.0, lam=0.9)
    np.testing.assert_allclose(adv2[:, :5], adv)
    np.testing.assert_allclose(ret2[:, :5], ret)
    assert (adv2[:, 5:] == 0).all() and (ret2[:, 5:] == 0).all()


def test_per_sequence_lam_equals_rows_run_separately():
    rng = np.random.default_rng(1)
    rewards, values, mask = _random_batch(rng, 3, 6)
    lam = np.array([0.0, 0.5, 1.0])
    adv, _ = llm.token_gae(rewards, values, mask, gamma=1.0, lam=lam)
    for i in range(3):
        a_i, _ = llm.token_gae(rewards[i:i + 1], values[i:i + 1], mask[i:i + 1], gamma=1.0, lam=float(lam[i]))
        np.testing.assert_allclose(adv[i], a_i[0])


def test_torch_parity_and_type():
    rng = np.random.default_rng(2)
    rewards, values, mask = _random_batch(rng, 3, 5)
    adv, ret = llm.token_gae(rewards, values, mask, gamma=1.0, lam=0.95)
    tadv, tret = llm.token_gae(torch.tensor(rewards, dtype=torch.float32), torch.tensor(values, dtype=torch.float32),
                               torch.tensor(mask), gamma=1.0, lam=0.95)
    assert isinstance(tadv, torch.Tensor) and tadv.dtype == torch.float32
    np.testing.assert_allclose(tadv.numpy(), adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tret.numpy(), ret, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- VC-PPO and VAPO


def test_decoupled_gae():
    rng = np.random.default_rng(3)
    rewards, values, mask = _random_batch(rng, 3, 6)
    adv, ret = llm.decoupled_gae(rewards, values, mask, gamma=1.0, lam_actor=0.9, lam_critic=1.0)
    np.testing.assert_allclose(adv, llm.token_gae(rewards, values, mask, gamma=1.0, lam=0.9).advantages)
    rtg = np.cumsum((rewards * mask)[:, ::-1], axis=1)[:, ::-1] * mask
    np.testing.assert_allclose(ret, rtg, atol=1e-12)  # λ_critic = 1: Monte Carlo targets
    same = llm.decoupled_gae(rewards, values, mask, gamma=1.0, lam_actor=0.7, lam_critic=0.7)
    ref = llm.token_gae(rewards, values, mask, gamma=1.0, lam=0.7)
    np.testing.assert_allclose(same.advantages, ref.advantages)
    np.testing.assert_allclose(same.returns, ref.returns)


def test_length_adaptive_lam():
    lam = llm.length_adaptive_lam(np.array([1, 2, 10, 1000]), alpha=0.05)
    np.testing.assert_allclose(lam, [0.0, 0.0, 0.0, 0.98])  # 1/(0.05*1000) = 0.02; short ones clip to 0
    lam = llm.length_adaptive_lam(np.array([5, 10]), alpha=2.0)
    np.testing.assert_allclose(lam, [0.9, 0.95])
    # the effective horizon 1/(1-λ) equals α l
    np.testing.assert_allclose(1 / (1 - lam), [10.0, 20.0])
    with pytest.raises(ValueError, match="alpha"):
        llm.length_adaptive_lam(np.array([5]), alpha=0.0)
    with pytest.raises(ValueError, match="positive"):
        llm.length_adaptive_lam(np.array([0, 5]), alpha=1.0)


# --------------------------------------------------------------------------- KL, masks, rewards


def test_kl_estimators():
    lp = np.array([[-1.0, -2.0]])
    rp = np.array([[-1.5, -1.0]])
    rho = lp - rp  # 0.5, -1.0
    np.testing.assert_allclose(llm.kl_penalty(log_probs=lp, ref_log_probs=rp, kind="k1"), rho)
    np.testing.assert_allclose(llm.kl_penalty(lp, rp, kind="k2"), 0.5 * rho**2)
    np.testing.assert_allclose(llm.kl_penalty(lp, rp, kind="k3"), np.exp(-rho) - 1 + rho)
    assert (llm.kl_penalty(lp, rp, kind="k3") >= 0).all()
    np.testing.assert_allclose(llm.kl_penalty(lp, rp, np.array([[1, 0]]), kind="k1"), [[0.5, 0.0]])
    with pytest.raises(ValueError, match="kind"):
        llm.kl_penalty(lp, rp, kind="k4")


def test_k1_and_k3_estimate_the_kl():
    """Sampling from p, the means of k1 and k3 approach KL(p || q)."""
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.2])
    q = np.array([0.2, 0.3, 0.5])
    a = rng.choice(3, size=200_000, p=p)
    lp, lq = np.log(p[a])[None, :], np.log(q[a])[None, :]
    kl = float((p * np.log(p / q)).sum())
    assert abs(llm.kl_penalty(lp, lq, kind="k1").mean() - kl) < 0.01
    assert abs(llm.kl_penalty(lp, lq, kind="k3").mean() - kl) < 0.01


def test_response_mask_and_last_token():
    tokens = np.array([[4, 2, 0, 0], [4, 4, 4, 4], [2, 0, 2, 0]])
    m = llm.response_mask(tokens, eos_id=2)
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    np.testing.assert_array_equal(llm.last_token_index(m), [1, 3, 0])
    tm = llm.response_mask(torch.tensor(tokens), eos_id=2)
    assert isinstance(tm, torch.Tensor) and tm.dtype == torch.bool


def test_token_rewards_sum_is_the_regularised_objective():
    rng = np.random.default_rng(4)
    _, _, mask = _random_batch(rng, 5, 6, right_padded=False)
    kl = rng.normal(size=(5, 6))
    scores = rng.normal(size=5)
    r = llm.token_rewards(scores, kl, mask, kl_coef=0.3)
    np.testing.assert_allclose(r.sum(1), scores - 0.3 * (kl * mask).sum(1))
    assert (r[~mask] == 0).all()
    last = llm.last_token_index(mask)
    np.testing.assert_allclose(r[np.arange(5), last], scores - 0.3 * kl[np.arange(5), last])


# --------------------------------------------------------------------------- whitening


def test_masked_whiten_ignores_pads():
    x = np.array([[1.0, 2.0, 3.0, 100.0]])
    m = np.array([[1, 1, 1, 0]])
    np.testing.assert_allclose(llm.masked_whiten(x, m), [[-1.0, 0.0, 1.0, 0.0]], atol=1e-7)
    x2 = x.copy()
    x2[0, 3] = -1e6
    np.testing.assert_allclose(llm.masked_whiten(x2, m), llm.masked_whiten(x, m))


def test_masked_whiten_statistics_and_options():
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, size=(4, 6))
    _, _, m = _random_batch(rng, 4, 6, right_padded=False)
    w = llm.masked_whiten(x, m, eps=0.0)
    v = w[m.astype(bool)]
    assert abs(v.mean()) < 1e-12 and abs(v.std(ddof=1) - 1) < 1e-12
    wb = llm.masked_whiten(x, m, unbiased=False, eps=0.0)[m.astype(bool)]
    assert abs(wb.std(ddof=0) - 1) < 1e-12  # OpenRLHF's convention
    xs = x[m.astype(bool)]
    keep = llm.masked_whiten(x, m, shift_mean=False, eps=0.0)[m.astype(bool)]
    np.testing.assert_allclose(keep, (xs - xs.mean()) / xs.std(ddof=1) + xs.mean())
    np.testing.assert_allclose(llm.masked_var(x, m), xs.var(ddof=1))
    np.testing.assert_allclose(llm.masked_mean(x, m), xs.mean())


def test_masked_var_needs_two_elements():
    with pytest.raises(ValueError, match="at least 2"):
        llm.masked_var(np.array([[1.0, 2.0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="mask selects 0 element"):
        llm.masked_mean(np.array([[1.0, 2.0]]), np.array([[0, 0]]))


# --------------------------------------------------------------------------- critic-free estimators

M2 = np.ones((4, 3))


def test_grpo_hand_computed():
    scores = np.array([1.0, 0.0, 3.0, 3.0])  # groups {1, 0} and {3, 3}
    a = llm.grpo_advantages(scores, 2, M2)
    # group 0: mean 0.5, unbiased std sqrt(0.5); group 1: mean 3, std 0
    np.testing.assert_allclose(a[:, 0], [0.5 / (np.sqrt(0.5) + 1e-6), -0.5 / (np.sqrt(0.5) + 1e-6), 0, 0])
    np.testing.assert_allclose(llm.grpo_advantages(scores, 2, M2, scale_by_std=False)[:, 0], [0.5, -0.5, 0, 0])
    assert (a == a[:, :1]).all()  # the same advantage for every token of a response


def test_rloo_hand_computed_and_group_ids():
    scores = np.array([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])
    a = llm.rloo_advantages(scores, 3, np.ones((6, 2)))
    np.testing.assert_allclose(a[:, 0], [1 - 4, 2 - 3.5, 6 - 1.5, 0 - 1.5, 0 - 1.5, 3 - 0])
    ids = np.array([7, 7, 7, 2, 2, 2])
    np.testing.assert_allclose(llm.rloo_advantages(scores, ids, np.ones((6, 2))), a)
    shuffled = np.array([0, 3, 1, 4, 2, 5])
    np.testing.assert_allclose(llm.rloo_advantages(scores[shuffled], ids[shuffled], np.ones((6, 2))), a[shuffled])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_groups=st.integers(1, 4), G=st.integers(2, 6))
def test_rloo_is_dr_grpo_times_g_over_g_minus_1(seed, n_groups, G):
    rng = np.random.default_rng(seed)
    B = n_groups * G
    scores = rng.normal(size=B)
    mask = rng.random((B, 4)) < 0.8
    mask[:, 0] = True  # every response has a token (an empty one is refused)
    rloo = llm.rloo_advantages(scores, G, mask)
    dr = llm.grpo_advantages(scores, G, mask, scale_by_std=False)
    np.testing.assert_allclose(rloo, dr * G / (G - 1), atol=1e-12)
    assert (rloo[~mask] == 0).all()


def test_reinforce_pp_is_whitened_reward_to_go():
    rng = np.random.default_rng(6)
    rewards, _, mask = _random_batch(rng, 4, 5)
    a = llm.reinforce_pp_advantages(rewards, mask, gamma=1.0)
    rtg = np.cumsum((rewards * mask)[:, ::-1], axis=1)[:, ::-1] * mask
    np.testing.assert_allclose(a, llm.masked_whiten(rtg, mask))
    # REINFORCE++ is GAE with a zero critic and λ = 1, whitened
    zero_critic = llm.token_gae(rewards, np.zeros_like(rewards), mask, gamma=1.0, lam=1.0).advantages
    np.testing.assert_allclose(a, llm.masked_whiten(zero_critic, mask))


def test_reinforce_pp_with_baseline():
    rewards = np.array([[0.0, 1.0], [0.0, 3.0], [2.0, 0.0], [0.0, 0.0]])
    mask = np.array([[1, 1], [1, 1], [1, 0], [1, 1]])
    a = llm.reinforce_pp_advantages(rewards, mask, gamma=1.0, groups=2)
    centred = np.array([-1.0, 1.0, 1.0, -1.0])[:, None] * mask
    np.testing.assert_allclose(a, llm.masked_whiten(centred, mask))


# --------------------------------------------------------------------------- the registry


def test_registry_names_and_output_type():
    assert llm.estimator_names()[:6] == ("gae", "grpo", "drgrpo", "rloo", "reinforce_pp", "reinforce")
    assert [llm.get_estimator(n).critic for n in ("gae", "grpo", "reinforce")] == [True, False, False]
    out = llm.token_gae(np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2)), gamma=1.0, lam=1.0)
    assert type(out) is gaelib.GAEOutput  # one output type for every advantage estimator


def test_registered_estimators_equal_the_functions():
    rng = np.random.default_rng(7)
    rewards, values, mask = _random_batch(rng, 6, 5, right_padded=False)
    R = (rewards * mask).sum(1)
    kw = dict(values=values, gamma=0.9, lam=0.8, groups=3)
    adv, ret = llm.get_estimator("gae")(rewards, mask, **kw)
    ref = llm.token_gae(rewards, values, mask, gamma=0.9, lam=0.8)
    np.testing.assert_array_equal(adv, ref.advantages)
    np.testing.assert_array_equal(ret, ref.returns)
    dec = llm.get_estimator("gae")(rewards, mask, **kw, lam_critic=1.0)
    np.testing.assert_array_equal(dec.returns, llm.token_gae(rewards, values, mask, gamma=0.9, lam=1.0).returns)
    expected = {
        "grpo": llm.grpo_advantages(R, 3, mask),
        "drgrpo": llm.grpo_advantages(R, 3, mask, scale_by_std=False),
        "rloo": llm.rloo_advantages(R, 3, mask),
        "reinforce_pp": llm.reinforce_pp_advantages(rewards, mask, gamma=0.9),
        "reinforce": R[:, None] * mask,
    }
    for name, want in expected.items():
        adv, ret = llm.get_estimator(name)(rewards, mask, **kw)
        np.testing.assert_allclose(adv, want, atol=1e-12, err_msg=name)
        assert ret is None


def test_register_and_look_up():
    with pytest.raises(ValueError, match="estimator must be one of"):
        llm.get_estimator("ppo")
    with pytest.raises(ValueError, match="'gae' is already registered"):
        llm.register_estimator("gae", critic=True)(lambda rewards, mask, **kw: None)
    with pytest.raises(ValueError, match="name must be"):
        llm.register_estimator("", critic=False)
    with pytest.raises(ValueError, match="values is required"):
        llm.get_estimator("gae")(np.zeros((1, 2)), np.ones((1, 2)))


# --------------------------------------------------------------------------- bad inputs


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match="values has shape"):
        llm.token_gae(np.zeros((2, 3)), np.zeros((2, 4)), np.ones((2, 3)), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="mask has shape"):
        llm.token_gae(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((3, 2)), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match=r"batch-major \[batch, tokens\]"):
        llm.token_gae(np.zeros(3), np.zeros(3), np.ones(3), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="scores has shape"):
        llm.token_rewards(np.zeros(3), np.zeros((2, 3)), np.ones((2, 3)), kl_coef=0.1)


def test_bad_values():
    r, v = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match="row 1 has no valid token"):
        llm.token_gae(r, v, np.array([[1, 0, 0], [0, 0, 0]]), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="mask must contain only"):
        llm.token_gae(r, v, np.full((2, 3), 2), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="lam must lie in"):
        llm.token_gae(r, v, np.ones((2, 3)), gamma=1.0, lam=1.5)
    with pytest.raises(ValueError, match=r"lam has shape \(3,\)"):
        llm.token_gae(r, v, np.ones((2, 3)), gamma=1.0, lam=np.full(3, 0.9))
    with pytest.raises(TypeError, match="floating-point"):
        llm.token_gae(np.zeros((2, 3), int), v, np.ones((2, 3)), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="NaN"):
        llm.token_gae(np.full((2, 3), np.nan), v, np.ones((2, 3)), gamma=1.0, lam=0.9)
    with pytest.raises(TypeError, match="mixed numpy and torch"):
        llm.token_gae(torch.zeros(2, 3), v, np.ones((2, 3)), gamma=1.0, lam=0.9)
    with pytest.raises(ValueError, match="kl_coef"):
        llm.token_rewards(np.zeros(2), r, np.ones((2, 3)), kl_coef=-0.1)


def test_bad_groups():
    with pytest.raises(ValueError, match="at least 2 samples"):
        llm.grpo_advantages(np.zeros(3), np.array([0, 0, 1]), np.ones((3, 2)))
    with pytest.raises(ValueError, match="divide the batch size"):
        llm.rloo_advantages(np.zeros(5), 2, np.ones((5, 2)))
    with pytest.raises(ValueError, match="one row per score"):
        llm.rloo_advantages(np.zeros(4), 2, np.ones((3, 2)))
