r"""The checkers' test cases and their answers (the oracle).

Hand-picked edge cases come first, simplest first (a single step, an episode that ends at the
first or the last step, a truncation in the middle, γ = 0, λ = 0 and 1, batch axes), then
random cases from a fixed seed. Each :class:`~gaelib.checkers.engine.Case` carries the
inputs, in the order the student's function takes them, and gaelib's answer.

Episode cases are time-major ``[T, *batch]``; token cases are batch-major ``[batch, tokens]``.
Values are rounded so that a failing case prints readably, and chosen so that each known bug
changes the answer.
"""

from __future__ import annotations

import numpy as np

from gaelib.checkers.engine import Case, as_numpy
from gaelib.reference import _next_values

__all__ = ["reference_gae", "reference_lambda_returns", "reference_td", "reference_token_gae",
           "episode_cases", "cumsum_cases", "token_cases", "shift"]


def shift(values, last):
    """``values[t+1]`` at every step, ``last`` after the final one: :math:`V(s_{t+1})` inside one episode."""
    return _next_values(values, last, None)


# --------------------------------------------------------------------------- the answers


def reference_gae(c):
    from gaelib import gae

    return gae(c["rewards"], c["values"], next_values=c["next_values"], terminated=c["terminated"],
               truncated=c["truncated"], gamma=c["gamma"], lam=c["lam"]).advantages


def reference_lambda_returns(c):
    from gaelib import lambda_returns

    return lambda_returns(c["rewards"], c["values"], next_values=c["next_values"],
                          terminated=c["terminated"], truncated=c["truncated"],
                          gamma=c["gamma"], lam=c["lam"])


def reference_td(c):
    from gaelib import td_residuals

    return td_residuals(c["rewards"], c["values"], next_values=c["next_values"],
                        terminated=c["terminated"], gamma=c["gamma"])


def reference_token_gae(c):
    from gaelib.llm import token_gae

    return token_gae(c["rewards"], c["values"], c["mask"], gamma=c["gamma"], lam=c["lam"]).advantages


# --------------------------------------------------------------------------- episodes, time-major


def _episode_case(description, rewards, values, next_values, terminated=None, truncated=None, *,
                  gamma, lam=None, truncation_arg=True):
    r = np.asarray(rewards, float)
    c = {"rewards": r, "values": np.asarray(values, float), "next_values": np.asarray(next_values, float),
         "terminated": np.zeros(r.shape, bool) if terminated is None else np.asarray(terminated, bool)}
    if truncation_arg:
        c["truncated"] = np.zeros(r.shape, bool) if truncated is None else np.asarray(truncated, bool)
    c["gamma"] = float(gamma)
    if lam is not None:
        c["lam"] = float(lam)
    ctx = {"terminated": c["terminated"]}
    if truncated is not None:
        ctx["truncated"] = np.asarray(truncated, bool)
    return description, c, ctx


def _flags(T, at):
    f = np.zeros(T, bool)
    f[list(at)] = True
    return f


def _hand_episodes(lam: float | None, truncation_arg: bool = True):
    """Hand-picked edge cases, simplest first. Values chosen so each bug changes the answer."""
    g, lm = 0.9, (0.8 if lam is not None else None)
    r4, v4 = [1.0, 0.0, 2.0, 1.0], [0.5, 1.0, -0.5, 2.0]
    nv4 = [1.0, -0.5, 2.0, 1.5]  # values[t+1], and V(s_T) = 1.5 after the last step
    kw = {"gamma": g, "lam": lm, "truncation_arg": truncation_arg}
    cases = [
        _episode_case("T = 1, a single step; the end of the arrays bootstraps from next_values[0]",
                      [1.0], [0.5], [2.0], **kw),
        _episode_case("T = 4, no episode end inside the rollout", r4, v4, nv4, **kw),
        _episode_case("termination at the first step (terminated[0]); next_values[0] is the first state "
                      "of the next episode", r4, v4, nv4, _flags(4, [0]), **kw),
        _episode_case("termination at the last step (terminated[3])", r4, v4, nv4, _flags(4, [3]), **kw),
    ]
    if truncation_arg:
        cases += [
            _episode_case("truncation in the middle (truncated[1], a time limit): next_values[1] = 3.0 is V "
                          "of the final observation, values[2] starts a new episode",
                          r4, v4, [1.0, 3.0, 2.0, 1.5], None, _flags(4, [1]), **kw),
            _episode_case("truncation at the last step (truncated[3])", r4, v4, nv4, None, _flags(4, [3]), **kw),
            _episode_case("a termination (terminated[1]) and a truncation (truncated[3]) in one rollout",
                          [0.0, 1.0, 1.0, 0.0, 2.0], [1.0, 0.5, 0.0, 1.0, 0.5], [0.5, 0.0, 1.0, 4.0, -1.0],
                          _flags(5, [1]), _flags(5, [3]), **kw),
        ]
    else:  # td residuals: no truncated argument, but next_values still matter there
        cases.append(_episode_case(
            "after a time-limit truncation at step 1: next_values[1] = 3.0 is V of the final observation, "
            "values[2] starts a new episode", r4, v4, [1.0, 3.0, 2.0, 1.5], **kw))
    cases.append(_episode_case("gamma = 0: only the immediate reward counts", r4, v4, nv4, _flags(4, [1]),
                               **{**kw, "gamma": 0.0}))
    if lam is not None:
        cases += [
            _episode_case("lam = 0: GAE is the TD residual", r4, v4, nv4, _flags(4, [1]), **{**kw, "lam": 0.0}),
            _episode_case("lam = 1: GAE is the discounted return (bootstrapped at the end) minus V",
                          r4, v4, nv4, _flags(4, [1]), **{**kw, "lam": 1.0}),
            _episode_case("gamma = 1 and lam = 1: reward-to-go minus V", r4, v4, nv4, _flags(4, [2]),
                          **{**kw, "gamma": 1.0, "lam": 1.0}),
        ]
    else:
        cases.append(_episode_case("gamma = 1: no discount", r4, v4, nv4, _flags(4, [2]), **{**kw, "gamma": 1.0}))
    return cases


