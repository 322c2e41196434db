"""Tests of gaelib.utils."""

import numpy as np
import pytest
import torch

from gaelib import seed_everything


def test_seed_everything_repeats_numpy_torch_and_the_returned_generator():
    rng = seed_everything(3)
    a = (np.random.rand(), torch.rand(1).item(), rng.normal())
    rng = seed_everything(3)
    b = (np.random.rand(), torch.rand(1).item(), rng.normal())
    assert a == b
    assert torch.get_num_threads() == 1


def test_seed_everything_rejects_bad_seeds():
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(1.5)
