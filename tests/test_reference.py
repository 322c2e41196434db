"""Tests of the reference implementations against hand-computed values."""

import numpy as np

from gaelib.reference import gae_loop, lambda_returns_bruteforce, nstep_return

R = np.array([1.0, 2.0, 3.0])
NV = np.array([10.0, 20.0, 30.0])      # V(s_1), V(s_2), V(s_3)
NO = np.zeros(3, bool)


def test_nstep_return_by_hand():
    g = 0.5
    assert nstep_return(R, NV, NO, NO, 0, 1, g) == 1 + 0.5 * 10
    assert nstep_return(R, NV, NO, NO, 0, 2, g) == 1 + 0.5 * 2 + 0.25 * 20
    # longer than the data: stops at the end and bootstraps there
    assert nstep_return(R, NV, NO, NO, 1, 5, g) == 2 + 0.5 * 3 + 0.25 * 30
    term = np.array([False, True, False])
    assert nstep_return(R, NV, term, NO, 0, 3, g) == 1 + 0.5 * 2      # no bootstrap after termination
    trunc = np.array([False, True, False])
    assert nstep_return(R, NV, NO, trunc, 0, 3, g) == 1 + 0.5 * 2 + 0.25 * 20


def test_lambda_return_bruteforce_by_hand():
    g, lam = 0.5, 0.5
    out = lambda_returns_bruteforce(R, NV, NO, NO, g, lam)
    # last step: only the one-step return
    assert out[2] == 3 + 0.5 * 30
    # step 1: (1 - lam) G^(1) + lam G^(2)
    assert out[1] == 0.5 * (2 + 0.5 * 20) + 0.5 * (2 + 0.5 * 3 + 0.25 * 30)


def test_gae_loop_by_hand():
    adv, ret = gae_loop(np.array([1.0, 1.0]), np.array([0.0, 0.0]), last_value=2.0, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(adv, [1 + 0.5 * 1 + 0.25 * 2, 1 + 0.5 * 2])
    np.testing.assert_allclose(ret, adv)
