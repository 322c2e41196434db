r"""Known-wrong variants of each estimator: the bugs learners and popular libraries make.

When a student's output is wrong, the engine looks for the variant that reproduces it on
the first failing case and on most of the others, and prints its hint. Every variant here
is computed by :func:`gaelib.reference.gae_loop`, the textbook backward loop, fed with the
wrong ingredient: truncation treated as termination, ``values[t]`` where
:math:`V(s_{t+1})` is needed, ``terminated[t+1]`` for ``terminated[t]``, γ where γλ is
needed, a forward loop, returns instead of advantages, padding inside a response, ...
Each hint is tested in ``tests/test_checkers.py`` against a buggy function that makes that
mistake.
"""

from __future__ import annotations

import numpy as np

from gaelib.checkers.cases import reference_td, reference_token_gae, shift
from gaelib.checkers.engine import Variant
from gaelib.reference import gae_loop, masked_gae_loop

__all__ = ["recursion", "gae_variants", "td_variants", "lambda_return_variants", "cumsum_variants",
           "token_variants"]


def recursion(r, v, nv, boot_cut, trace_cut, g_delta, g_trace, *, forward=False, zero_last=False):
    r"""The GAE recursion with every ingredient explicit, by :func:`gaelib.reference.gae_loop`.

    .. math::
        \delta_t = r_t + g_\delta (1 - b_t)\, nv_t - v_t, \qquad
        A_t = \delta_t + g_{\mathrm{trace}} (1 - c_t)\, A_{t+1}

    with ``boot_cut`` :math:`b` and ``trace_cut`` :math:`c` (0/1 arrays); ``forward`` runs
    the same recursion from ``t = 0`` upwards (:math:`A_{t-1}` in place of :math:`A_{t+1}`),
    ``zero_last`` sets the last step to 0.
    """
    step = slice(None, None, -1) if forward else slice(None)
    boot_value = g_delta * (1.0 - boot_cut) * nv  # folded into next_values, so gamma can be 1 below
    adv, _ = gae_loop(r[step], v[step], next_values=boot_value[step], truncated=np.asarray(trace_cut)[step],
                      gamma=1.0, lam=g_trace)
    adv = adv[step]
    if zero_last:
        adv[-1] = 0.0
    return adv


