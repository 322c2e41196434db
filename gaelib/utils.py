"""Reproducibility helpers used at the top of every chapter."""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["seed_everything"]


def seed_everything(seed: int = 0, *, torch_threads: int = 1) -> np.random.Generator:
    """Seed python, numpy and (if installed) torch, and pin torch's thread count.

    One torch thread makes float sums repeat exactly from run to run (two threads
    split reductions differently, and stall on small shared VMs). Gymnasium
    environments are seeded separately, with ``env.reset(seed=...)`` and
    ``env.action_space.seed(...)``.

    In a Jupyter kernel it also makes matplotlib draw figures inline, even when
    the environment sets ``MPLBACKEND=Agg`` (which would otherwise drop every
    figure from the notebook without a warning).

    Args:
        seed: the seed for every generator.
        torch_threads: intra-op threads for torch (default 1).

    Returns:
        A fresh ``numpy.random.Generator`` seeded with ``seed``: pass it around
        rather than using numpy's global state.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    _inline_figures_in_jupyter()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # offscreen rendering, no SDL warning
    try:
        import torch
    except ImportError:  # pragma: no cover
        pass
    else:
        torch.manual_seed(seed)
        torch.set_num_threads(torch_threads)
    return np.random.default_rng(seed)


def _inline_figures_in_jupyter() -> None:
    """Use the inline matplotlib backend when running inside an IPython kernel."""
    import sys

    if "ipykernel" not in sys.modules:
        return
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            shell.run_line_magic("matplotlib", "inline")
    except ImportError:  # pragma: no cover
        pass
