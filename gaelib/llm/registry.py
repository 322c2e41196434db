r"""Advantage estimators for language models, registered by name.

A trainer picks its estimator by name (``get_estimator("grpo")``) instead of an
``elif`` chain, as verl does with ``register_adv_est`` / ``get_adv_estimator_fn``:
a new estimator is one decorated function next to its definition, and the RLHF
trainer, the benchmarks and the notebooks find it without further edits.

Every registered estimator has the same call signature, so a caller can switch
between them without knowing which arguments each one reads:

.. code-block:: python

    est = get_estimator(name)
    advantages, returns = est(rewards, mask, values=values, gamma=1.0, lam=0.95,
                              lam_critic=None, groups=4)

* ``rewards``: ``[batch, tokens]`` token rewards (score on the last valid token, KL
  penalty included: :func:`gaelib.llm.token_rewards`). The critic-free estimators use
  each row's masked sum as the sequence return :math:`R_i`, as verl does.
* ``mask``: ``[batch, tokens]`` 0/1.
* ``values``: ``[batch, tokens]`` critic values, read only when ``est.critic`` is True.
* ``gamma``, ``lam``: discount and λ (floats, or ``[batch]`` arrays where the estimator
  allows); ``lam_critic``: λ of the value targets (``None``: the same as ``lam``).
* ``groups``: an int group size or ``[batch]`` group ids, for the group estimators.

It returns a :class:`gaelib.GAEOutput` ``(advantages, returns)``: advantages
``[batch, tokens]`` (0 where ``mask`` is 0, not whitened unless the estimator itself
whitens, as REINFORCE++ does), and the critic's value targets, or ``None`` for a
critic-free estimator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Estimator", "register_estimator", "get_estimator", "estimator_names"]


@dataclass(frozen=True)
class Estimator:
    """A registered advantage estimator: call it like the function it wraps."""

    name: str
    """The name it is registered under (``algorithm.adv_estimator`` in verl's terms)."""
    fn: Callable
    """The function, with the common signature of this module's docstring."""
    critic: bool
    """Whether it reads ``values`` (and returns value targets) or is critic-free."""

    def __call__(self, rewards, mask, **kwargs):
        return self.fn(rewards, mask, **kwargs)


_REGISTRY: dict[str, Estimator] = {}


def register_estimator(name: str, *, critic: bool):
    """Decorator: register ``fn`` under ``name``; ``critic`` says whether it needs ``values``.

    Registering a second function under a name already taken raises ``ValueError``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")

    def decorate(fn):
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"name {name!r} is already registered (to {_REGISTRY[name].fn.__qualname__})")
        _REGISTRY[name] = Estimator(name, fn, bool(critic))
        return fn

    return decorate


def get_estimator(name: str) -> Estimator:
    """The estimator registered under ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"estimator must be one of {estimator_names()}; got {name!r}") from None


def estimator_names() -> tuple[str, ...]:
    """The registered names, in the order they were registered."""
    return tuple(_REGISTRY)
