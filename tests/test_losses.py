"""Tests of gaelib.losses: hand-computed values, masks, gradients, and a table of bad inputs."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaelib.losses import approx_kl, clip_fraction, clipped_surrogate_loss, entropy_bonus, value_loss

# ratios 1.5, 0.5, 1.0, 1.1, 0.5 with clip 0.2 and advantages 1, 1, -2, -1, -1:
#   min(1.5, 1.2) = 1.2 (clipped);  min(0.5, 0.8) = 0.5;  -2;  min(-1.1, -1.1) = -1.1;
#   min(-0.5, -0.8) = -0.8 (clipped)  ->  loss = -(1.2 + 0.5 - 2 - 1.1 - 0.8) / 5 = 0.44
RATIOS = torch.tensor([1.5, 0.5, 1.0, 1.1, 0.5], dtype=torch.float64)
ADV = torch.tensor([1.0, 1.0, -2.0, -1.0, -1.0], dtype=torch.float64)
OLD = torch.tensor([-0.3, -1.2, -0.7, -2.0, -0.1], dtype=torch.float64)
NEW = OLD + torch.log(RATIOS)


# --------------------------------------------------------------------------- hand-computed values


def test_clipped_surrogate_by_hand():
    logp = NEW.clone().requires_grad_()
    loss = clipped_surrogate_loss(logp, OLD, ADV, clip_range=0.2)
    assert loss.item() == pytest.approx(0.44)
    loss.backward()
    # d/dlogp of -(rho * A)/B = -rho * A / B where the unclipped term is the minimum, 0 where clipped
    want = -RATIOS * ADV / 5
    want[[0, 4]] = 0.0
    np.testing.assert_allclose(logp.grad, want, atol=1e-12)


def test_clipped_surrogate_at_ratio_one_is_the_policy_gradient():
    logp = OLD.clone().requires_grad_()
    loss = clipped_surrogate_loss(logp, OLD, ADV, clip_range=0.2)
    assert loss.item() == pytest.approx(-ADV.mean().item())
    loss.backward()
    np.testing.assert_allclose(logp.grad, -ADV / 5)


def test_clipped_surrogate_masked_token_mean_by_hand():
    # [B, R] = [2, 3]; valid tokens: row 0 all three, row 1 the first only
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.1, 2.0, 2.0]]))
    adv = torch.tensor([[1.0, 1.0, -2.0], [-1.0, 5.0, 5.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.float32)
    # valid terms: 1.2, 0.5, -2, -1.1 -> loss = -(1.2 + 0.5 - 2 - 1.1) / 4 = 0.35
    loss = clipped_surrogate_loss(logp, torch.zeros(2, 3), adv, clip_range=0.2, mask=mask)
    assert loss.item() == pytest.approx(0.35, rel=1e-6)
    # a bool mask means the same
    assert clipped_surrogate_loss(logp, torch.zeros(2, 3), adv, clip_range=0.2, mask=mask.bool()).item() == \
        pytest.approx(0.35, rel=1e-6)


def test_masked_out_nan_and_inf_do_not_reach_the_value():
    logp = torch.tensor([0.1, float("nan"), 0.0])
    adv = torch.tensor([1.0, float("inf"), -1.0])
    mask = torch.tensor([True, False, True])
    loss = clipped_surrogate_loss(logp, torch.zeros(3), adv, clip_range=0.2, mask=mask)
    want = -(min(math.exp(0.1), 1.2) * 1.0 - 1.0) / 2
    assert loss.item() == pytest.approx(want, rel=1e-6)
    v = torch.tensor([1.0, float("inf")])
    assert value_loss(v, torch.tensor([0.0, 0.0]), mask=torch.tensor([1.0, 0.0])).item() == 1.0


def test_value_loss_plain_and_clipped_by_hand():
    v = torch.tensor([1.0, 2.0, 3.0])
    ret = torch.tensor([0.0, 2.0, 5.0])
    old = torch.tensor([1.5, 2.0, 2.0])
    assert value_loss(v, ret).item() == pytest.approx((1 + 0 + 4) / 3)
    # clip 0.2: clipped predictions 1.3, 2.0, 2.2 -> squared errors 1.69, 0, 7.84; max with 1, 0, 4
    assert value_loss(v, ret, old_values=old, clip_range=0.2).item() == pytest.approx((1.69 + 0 + 7.84) / 3)
    # masked: the first and the last only
    mask = torch.tensor([1.0, 0.0, 1.0])
    assert value_loss(v, ret, old_values=old, clip_range=0.2, mask=mask).item() == \
        pytest.approx((1.69 + 7.84) / 2)


def test_value_loss_gradient_flows_through_the_larger_term():
    # v = 3, old = 2, target 5, clip 0.2: clipped prediction 2.2 gives the larger error (7.84 > 4),
    # and it does not depend on v (clamped), so the gradient is 0; unclipped it is 2 (v - G) = -4
    v = torch.tensor([3.0], requires_grad=True)
    value_loss(v, torch.tensor([5.0]), old_values=torch.tensor([2.0]), clip_range=0.2).backward()
    assert v.grad.item() == 0.0
    v.grad = None
    value_loss(v, torch.tensor([5.0])).backward()
    assert v.grad.item() == pytest.approx(-4.0)


def test_kl_clip_fraction_entropy_by_hand():
    want = np.mean([(r - 1) - math.log(r) for r in RATIOS.tolist()])
    assert approx_kl(NEW, OLD).item() == pytest.approx(want)
    assert approx_kl(OLD, OLD).item() == 0.0
    assert clip_fraction(NEW, OLD, clip_range=0.2).item() == pytest.approx(3 / 5)  # 1.5, 0.5 and 0.5
    mask = torch.tensor([0, 0, 1, 1, 0])  # ratios 1.0 and 1.1: none outside [0.8, 1.2]
    assert clip_fraction(NEW, OLD, clip_range=0.2, mask=mask).item() == 0.0
    assert approx_kl(NEW, OLD, mask=mask).item() == pytest.approx((0.1 - math.log(1.1)) / 2)
    assert entropy_bonus(torch.tensor([0.5, 1.0, 3.0]), mask=torch.tensor([1, 1, 0])).item() == 0.75
    assert not approx_kl(NEW.requires_grad_(), OLD).requires_grad


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=8), st.floats(0.01, 1.0), st.integers(0, 2 ** 16))
def test_properties_kl_nonnegative_and_loss_bounded_by_unclipped(log_ratios, eps, seed):
    """KL estimate >= 0; the clipped objective is a pessimistic bound: loss >= -mean(rho * A)."""
    g = torch.Generator().manual_seed(seed)
    lr = torch.tensor(log_ratios, dtype=torch.float64)
    adv = torch.randn(len(log_ratios), generator=g, dtype=torch.float64)
    old = torch.zeros_like(lr)
    assert approx_kl(lr, old).item() >= 0.0
    loss = clipped_surrogate_loss(lr, old, adv, clip_range=eps)
    assert loss.item() >= -(torch.exp(lr) * adv).mean().item() - 1e-12
    assert 0.0 <= clip_fraction(lr, old, clip_range=eps).item() <= 1.0


# --------------------------------------------------------------------------- bad inputs

B = torch.zeros(4)
B2 = torch.zeros(4, 1)
INT = torch.zeros(4, dtype=torch.int64)
M = torch.ones(4)

BAD = [
    # (function, args, kwargs, exception, the argument the message must name)
    (clipped_surrogate_loss, (B, B, B2), {"clip_range": 0.2}, ValueError, "advantages"),  # [B] vs [B, 1]
    (clipped_surrogate_loss, (B2, B, B), {"clip_range": 0.2}, ValueError, "old_log_probs"),
    (clipped_surrogate_loss, (B, B2, B), {"clip_range": 0.2}, ValueError, "old_log_probs"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": 0.0}, ValueError, "clip_range"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": -0.2}, ValueError, "clip_range"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": float("nan")}, ValueError, "clip_range"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": "0.2"}, ValueError, "clip_range"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": 0.2, "mask": torch.ones(4, 1)}, ValueError, "mask"),
    (clipped_surrogate_loss, (torch.zeros(2, 3),) * 3, {"clip_range": 0.2, "mask": torch.ones(3)}, ValueError,
     "mask"),  # a [R] mask for [B, R] inputs
    (clipped_surrogate_loss, (B, B, B), {"clip_range": 0.2, "mask": torch.zeros(4)}, ValueError, "mask"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": 0.2, "mask": torch.full((4,), 0.5)}, ValueError, "mask"),
    (clipped_surrogate_loss, (B, B, B), {"clip_range": 0.2, "mask": [1, 1, 1, 1]}, TypeError, "mask"),
    (clipped_surrogate_loss, (INT, B, B), {"clip_range": 0.2}, TypeError, "log_probs"),
    (clipped_surrogate_loss, (B, B, np.zeros(4)), {"clip_range": 0.2}, TypeError, "advantages"),
    (clipped_surrogate_loss, (torch.zeros(0),) * 3, {"clip_range": 0.2}, ValueError, "log_probs"),
    (value_loss, (B2, B), {}, ValueError, "returns"),  # the seed listing's (T, 1) vs (T,) bug
    (value_loss, (B, B2), {}, ValueError, "returns"),
    (value_loss, (B, B), {"clip_range": 0.2}, ValueError, "old_values"),
    (value_loss, (B, B), {"old_values": B}, ValueError, "old_values"),
    (value_loss, (B, B), {"old_values": B2, "clip_range": 0.2}, ValueError, "old_values"),
    (value_loss, (B, B), {"old_values": B, "clip_range": 0}, ValueError, "clip_range"),
    (value_loss, (B, B), {"mask": torch.ones(3)}, ValueError, "mask"),
    (value_loss, (INT, B), {}, TypeError, "values"),
    (value_loss, (B, INT), {}, TypeError, "returns"),
    (entropy_bonus, (B2,), {"mask": M}, ValueError, "mask"),
    (entropy_bonus, (INT,), {}, TypeError, "entropy"),
    (approx_kl, (B, B2), {}, ValueError, "old_log_probs"),
    (approx_kl, (B, B), {"mask": torch.zeros(4, dtype=torch.bool)}, ValueError, "mask"),
    (clip_fraction, (B, B2), {"clip_range": 0.2}, ValueError, "old_log_probs"),
    (clip_fraction, (B, B), {"clip_range": 0.0}, ValueError, "clip_range"),
    (clip_fraction, (B, B), {"clip_range": 0.2, "mask": M[:2]}, ValueError, "mask"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,name", BAD, ids=[f"{r[0].__name__}-{r[4]}-{i}" for i, r in enumerate(BAD)])
def test_bad_inputs_name_the_argument(fn, args, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        fn(*args, **kwargs)