def _random_episode(rng, T, batch, lam: bool, truncation_arg: bool):
    shape = (T, *batch)
    r = np.round(rng.normal(size=shape), 2)
    v = np.round(rng.normal(size=shape), 2)
    term = rng.random(shape) < 0.15
    trunc = (rng.random(shape) < 0.15) & ~term if truncation_arg else np.zeros(shape, bool)
    final = np.round(rng.normal(size=shape) + 2.0, 2)  # V(final observation) after a truncation
    last = np.round(rng.normal(size=batch), 2)
    nv = np.where(trunc, final, shift(v, last))
    if not truncation_arg:  # time limits still happen: next_values holds V(final obs) there
        nv = np.where(rng.random(shape) < 0.15, final, nv)
    g = float(rng.choice([0.5, 0.9, 0.99, 1.0]))
    lm = float(rng.choice([0.0, 0.5, 0.9, 0.95, 1.0])) if lam else None
    desc = f"random rollout, T = {T}, batch shape {batch}"
    return _episode_case(desc, r, v, nv, term, trunc if truncation_arg else None, gamma=g, lam=lm,
                         truncation_arg=truncation_arg)


def _batched_hand(lam: bool, truncation_arg: bool):
    """The same edge cases side by side: batch shape (3,) and (2, 3)."""
    rng = np.random.default_rng(1234)
    out = []
    for batch in [(3,), (2, 3)]:
        T = 5
        shape = (T, *batch)
        r = np.round(rng.normal(size=shape), 1)
        v = np.round(rng.normal(size=shape), 1)
        term = np.zeros(shape, bool)
        trunc = np.zeros(shape, bool)
        flat_t, flat_tr = term.reshape(T, -1), trunc.reshape(T, -1)
        flat_t[0, 0] = True      # first sequence: terminates at the first step
        flat_t[T - 1, 1] = True  # second: at the last step
        if truncation_arg:
            flat_tr[2, 2] = True  # third: truncated in the middle
        last = np.round(rng.normal(size=batch), 1)
        nv = shift(v, last)
        nv.reshape(T, -1)[2, 2] = 3.0
        out.append(_episode_case(
            f"batch shape {batch}: sequence 0 terminates at t = 0, sequence 1 at t = {T - 1}"
            + (", sequence 2 is truncated at t = 2" if truncation_arg else ""),
            r, v, nv, term, trunc if truncation_arg else None, gamma=0.9, lam=0.8 if lam else None,
            truncation_arg=truncation_arg))
    return out


def episode_cases(reference, *, lam: bool, truncation_arg: bool, n_random: int, seed: int) -> list[Case]:
    """Time-major episode cases: the hand-picked ones, the batched ones, then ``n_random`` random ones.

    Inputs, in order: ``rewards, values, next_values, terminated[, truncated], gamma[, lam]``.
    ``reference(inputs)`` gives the answer.
    """
    raw = _hand_episodes(0.8 if lam else None, truncation_arg) + _batched_hand(lam, truncation_arg)
    rng = np.random.default_rng(seed)
    batches = [(), (4,), (2, 3)]
    for i in range(n_random):
        raw.append(_random_episode(rng, int(rng.integers(1, 11)), batches[i % 3], lam, truncation_arg))
    return [Case(d, c, as_numpy(reference(c)), ctx) for d, c, ctx in raw]