def gae_variants(kind: str) -> list[Variant]:
    """Known-wrong GAE computations. kind: ``"adv"`` (advantages) or ``"ret"`` (λ-returns = A + V)."""

    def make(hint, **kw):
        def fn(c):
            r, v, nv = c["rewards"], c["values"], c["next_values"]
            term = c["terminated"].astype(float)
            trunc = c.get("truncated", np.zeros_like(r, bool)).astype(float)
            g, lam = c["gamma"], c.get("lam", 0.0)
            nv_ = {"given": nv, "values": v, "shift_given": shift(v, nv[-1]),
                   "shift_zero": shift(v, np.zeros_like(v[0]))}[kw.get("nv", "given")]
            if kw.get("shift_term"):  # terminated[t+1] used at step t
                term = np.concatenate([term[1:], np.zeros_like(term[:1])], axis=0)
            boot = {"term": term, "both": np.maximum(term, trunc), "none": 0 * term}[kw.get("boot", "term")]
            trace = {"both": np.maximum(term, trunc), "term": term, "trunc": trunc,
                     "none": 0 * term}[kw.get("trace", "both")]
            gd = kw.get("g_delta", lambda g, lam: g)(g, lam)
            gt = kw.get("g_trace", lambda g, lam: g * lam)(g, lam)
            a = recursion(r, v, nv_, boot, trace, gd, gt, forward=kw.get("forward", False),
                          zero_last=kw.get("zero_last", False))
            if kw.get("out") == "other":
                return a if kind == "ret" else a + v
            if kw.get("out") == "neg":
                a = -a
            return a + v if kind == "ret" else a
        return Variant(hint, fn)

    other = ("you returned the advantages instead of the λ-returns: the critic's target is "
             "advantages + values" if kind == "ret" else
             "you returned the returns (advantages + values) instead of the advantages")
    return [
        make(other, out="other"),
        make("your result equals the answer with truncation treated as termination: at truncated[t] "
             "s_(t+1) is not terminal, so keep gamma * next_values[t] in delta_t; only the λ-trace stops",
             boot="both"),
        make("the λ-trace leaks across a truncation into the next episode: after truncated[t] do not add "
             "gamma*lam*A_(t+1) (step t+1 is another episode)", trace="term"),
        make("termination is ignored: after terminated[t], s_(t+1) is terminal, so drop gamma * "
             "next_values[t] and stop the λ-trace", boot="none", trace="trunc"),
        make("at a termination you zeroed the bootstrap value but still added gamma*lam*A_(t+1) from "
             "the next episode: stop the λ-trace too", trace="trunc"),
        make("at a termination you stopped the λ-trace but still bootstrapped gamma * next_values[t]: "
             "a terminal state has value 0", boot="none"),
        make("off by one: you read terminated[t+1] (CleanRL stores dones with the next observation); "
             "here terminated[t] says that s_(t+1), the state right after step t, is terminal", shift_term=True),
        make("episode ends are ignored altogether: use terminated and truncated", boot="none", trace="none"),
        make("off by one: you used values[t] where V(s_(t+1)) = next_values[t] is needed", nv="values"),
        make("you took V(s_(t+1)) from values[t+1] instead of next_values[t]: after a truncation "
             "values[t+1] is the first state of the next episode, not the final observation", nv="shift_given"),
        make("the last step bootstraps from 0: at the end of the arrays V(s_T) = next_values[T-1] is "
             "not 0 (the rollout was only cut there)", nv="shift_zero"),
        make("you returned the TD residuals delta_t: GAE also adds gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: 0.0),
        make("the recursion uses gamma where it needs gamma*lam: A_t = delta_t + gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: g),
        make("the recursion uses lam where it needs gamma*lam: A_t = delta_t + gamma*lam*A_(t+1)",
             g_trace=lambda g, lam: lam),
        make("delta_t is missing gamma: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)",
             g_delta=lambda g, lam: 1.0),
        make("you accumulated forwards in time (A_t from A_(t-1)); GAE sums future residuals: loop "
             "t = T-1, ..., 0", forward=True),
        make("the last step's advantage is set to 0; it is delta_(T-1)", zero_last=True),
        make("the sign is flipped: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)", out="neg"),
    ]


def td_variants() -> list[Variant]:
    """Known-wrong TD residuals."""
    def td(c, nv=None, g=None, not_term=None):
        nv = c["next_values"] if nv is None else nv
        g = c["gamma"] if g is None else g
        not_term = 1.0 - c["terminated"] if not_term is None else not_term
        return c["rewards"] + g * not_term * nv - c["values"]

    return [
        Variant("termination is ignored: after terminated[t], s_(t+1) is terminal and its value is 0",
                lambda c: td(c, not_term=1.0)),
        Variant("off by one: you used values[t] where V(s_(t+1)) = next_values[t] is needed",
                lambda c: td(c, nv=c["values"])),
        Variant("you took V(s_(t+1)) from values[t+1] instead of next_values[t]: wrong after a truncation "
                "(values[t+1] starts the next episode) and at the last step",
                lambda c: td(c, nv=shift(c["values"], c["next_values"][-1]))),
        Variant("the last step bootstraps from 0: at the end of the arrays use next_values[T-1]",
                lambda c: td(c, nv=shift(c["values"], 0 * c["values"][0]))),
        Variant("gamma is missing: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)", lambda c: td(c, g=1.0)),
        Variant("the sign is flipped: delta_t = r_t + gamma*V(s_(t+1)) - V(s_t)", lambda c: -reference_td(c)),
        Variant("you returned the one-step target r_t + gamma*V(s_(t+1)) without subtracting V(s_t)",
                lambda c: reference_td(c) + c["values"]),
        Variant("gamma multiplies the reward instead of the next value",
                lambda c: td({**c, "rewards": c["gamma"] * c["rewards"]}, g=1.0)),
    ]


def lambda_return_variants() -> list[Variant]:
    """Known-wrong λ-returns: the GAE bugs plus A + V, and the Monte Carlo reward-to-go."""
    def reward_to_go(c):
        from gaelib import discounted_cumsum

        return discounted_cumsum(c["rewards"], c["gamma"], done=c["terminated"] | c["truncated"])

    return gae_variants("ret") + [
        Variant("you returned the Monte Carlo reward-to-go (no bootstrap, no λ): the λ-return mixes "
                "n-step returns that bootstrap from V(s_(t+n))", reward_to_go),
    ]


def cumsum_variants() -> list[Variant]:
    """Known-wrong discounted cumulative sums."""
    def loop(c, *, use_done=True, shift_done=False, forward=False):
        x, g, done = c["x"], c["discount"], c["done"].astype(float)
        if not use_done:
            done = 0 * done
        if shift_done == "late":  # done[t-1] used at step t
            done = np.concatenate([np.zeros_like(done[:1]), done[:-1]], axis=0)
        elif shift_done:  # done[t+1] used at step t
            done = np.concatenate([done[1:], np.zeros_like(done[:1])], axis=0)
        return recursion(x, 0 * x, 0 * x, 0 * x, done, 0.0, g, forward=forward)

    return [
        Variant("done is ignored: the sum runs across episode ends", lambda c: loop(c, use_done=False)),
        Variant("off by one: you read done[t+1] (CleanRL stores dones with the next observation); here "
                "done[t] means the episode ended after step t, so y_t = x_t when done[t]",
                lambda c: loop(c, shift_done=True)),
        Variant("off by one: you read done[t-1]; done[t] means the episode ended after step t, so y_t = "
                "x_t when done[t]", lambda c: loop(c, shift_done="late")),
        Variant("you accumulated forwards in time; the sum runs over the future: loop t = T-1, ..., 0",
                lambda c: loop(c, forward=True)),
        Variant("the discount is not applied: y_t = x_t + discount * (1 - done_t) * y_(t+1)",
                lambda c: loop({**c, "discount": 1.0})),
        Variant("np.cumsum sums the past, x_0 + ... + x_t; this sum runs over the future, discounted: "
                "loop t = T-1, ..., 0", lambda c: np.cumsum(c["x"], axis=0)),
        Variant("you returned the episode's total G_0 at every step instead of the reward-to-go",
                lambda c: np.broadcast_to(loop(c, use_done=False)[:1], c["x"].shape)),
        Variant("the discount multiplies x_t too: y_t = x_t + discount * y_(t+1)",
                lambda c: c["discount"] * loop(c)),
    ]


def _token_loop(c, *, mode="skip", bootstrap_last=False, g_trace=None):
    """Batch-major variants of token-level GAE, by :func:`gaelib.reference.masked_gae_loop`.

    ``mode``: ``"skip"`` masked tokens (gaelib, verl); ``"all"`` positions are steps, pads
    included; ``"zero_gap"`` every position is a step with r and V zeroed where masked (OpenRLHF).
    ``bootstrap_last``: the last valid token bootstraps from its own value (γ V added to its
    reward). ``g_trace(γ, λ)`` replaces γλ in the recursion (γ is never 0 in the token cases).
    """
    r, v, m = c["rewards"], c["values"], c["mask"].astype(float)
    g, lam = c["gamma"], c["lam"]
    steps = m
    if mode in ("all", "zero_gap"):
        r, steps = r * m, np.ones_like(m)
        if mode == "zero_gap":
            v = v * m
    if bootstrap_last:
        last = steps.shape[1] - 1 - np.argmax(steps[:, ::-1] > 0, axis=1)
        r = r.copy()
        r[np.arange(len(r)), last] += g * v[np.arange(len(r)), last]
    lam_ = lam if g_trace is None else g_trace(g, lam) / g
    adv, _ = masked_gae_loop(r, v, steps, gamma=g, lam=lam_)
    return adv * m


def token_variants() -> list[Variant]:
    """Known-wrong token-level GAE (batch-major)."""
    def v(hint, **kw):
        return Variant(hint, lambda c: _token_loop(c, **kw))

    return [
        Variant("you returned the value targets (advantages + values) instead of the advantages",
                lambda c: (reference_token_gae(c) + c["values"]) * c["mask"]),
        v("padding is treated as part of the response: the EOS step bootstrapped from the critic's "
          "output on the pad after it. The state after the last valid token is terminal, V = 0", mode="all"),
        v("the last valid token bootstraps from its own value V(s_t); after EOS nothing follows, use 0",
          bootstrap_last=True),
        v("at a masked gap inside a response you used 0 for V and r of the masked tokens (OpenRLHF's "
          "plain loop): skip masked tokens, so the token before the gap bootstraps from the next valid one",
          mode="zero_gap"),
        v("you returned the TD residuals: add gamma*lam*A_(t+1)", g_trace=lambda g, lam: 0.0),
        v("the recursion uses gamma where it needs gamma*lam", g_trace=lambda g, lam: g),
        v("the recursion uses lam where it needs gamma*lam", g_trace=lambda g, lam: lam),
        Variant("you treated axis 0 as time: these arrays are batch-major [batch, tokens]",
                lambda c: _token_loop({**c, "rewards": c["rewards"].T, "values": c["values"].T,
                                       "mask": c["mask"].T}).T),
    ]
