"""Tests for gaelib.tiny_lm: the synthetic digit language, the tiny transformer, sampling and the reward."""

import pytest
import torch

from gaelib import tiny_lm
from gaelib.tiny_lm import BOS, EOS, PAD, TinyGPT, ValueModel


def test_sentences_follow_the_grammar():
    x = tiny_lm.sample_sentences(50, torch.Generator().manual_seed(0), min_len=2, max_len=5, context=8)
    assert x.shape == (50, 8) and (x[:, 0] == BOS).all()
    for row in x.tolist():
        end = row.index(EOS)
        assert 2 <= end - 1 <= 5 and all(t < 10 for t in row[1:end]) and all(t == PAD for t in row[end + 1:])
    with pytest.raises(ValueError, match="max_len"):
        tiny_lm.sample_sentences(2, torch.Generator(), max_len=10, context=8)


def test_model_is_causal_and_value_head_starts_at_zero():
    torch.manual_seed(0)
    m = TinyGPT(tiny_lm.LMConfig(d_model=16, n_layers=1, n_heads=2, context=8))
    a = torch.tensor([[BOS, 1, 2, 3, 4]])
    b = torch.tensor([[BOS, 1, 2, 9, 9]])
    torch.testing.assert_close(m(a)[:, :3], m(b)[:, :3])  # the future does not leak into the past
    assert (ValueModel(m)(a) == 0).all()
    with pytest.raises(ValueError, match="context"):
        m(torch.zeros(1, 9, dtype=torch.long))


def test_generate_and_logprobs_agree():
    torch.manual_seed(0)
    m = TinyGPT(tiny_lm.LMConfig(d_model=16, n_layers=1, n_heads=2, context=12))
    g = torch.Generator().manual_seed(1)
    prompts = tiny_lm.make_prompts(8, g)
    r = tiny_lm.generate(m, prompts, 6, g)
    assert r.shape == (8, 6) and not (r == BOS).any()
    for row in r.tolist():  # PAD only after the first EOS
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1:])
        else:
            assert PAD not in row
    lp = tiny_lm.sequence_log_probs(m, prompts, r)
    assert torch.isfinite(lp).all() and (lp[r == PAD] == 0).all() and (lp[r != PAD] < 0).all()


def test_generation_repeats_with_the_same_generator():
    torch.manual_seed(0)
    m = TinyGPT(tiny_lm.LMConfig(d_model=16, n_layers=1, n_heads=2, context=12))
    p = tiny_lm.make_prompts(4, torch.Generator().manual_seed(0))
    r1 = tiny_lm.generate(m, p, 6, torch.Generator().manual_seed(5))
    r2 = tiny_lm.generate(m, p, 6, torch.Generator().manual_seed(5))
    assert torch.equal(r1, r2)


def test_sortedness_by_hand():
    prompts = torch.tensor([[BOS, 1], [BOS, 5], [BOS, 3], [BOS, 2]])
    responses = torch.tensor([[2, 3, 3, EOS, PAD],     # 1 2 3 3: all 3 pairs in order
                              [4, 6, 7, EOS, PAD],     # 5 4 6 7: 2 of 3
                              [4, EOS, PAD, PAD, PAD],  # 3 4: too short
                              [1, 2, 3, 4, 5]])        # no EOS: 2 1 2 3 4 5, 4 of 5
    s = tiny_lm.sortedness(prompts, responses)
    torch.testing.assert_close(s, torch.tensor([1.0, 2 / 3, 0.0, 0.8]))
    assert tiny_lm.sortedness(prompts[2:3], responses[2:3], min_digits=1).item() == 1.0
    assert tiny_lm.decode(prompts[0], responses[0]) == "1|233."
    assert tiny_lm.decode(prompts[3], responses[3]) == "2|12345…"


def test_pretraining_lowers_the_loss():
    torch.manual_seed(0)
    m = TinyGPT(tiny_lm.LMConfig(d_model=16, n_layers=1, n_heads=2, context=12))
    losses = tiny_lm.pretrain(m, steps=25, batch_size=16, lr=1e-2, generator=torch.Generator().manual_seed(0))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.15