def cumsum_cases(n_random: int, seed: int) -> list[Case]:
    """Cases of ``discounted_cumsum(x, discount, done)``, time-major, answered by gaelib's."""
    from gaelib import discounted_cumsum

    def case(desc, x, discount, done_at=()):
        x = np.asarray(x, float)
        done = np.zeros(x.shape, bool)
        for idx in done_at:
            done[idx] = True
        return desc, {"x": x, "discount": float(discount), "done": done}, {"done": done}

    x4 = [1.0, 2.0, 0.0, 3.0]
    raw = [
        case("T = 1", [2.0], 0.5),
        case("T = 4, no episode end", x4, 0.5),
        case("done at the first step (done[0])", x4, 0.5, [0]),
        case("done at the last step (done[3])", x4, 0.5, [3]),
        case("done in the middle (done[1])", x4, 0.5, [1]),
        case("discount = 0", x4, 0.0, [2]),
        case("discount = 1: a plain sum to the episode's end", x4, 1.0, [1]),
        case("batch shape (3,): done at t = 0, 3 and 1", np.arange(12.0).reshape(4, 3) % 5, 0.9,
             [(0, 0), (3, 1), (1, 2)]),
    ]
    rng = np.random.default_rng(seed)
    batches = [(), (4,), (2, 3)]
    for i in range(n_random):
        T = int(rng.integers(1, 11))
        shape = (T, *batches[i % 3])
        x = np.round(rng.normal(size=shape), 2)
        d, c, ctx = case(f"random, T = {T}, batch shape {batches[i % 3]}", x,
                         float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0])))
        c["done"][...] = rng.random(shape) < 0.2
        raw.append((d, c, ctx))
    return [Case(d, c, as_numpy(discounted_cumsum(c["x"], c["discount"], done=c["done"])), ctx)
            for d, c, ctx in raw]


# --------------------------------------------------------------------------- tokens, batch-major


def token_cases(n_random: int, seed: int, interior_masks: bool) -> list[Case]:
    """Batch-major ``[batch, tokens]`` cases of token-level GAE: ``rewards, values, mask, gamma, lam``.

    Padding tokens carry a critic output of 9.0 (garbage that must not be used).
    ``interior_masks`` adds responses with masked tokens inside them (a tool's output).
    """
    def case(desc, r, v, m, gamma, lam):
        c = {"rewards": np.asarray(r, float), "values": np.asarray(v, float), "mask": np.asarray(m, float),
             "gamma": float(gamma), "lam": float(lam)}
        return Case(desc, c, as_numpy(reference_token_gae(c)), {"mask == 0": c["mask"] == 0}, time_axis=1)

    pad = 9.0  # the critic's output on padding tokens: garbage, never used
    cases = [
        case("one response of one token (B = 1, T = 1)", [[1.0]], [[0.5]], [[1]], 1.0, 0.95),
        case("one response, no padding, gamma = lam = 1: reward-to-go minus V",
             [[0.0, -0.1, 1.0]], [[0.2, 0.4, 0.6]], [[1, 1, 1]], 1.0, 1.0),
        case("two responses, right padding (EOS at t = 1 and t = 3); the critic outputs 9.0 on pads",
             [[0.0, 1.0, 0.0, 0.0], [-0.1, 0.0, 0.0, 2.0]], [[0.5, 0.4, pad, pad], [0.3, 0.2, 0.6, 0.9]],
             [[1, 1, 0, 0], [1, 1, 1, 1]], 1.0, 0.95),
        case("right padding, lam = 0: the TD residual on every token",
             [[0.0, 1.0, 0.0], [0.5, 0.0, 0.0]], [[0.5, 0.4, pad], [0.3, pad, pad]],
             [[1, 1, 0], [1, 0, 0]], 1.0, 0.0),
        case("right padding, gamma = 0.9, lam = 0.8",
             [[0.0, 0.2, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]], [[0.1, 0.2, 0.3, pad], [0.5, 0.5, pad, pad]],
             [[1, 1, 1, 0], [1, 1, 0, 0]], 0.9, 0.8),
    ]
    if interior_masks:
        cases.append(case("multi-turn: tokens 1-2 are a tool's output (mask 0 inside the response); skip "
                          "them, so token 0 bootstraps from V at token 3",
                          [[0.0, 0.0, 0.0, 0.0, 1.0]], [[0.2, pad, pad, 0.6, 0.8]], [[1, 0, 0, 1, 1]], 1.0, 0.95))
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        B, T = int(rng.integers(1, 5)), int(rng.integers(1, 9))
        lengths = rng.integers(1, T + 1, size=B)
        m = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
        if interior_masks and T >= 4 and rng.random() < 0.4:
            row = int(rng.integers(B))
            hole = rng.random(T) < 0.3
            hole[0] = False
            m[row] = np.where(hole, 0.0, m[row])
            if m[row].sum() == 0:
                m[row, 0] = 1.0
        r = np.round(rng.normal(scale=0.1, size=(B, T)), 2) * m
        r[np.arange(B), T - 1 - np.argmax(m[:, ::-1], axis=1)] += np.round(rng.normal(size=B), 2)
        v = np.where(m > 0, np.round(rng.normal(size=(B, T)), 2), pad)
        g = float(rng.choice([1.0, 1.0, 0.99]))
        lm = float(rng.choice([0.95, 1.0, 0.9, 0.0]))
        cases.append(case(f"random batch, B = {B}, T = {T}", r, v, m, g, lm))
    return cases
