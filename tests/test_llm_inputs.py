"""gaelib.llm at the edges: the cases that used to give silent wrong results, and a table of bad inputs.

Each silent case of issue 12 is either an error that names the argument (a row of the table
below) or documented behaviour with a test here.
"""

import warnings

import numpy as np
import pytest
import torch

from gaelib import llm

# --------------------------------------------------------------------------- group estimators


def test_grpo_all_equal_group_is_exactly_zero_for_any_eps():
    scores = np.array([0.1, 0.1, 0.1, 1.0, 2.0, 3.0])  # 0.1 * 3 / 3 != 0.1 in floating point
    mask = np.ones((6, 2))
    for eps in (0.0, 1e-6, 1.0):
        a = llm.grpo_advantages(scores, 3, mask, eps=eps)
        assert (a[:3] == 0).all(), eps
        assert np.isfinite(a).all()
    # the other group is unaffected: (R - mean) / (std + 0) = -1, 0, 1
    np.testing.assert_allclose(llm.grpo_advantages(scores, 3, mask, eps=0.0)[3:, 0], [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("big", [1e200, -1e200, 1e300])
def test_group_estimators_handle_huge_scores(big):
    """Scores near the float maximum: GRPO is scale-free, RLOO and Dr. GRPO scale with the scores."""
    s = np.array([1.0, 2.0, 4.0, -1.0, 0.5, 0.25])
    m = np.ones((6, 3))
    np.testing.assert_allclose(llm.grpo_advantages(s * big, 3, m, eps=0.0),
                               np.sign(big) * llm.grpo_advantages(s, 3, m, eps=0.0), rtol=1e-12)
    np.testing.assert_allclose(llm.rloo_advantages(s * big, 3, m), llm.rloo_advantages(s, 3, m) * big, rtol=1e-12)
    np.testing.assert_allclose(llm.grpo_advantages(s * big, 3, m, scale_by_std=False),
                               llm.grpo_advantages(s, 3, m, scale_by_std=False) * big, rtol=1e-12)


def test_float32_scores_whose_squares_overflow_float32():
    s = torch.tensor([1e30, 3e30, -2e30, 5e30], dtype=torch.float32)
    a = llm.grpo_advantages(s, 2, torch.ones(4, 2))
    assert a.dtype == torch.float32 and torch.isfinite(a).all()
    np.testing.assert_allclose(a[:, 0].numpy(), [-0.7071, 0.7071, -0.7071, 0.7071], atol=1e-4)


def test_advantages_that_overflow_raise():
    with pytest.raises(ValueError, match="score"):
        llm.rloo_advantages(np.array([1.7e308, -1.7e308]), 2, np.ones((2, 1)))


# --------------------------------------------------------------------------- masked statistics


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_masked_statistics_never_read_masked_entries(bad):
    x = np.array([[1.0, 2.0, 4.0, bad]])
    m = np.array([[1, 1, 1, 0]])
    clean = np.array([[1.0, 2.0, 4.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" warning either
        assert llm.masked_mean(x, m) == llm.masked_mean(clean, m)
        assert llm.masked_var(x, m) == llm.masked_var(clean, m)
        np.testing.assert_array_equal(llm.masked_whiten(x, m), llm.masked_whiten(clean, m))
        t = llm.masked_whiten(torch.tensor(x), torch.tensor(m))
    assert torch.isfinite(t).all() and t[0, 3] == 0


def test_masked_mean_float16_accumulates_without_overflow():
    x = np.full((100, 100), 60000.0, dtype=np.float16)  # the sum, 6e8, is far beyond float16's 65504
    mu = llm.masked_mean(x, np.ones_like(x, dtype=bool))
    assert mu.dtype == np.float16 and mu == np.float16(60000.0)
    tmu = llm.masked_mean(torch.tensor(x), torch.ones(100, 100, dtype=torch.bool))
    assert tmu.dtype == torch.float16 and float(tmu) == 60000.0


def test_masked_var_that_overflows_its_dtype_raises():
    x = np.array([60000.0, -60000.0], dtype=np.float16)  # variance 7.2e9 > float16 max
    with pytest.raises(ValueError, match="x is too large"):
        llm.masked_var(x, np.ones(2, bool))


def test_masked_mean_and_var_are_0d_in_both_libraries():
    x, m = np.array([[1.0, 2.0, 3.0]]), np.array([[1, 1, 0]])
    for f in (llm.masked_mean, llm.masked_var):
        assert f(x, m).shape == ()
        assert tuple(f(torch.tensor(x), torch.tensor(m)).shape) == ()


def test_masked_whiten_huge_values_and_eps_zero():
    x = np.array([[1.0, 2.0, 3.0, 9.0]])
    m = np.array([[1, 1, 1, 0]])
    np.testing.assert_allclose(llm.masked_whiten(x * 1e300, m), llm.masked_whiten(x, m, eps=0.0), rtol=1e-12)
    np.testing.assert_allclose(llm.masked_whiten(x, m, eps=0.0), [[-1.0, 0.0, 1.0, 0.0]], atol=1e-15)


# --------------------------------------------------------------------------- KL and rewards


def test_k3_is_zero_at_masked_positions_even_when_it_would_overflow():
    lp = np.array([[-1.0, -1000.0]])
    rp = np.array([[-1.5, -0.1]])  # k3 at the pad: exp(999.9) overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k3 = llm.kl_penalty(lp, rp, np.array([[1, 0]]), kind="k3")
    np.testing.assert_allclose(k3, [[np.expm1(-0.5) + 0.5, 0.0]])
    with pytest.raises(ValueError, match="log_probs - ref_log_probs"):
        llm.kl_penalty(lp, rp, kind="k3")  # the same token, valid: a clear error instead of inf


def test_token_rewards_overflow_raises():
    with pytest.raises(ValueError, match="kl_coef"):
        llm.token_rewards(np.zeros(1), np.array([[1e300, 0.0]]), np.ones((1, 2)), kl_coef=1e10)


# --------------------------------------------------------------------------- REINFORCE++ discounts per valid token


def test_reinforce_pp_discounts_once_per_valid_token():
    rewards = np.array([[1.0, 5.0, 3.0], [1.0, 1.0, 1.0]])
    mask = np.array([[1, 0, 1], [1, 1, 1]])
    # row 0: the hole is skipped, G = [1 + 0.5 * 3, -, 3] (per position it would be 1 + 0.25 * 3)
    G = np.array([[2.5, 0.0, 3.0], [1.75, 1.5, 1.0]])
    a = llm.reinforce_pp_advantages(rewards, mask, gamma=0.5)
    np.testing.assert_allclose(a, llm.masked_whiten(G, mask), atol=1e-12)
    per_position = np.array([[1.75, 0.0, 3.0], [1.75, 1.5, 1.0]])
    assert not np.allclose(a, llm.masked_whiten(per_position, mask))


# --------------------------------------------------------------------------- the table of bad inputs

R = np.zeros((2, 3))
V = np.zeros((2, 3))
M = np.ones((2, 3))
S = np.array([1.0, 2.0])
LP = np.full((2, 3), -1.0)
S4 = np.array([1.0, 2.0, 3.0, 4.0])
M4 = np.ones((4, 3))


def _gae(**kw):
    args = dict(rewards=R, values=V, mask=M, gamma=1.0, lam=0.9)
    args.update(kw)
    return llm.token_gae(args.pop("rewards"), args.pop("values"), args.pop("mask"), **args)


def _dec(**kw):
    args = dict(rewards=R, values=V, mask=M, gamma=1.0, lam_actor=0.9, lam_critic=1.0)
    args.update(kw)
    return llm.decoupled_gae(args.pop("rewards"), args.pop("values"), args.pop("mask"), **args)


def _kl(**kw):
    args = dict(log_probs=LP, ref_log_probs=LP, mask=None, kind="k1")
    args.update(kw)
    return llm.kl_penalty(**args)


def _rew(**kw):
    args = dict(scores=S, kl=R, mask=M, kl_coef=0.1)
    args.update(kw)
    return llm.token_rewards(**args)


def _grpo(**kw):
    args = dict(scores=S4, groups=2, mask=M4)
    args.update(kw)
    return llm.grpo_advantages(**args)


def _rloo(**kw):
    args = dict(scores=S4, groups=2, mask=M4)
    args.update(kw)
    return llm.rloo_advantages(**args)


def _rpp(**kw):
    args = dict(rewards=np.ones((4, 3)), mask=M4, gamma=1.0)
    args.update(kw)
    return llm.reinforce_pp_advantages(**args)


def _mw(**kw):
    args = dict(x=np.array([[1.0, 2.0, 3.0]]), mask=np.ones((1, 3)))
    args.update(kw)
    return llm.masked_whiten(**args)


_nan = np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]])
_hole_row = np.array([[1, 1, 1], [0, 0, 0]])

BAD = [
    # token_gae
    (lambda: _gae(rewards=np.zeros(3)), ValueError, "rewards"),
    (lambda: _gae(rewards=np.zeros((2, 0)), values=np.zeros((2, 0)), mask=np.ones((2, 0))), ValueError, "rewards"),
    (lambda: _gae(rewards=R.astype(int)), TypeError, "rewards"),
    (lambda: _gae(rewards=_nan), ValueError, "rewards"),
    (lambda: _gae(values=np.zeros((2, 4))), ValueError, "values"),
    (lambda: _gae(values=np.zeros((2, 3, 1))), ValueError, "values"),
    (lambda: _gae(values=np.full((2, 3), np.inf)), ValueError, "values"),
    (lambda: _gae(mask=np.ones((3, 2))), ValueError, "mask"),
    (lambda: _gae(mask=np.full((2, 3), 2)), ValueError, "mask"),
    (lambda: _gae(mask=_hole_row), ValueError, "mask row 1"),
    (lambda: _gae(mask=np.array([["a"] * 3] * 2)), TypeError, "mask"),
    (lambda: _gae(gamma=-0.1), ValueError, "gamma"),
    (lambda: _gae(gamma=float("nan")), ValueError, "gamma"),
    (lambda: _gae(gamma=True), TypeError, "gamma"),
    (lambda: _gae(lam=1.5), ValueError, "lam"),
    (lambda: _gae(lam=np.full(3, 0.9)), ValueError, "lam"),
    (lambda: _gae(lam=np.array([0.9, 1.2])), ValueError, "lam"),
    (lambda: _gae(lam=np.array([1, 1])), TypeError, "lam"),
    (lambda: _gae(rewards=torch.zeros(2, 3)), TypeError, "rewards"),
    # decoupled_gae
    (lambda: _dec(lam_actor=1.1), ValueError, "lam_actor"),
    (lambda: _dec(lam_critic=-1.0), ValueError, "lam_critic"),
    (lambda: _dec(lam_critic=np.full(5, 0.5)), ValueError, "lam_critic"),
    (lambda: _dec(values=np.zeros((1, 3))), ValueError, "values"),
    (lambda: _dec(gamma=2.0), ValueError, "gamma"),
    # length_adaptive_lam
    (lambda: llm.length_adaptive_lam(np.array([[5]]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([0, 5]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([np.nan]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([np.inf]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([True]), alpha=1.0), ValueError, "lengths"),
    (lambda: llm.length_adaptive_lam(np.array([5]), alpha=0.0), ValueError, "alpha"),
    (lambda: llm.length_adaptive_lam(np.array([5]), alpha=-1.0), ValueError, "alpha"),
    (lambda: llm.length_adaptive_lam(np.array([5]), alpha=float("nan")), ValueError, "alpha"),
    (lambda: llm.length_adaptive_lam(np.array([5]), alpha=True), ValueError, "alpha"),
    (lambda: llm.length_adaptive_lam(np.array([5]), alpha="2"), ValueError, "alpha"),
    # kl_penalty
    (lambda: _kl(kind="k4"), ValueError, "kind"),
    (lambda: _kl(log_probs=np.zeros(3)), ValueError, "log_probs"),
    (lambda: _kl(log_probs=LP.astype(int)), TypeError, "log_probs"),
    (lambda: _kl(log_probs=np.full((2, 3), -np.inf)), ValueError, "log_probs"),
    (lambda: _kl(ref_log_probs=np.zeros((2, 4))), ValueError, "ref_log_probs"),
    (lambda: _kl(ref_log_probs=_nan), ValueError, "ref_log_probs"),
    (lambda: _kl(mask=np.ones((2, 2))), ValueError, "mask"),
    (lambda: _kl(mask=np.full((2, 3), 0.5)), ValueError, "mask"),
    (lambda: _kl(log_probs=np.full((2, 3), -800.0), kind="k3"), ValueError, "log_probs"),
    (lambda: _kl(log_probs=torch.zeros(2, 3)), TypeError, "log_probs"),
    # token_rewards
    (lambda: _rew(kl_coef=-0.1), ValueError, "kl_coef"),
    (lambda: _rew(kl_coef=float("inf")), ValueError, "kl_coef"),
    (lambda: _rew(kl_coef=float("nan")), ValueError, "kl_coef"),
    (lambda: _rew(kl_coef=True), TypeError, "kl_coef"),
    (lambda: _rew(kl_coef="0.1"), TypeError, "kl_coef"),
    (lambda: _rew(kl_coef=np.array([0.1, 0.2])), TypeError, "kl_coef"),
    (lambda: _rew(scores=np.zeros(3)), ValueError, "scores"),
    (lambda: _rew(scores=np.zeros((2, 1))), ValueError, "scores"),
    (lambda: _rew(scores=np.array([1, 2])), TypeError, "scores"),
    (lambda: _rew(scores=np.array([np.nan, 0.0])), ValueError, "scores"),
    (lambda: _rew(kl=np.zeros(3)), ValueError, "kl"),
    (lambda: _rew(kl=_nan), ValueError, "kl"),
    (lambda: _rew(mask=_hole_row), ValueError, "mask row 1"),
    (lambda: _rew(mask=np.ones((2, 4))), ValueError, "mask"),
    # response_mask and last_token_index
    (lambda: llm.response_mask(np.array([1, 2, 3]), eos_id=2), ValueError, "tokens"),
    (lambda: llm.response_mask(np.array([[1.0, 2.0]]), eos_id=2), TypeError, "tokens"),
    (lambda: llm.response_mask(np.array([[1, 2]]), eos_id=2.0), TypeError, "eos_id"),
    (lambda: llm.response_mask(np.array([[1, 2]]), eos_id=None), TypeError, "eos_id"),
    (lambda: llm.last_token_index(np.ones(3)), ValueError, "mask"),
    (lambda: llm.last_token_index(np.array([[1, 2, 0]])), ValueError, "mask"),
    (lambda: llm.last_token_index(_hole_row), ValueError, "mask row 1"),
    # masked_mean, masked_var, masked_whiten
    (lambda: llm.masked_mean(np.array([1, 2]), np.ones(2)), TypeError, "x"),
    (lambda: llm.masked_mean(np.array([1.0, 2.0]), np.ones(3)), ValueError, "mask"),
    (lambda: llm.masked_mean(np.array([1.0, 2.0]), np.zeros(2)), ValueError, "mask selects 0"),
    (lambda: llm.masked_mean(np.array([1.0, np.nan]), np.ones(2)), ValueError, "x contains NaN"),
    (lambda: llm.masked_mean(np.array([1.0, 2.0]), np.array([1, 3])), ValueError, "mask"),
    (lambda: llm.masked_var(np.array([1.0, 2.0]), np.array([1, 0])), ValueError, "mask selects 1"),
    (lambda: llm.masked_var(np.array([1.0, np.inf]), np.ones(2)), ValueError, "x contains NaN"),
    (lambda: llm.masked_var(np.array(["a", "b"]), np.ones(2)), TypeError, "x"),
    (lambda: _mw(eps=-1e-8), ValueError, "eps"),
    (lambda: _mw(eps=float("inf")), ValueError, "eps"),
    (lambda: _mw(eps=None), TypeError, "eps"),
    (lambda: _mw(x=np.array([[2.0, 2.0, 2.0]]), eps=0.0), ValueError, "eps=0"),
    (lambda: _mw(mask=np.array([[1, 0, 0]])), ValueError, "mask selects 1"),
    (lambda: _mw(x=np.array([[1.0, 2.0, 3.0]]).astype(int)), TypeError, "x"),
    # grpo_advantages
    (lambda: _grpo(eps=-1e-6), ValueError, "eps"),
    (lambda: _grpo(eps=float("nan")), ValueError, "eps"),
    (lambda: _grpo(eps="1e-6"), TypeError, "eps"),
    (lambda: _grpo(groups=3), ValueError, "groups=3"),
    (lambda: _grpo(groups=1), ValueError, "groups=1"),
    (lambda: _grpo(groups=0), ValueError, "groups=0"),
    (lambda: _grpo(groups=True), ValueError, "groups"),
    (lambda: _grpo(groups=np.array([0, 0, 1, 2])), ValueError, "groups: group 1 has 1"),
    (lambda: _grpo(groups=np.array([0, 0, 1])), ValueError, "groups"),
    (lambda: _grpo(mask=np.array([[1, 1, 1]] * 3 + [[0, 0, 0]])), ValueError, "mask row 3"),
    (lambda: _grpo(mask=np.ones((3, 3))), ValueError, "mask"),
    (lambda: _grpo(mask=np.ones(4)), ValueError, "mask"),
    (lambda: _grpo(scores=np.array([1, 2, 3, 4])), TypeError, "scores"),
    (lambda: _grpo(scores=np.array([1.0, np.inf, 3.0, 4.0])), ValueError, "scores"),
    (lambda: _grpo(scores=np.array([[1.0, 2.0, 3.0, 4.0]])), ValueError, "scores"),
    # rloo_advantages
    (lambda: _rloo(groups=3), ValueError, "groups=3"),
    (lambda: _rloo(groups=np.array([5, 5, 5, 7])), ValueError, "groups: group 7 has 1"),
    (lambda: _rloo(mask=np.array([[0, 0, 0]] + [[1, 1, 1]] * 3)), ValueError, "mask row 0"),
    (lambda: _rloo(scores=np.array([1.0, np.nan, 3.0, 4.0])), ValueError, "scores"),
    (lambda: _rloo(scores=np.array([1.7e308, -1.7e308, 0.0, 0.0])), ValueError, "score"),
    # reinforce_pp_advantages
    (lambda: _rpp(gamma=1.5), ValueError, "gamma"),
    (lambda: _rpp(gamma=np.ones(3)), ValueError, "gamma"),
    (lambda: _rpp(eps=-1.0), ValueError, "eps"),
    (lambda: _rpp(groups=3), ValueError, "groups=3"),
    (lambda: _rpp(rewards=np.ones(4)), ValueError, "rewards"),
    (lambda: _rpp(rewards=np.full((4, 3), np.nan)), ValueError, "rewards"),
    (lambda: _rpp(mask=np.array([[1, 1, 1]] * 3 + [[0, 0, 0]])), ValueError, "mask row 3"),
    (lambda: _rpp(mask=np.ones((4, 2))), ValueError, "mask"),
    # the registry
    (lambda: llm.get_estimator("ppo"), ValueError, "estimator"),
    (lambda: llm.get_estimator(None), ValueError, "estimator"),
    (lambda: llm.register_estimator("", critic=False), ValueError, "name"),
    (lambda: llm.register_estimator(3, critic=False), ValueError, "name"),
    (lambda: llm.register_estimator("grpo", critic=False)(lambda rewards, mask, **kw: None), ValueError, "grpo"),
    (lambda: llm.get_estimator("gae")(R, M, gamma=1.0, lam=1.0), ValueError, "values"),
    (lambda: llm.get_estimator("grpo")(np.ones((4, 3)), M4, groups=None), ValueError, "groups"),
]


@pytest.mark.parametrize("call,exc,argname", BAD, ids=[f"row{i}" for i in range(len(BAD))])
def test_bad_input_names_the_argument(call, exc, argname):
    with pytest.raises(exc, match=argname):
        call()


def test_the_table_covers_every_public_function():
    """Every public name of gaelib.llm that takes input has rows (a check on this file, not on gaelib)."""
    import inspect

    src = inspect.getsource(inspect.getmodule(test_the_table_covers_every_public_function))
    table = src[src.index("BAD = ["):]
    helpers = {"token_gae": "_gae(", "decoupled_gae": "_dec(", "kl_penalty": "_kl(", "token_rewards": "_rew(",
               "grpo_advantages": "_grpo(", "rloo_advantages": "_rloo(", "reinforce_pp_advantages": "_rpp(",
               "masked_whiten": "_mw("}
    for name in llm.__all__:
        if name in ("Estimator", "estimator_names"):  # a type and a function without arguments
            continue
        assert f"llm.{name}(" in table or helpers.get(name, "@@") in table, name
