"""Tests for gaelib.integrations.verl: gaelib's estimators with verl's signatures, against verl 0.9.1 itself.

The first part needs no verl (the adapters are plain torch). The rest needs verl
(``pip install --no-deps -r requirements-verl.txt``) and is skipped without it, or fails with
``GAELIB_REQUIRE_VERL=1``.
"""

import importlib.util
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from gaelib import llm
from gaelib.integrations import verl as gv

HAVE_VERL = importlib.util.find_spec("verl") is not None
if not HAVE_VERL and os.environ.get("GAELIB_REQUIRE_VERL") == "1":
    raise ImportError("GAELIB_REQUIRE_VERL=1 but verl is not installed: pip install --no-deps -r requirements-verl.txt")
needs_verl = pytest.mark.skipif(not HAVE_VERL, reason="verl is not installed (requirements-verl.txt)")
VERL_TEST = pathlib.Path(__file__).parent / "third_party" / "verl_0_9_1" / "test_core_algos_on_cpu.py"


class Config(dict):
    """Stands in for verl's AlgoConfig, which has the same ``get``."""


def batch(seed, B, T, padding, dtype=torch.float32):
    """Random rewards, values and a 0/1 float mask: right or left padding, or holes inside responses."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    pos = torch.arange(T)[None, :]
    if padding == "right":
        mask = pos < lengths[:, None]
    elif padding == "left":
        mask = pos >= T - lengths[:, None]
    else:  # holes: tool output inside a response, then right padding
        mask = (pos < lengths[:, None]) & (torch.rand(B, T, generator=g) < 0.7)
        mask[:, 0] = True
    mask = mask.to(dtype)
    rewards = torch.randn(B, T, generator=g, dtype=dtype) * mask
    values = torch.randn(B, T, generator=g, dtype=dtype)
    return rewards, values, mask


# --------------------------------------------------------------------------- without verl


def test_gae_adapter_is_token_gae_whitened():
    r, v, m = batch(0, 6, 9, "holes", torch.float64)
    adv, ret = gv.compute_gae_advantage_return(r, v, m, 0.9, 0.8)
    ref = llm.token_gae(r, v, m, gamma=0.9, lam=0.8)
    torch.testing.assert_close(ret, ref.returns)
    torch.testing.assert_close(adv, llm.masked_whiten(ref.advantages, m))
    # gamma and lam from verl's config when not given, as verl's trainer passes them
    adv2, ret2 = gv.compute_gae_advantage_return(r, v, m, config=Config(gamma=0.9, lam=0.8))
    torch.testing.assert_close(adv2, adv)
    assert adv.dtype == torch.float64 and isinstance(ret, torch.Tensor)


def test_critic_estimators_without_values_explain_verls_generic_path():
    r, _, m = batch(1, 4, 5, "right")
    for fn in (gv.compute_gae_advantage_return, gv.compute_decoupled_gae_advantage_return(),
               gv.compute_vapo_gae_advantage_return()):
        with pytest.raises(ValueError, match="values is None.*patch_builtin_gae"):
            fn(token_level_rewards=r, response_mask=m, config=Config(gamma=1.0, lam=1.0), index=None)


def test_decoupled_and_vapo_adapters():
    r, v, m = batch(2, 5, 8, "right", torch.float64)
    adv, ret = gv.compute_decoupled_gae_advantage_return(1.0)(r, v, m, 1.0, 0.9)
    torch.testing.assert_close(adv, llm.masked_whiten(llm.token_gae(r, v, m, gamma=1.0, lam=0.9).advantages, m))
    torch.testing.assert_close(ret, llm.token_gae(r, v, m, gamma=1.0, lam=1.0).returns)
    lam = llm.length_adaptive_lam(m.sum(-1).numpy(), alpha=0.5)
    adv, ret = gv.compute_vapo_gae_advantage_return(0.5, 1.0)(r, v, m, 1.0, None)
    torch.testing.assert_close(adv, llm.masked_whiten(llm.token_gae(r, v, m, gamma=1.0, lam=lam).advantages, m))
    assert gv.compute_vapo_gae_advantage_return(0.5, 1.0) is gv.compute_vapo_gae_advantage_return(0.5, 1.0)


def test_group_adapters_refuse_a_group_of_one():
    r, _, m = batch(3, 3, 4, "right")
    with pytest.raises(ValueError, match="groups: group 'c' has 1"):
        gv.compute_grpo_outcome_advantage(r, m, np.array(["a", "a", "c"], dtype=object))


def test_patch_builtin_gae_rejects_other_names():
    with pytest.raises(ValueError, match="name must be one of gaelib's GAE estimators"):
        gv.patch_builtin_gae("gaelib_grpo")


# --------------------------------------------------------------------------- against verl 0.9.1


@pytest.fixture
def core_algos():
    from verl.trainer.ppo import core_algos

    return core_algos


@needs_verl
@pytest.mark.parametrize("padding", ["right", "left", "holes"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-7)])
@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (1.0, 0.95), (0.9, 0.7), (0.99, 0.0)])
def test_gae_equals_verls_on_valid_tokens(core_algos, padding, dtype, tol, gamma, lam):
    for seed in range(3):
        r, v, m = batch(seed, 16, 40, padding, dtype)
        want_adv, want_ret = core_algos.compute_gae_advantage_return(r, v, m, gamma, lam)
        adv, ret = gv.compute_gae_advantage_return(r, v, m, gamma, lam)
        valid = m.bool()
        torch.testing.assert_close(adv[valid], want_adv[valid], atol=tol, rtol=tol)
        torch.testing.assert_close(ret[valid], want_ret[valid], atol=tol, rtol=tol)
        assert (adv[~valid] == 0).all() and (ret[~valid] == 0).all()  # verl leaves values there


def _groups(seed, B, G):
    ids = np.repeat(np.array([f"uid-{i}" for i in range(B // G)], dtype=object), G)
    return ids[np.random.default_rng(seed).permutation(B)]


@needs_verl
@pytest.mark.parametrize("padding", ["right", "left", "holes"])
def test_critic_free_estimators_equal_verls(core_algos, padding):
    """Where the conventions agree (groups of >= 2, no empty response), verl's built-ins and gaelib's agree."""
    for seed in range(3):
        r, _, m = batch(seed, 24, 30, padding)
        index = _groups(seed, 24, 4)
        cfg = core_algos.AlgoConfig(gamma=0.95, lam=1.0) if hasattr(core_algos, "AlgoConfig") else None
        pairs = [
            (core_algos.compute_grpo_outcome_advantage(r, m, index),
             gv.compute_grpo_outcome_advantage(r, m, index)),
            (core_algos.compute_grpo_outcome_advantage(r, m, index, norm_adv_by_std_in_grpo=False),
             gv.compute_grpo_outcome_advantage(r, m, index, norm_adv_by_std_in_grpo=False)),
            (core_algos.compute_rloo_outcome_advantage(r, m, index),
             gv.compute_rloo_outcome_advantage(r, m, index)),
            (core_algos.compute_reinforce_plus_plus_baseline_outcome_advantage(r, m, index),
             gv.compute_reinforce_plus_plus_baseline_outcome_advantage(r, m, index)),
            (core_algos.compute_reinforce_plus_plus_outcome_advantage(r, m, config=cfg),
             gv.compute_reinforce_plus_plus_outcome_advantage(r, m, config=cfg)),
        ]
        for k, ((want_a, want_r), (a, ret)) in enumerate(pairs):
            torch.testing.assert_close(a, want_a, atol=2e-5, rtol=2e-5, msg=f"estimator {k}")
            torch.testing.assert_close(ret, want_r, atol=2e-5, rtol=2e-5, msg=f"estimator {k}")


@needs_verl
def test_register_puts_gaelib_in_verls_registry(core_algos):
    names = gv.register()
    assert gv.register() == names  # a second call with the same settings is a no-op
    for name, fn in gv.estimators().items():
        assert core_algos.get_adv_estimator_fn(name) is fn
    # verl 0.9.1's compute_advantage calls a registered estimator with these keyword arguments
    r, _, m = batch(4, 8, 12, "right")
    index = _groups(4, 8, 2)
    cfg = core_algos.AlgoConfig(gamma=1.0, lam=1.0, norm_adv_by_std_in_grpo=False)
    adv, _ = core_algos.get_adv_estimator_fn("gaelib_grpo")(token_level_rewards=r, response_mask=m, config=cfg,
                                                             index=index)
    want, _ = core_algos.compute_grpo_outcome_advantage(r, m, index, norm_adv_by_std_in_grpo=False)
    torch.testing.assert_close(adv, want, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="values is None"):
        core_algos.get_adv_estimator_fn("gaelib_gae")(token_level_rewards=r, response_mask=m, config=cfg, index=index)


@needs_verl
def test_patch_builtin_gae_makes_verls_gae_branch_run_gaelib(core_algos):
    original = gv.patch_builtin_gae()
    try:
        assert core_algos.compute_gae_advantage_return is gv.compute_gae_advantage_return
        assert original is not gv.compute_gae_advantage_return
    finally:
        core_algos.compute_gae_advantage_return = original


@needs_verl
def test_verl_loads_the_plugin_entry_point(tmp_path):
    """The ``verl.plugins`` entry point of pyproject.toml, installed as metadata, registers on ``import verl``."""
    text = (pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points."verl.plugins"]\n' in text and 'gaelib = "gaelib.integrations.verl_plugin"' in text
    dist = tmp_path / "gaelib_plugin_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gaelib-plugin-probe\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[verl.plugins]\ngaelib = gaelib.integrations.verl_plugin\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(pathlib.Path(__file__).parents[1])]),
               VERL_USE_EXTERNAL_PLUGINS="gaelib", GAELIB_VERL_GAE="gaelib_decoupled_gae")
    code = ("import verl\nfrom verl.trainer.ppo import core_algos\n"
            "print(core_algos.get_adv_estimator_fn('gaelib_grpo').__module__)\n"
            "print(core_algos.compute_gae_advantage_return.__name__)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["gaelib.integrations.verl", "gaelib_decoupled_gae"]  # registered, and gae patched


@pytest.fixture
def verl_test_module():
    """verl's own test file, loaded as a separate module whose names can be substituted."""
    spec = importlib.util.spec_from_file_location("verl_core_algos_test_with_gaelib", VERL_TEST)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_verl
def test_verls_own_tests_pass_with_gaelib_substituted(verl_test_module):
    """verl's GAE test with gaelib's GAE; its 'vectorized equals loop' tests with gaelib as the vectorized side."""
    mod = verl_test_module
    mod.compute_gae_advantage_return = gv.compute_gae_advantage_return
    mod.compute_grpo_vectorized_outcome_advantage = gv.compute_grpo_outcome_advantage
    mod.compute_rloo_vectorized_outcome_advantage = gv.compute_rloo_outcome_advantage
    random.seed(0)
    for _ in range(5):  # the GAE test draws γ, λ and the values at masked positions at random
        mod.test_multi_turn_compute_gae_advantage_return()
    for params in [(64, 128, 5, 0), (128, 256, 8, 1), (512, 512, 10, 2)]:  # verl's parametrisation
        mod.test_rloo_and_vectorized_equivalence(*params)
        mod.test_grpo_and_vectorized_equivalence(*params)
    mod.test_grpo_vectorized_matches_original_for_low_variance_rewards()
