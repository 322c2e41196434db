"""verl's advantage step against gaelib's, called through verl's registry, side by side in one run.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/llm_verl.py [--repeats 5] \
        [--out benchmarks/results/llm_verl.md]

Needs verl (``pip install --no-deps -r requirements-verl.txt``). Sizes are the language-model
sizes of the core issue, batch-major ``[B, L]`` float32 as verl stores them: 8×32768, 64×8192 and
512×2048 tokens (2^18 to 2^20). Each row has one prompt group of 8 responses per 8 rows, response
lengths drawn uniformly from [L/4, L] (right padding), and inside each response 5 % of the tokens
masked out (tool output in multi-turn data), so verl's and gaelib's treatment of holes is exercised.

For each size, first the check: gaelib's advantages and returns equal verl's on the valid tokens
(``torch.testing.assert_close``, atol 1e-4, rtol 1e-4); then the timing of

* ``gae``: verl's ``compute_gae_advantage_return`` (a Python loop over tokens) against
  ``get_adv_estimator_fn("gaelib_gae")`` (gaelib's ``token_gae`` and ``masked_whiten``), γ = 1, λ = 0.95;
* ``reinforce_plus_plus``: verl's (also a loop over tokens) against ``gaelib_reinforce_plus_plus``, γ = 1.

Times are medians over ``--repeats`` calls, the two methods interleaved so that load on the
machine hits them alike; torch and numba run on one thread (CPU). Compare ratios, not absolute
times across runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gaelib.integrations import verl as gaelib_verl  # noqa: E402

SIZES = [(8, 32768), (64, 8192), (512, 2048)]


def inputs(B, L, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(L // 4, L + 1, (B,), generator=g)
    mask = (torch.arange(L)[None, :] < lengths[:, None]) & (torch.rand(B, L, generator=g) >= 0.05)
    mask[:, 0] = True
    mask = mask.float()
    rewards = torch.randn(B, L, generator=g) * 0.01 * mask
    rewards[torch.arange(B), lengths - 1] += torch.rand(B, generator=g)  # a score on the last token
    values = torch.randn(B, L, generator=g)
    return rewards, values, mask


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(fns: dict, repeats: int) -> dict:
    """Call every function ``repeats`` times, interleaved, after one warm-up call; median milliseconds."""
    times = {k: [] for k in fns}
    for f in fns.values():
        f()  # numba compiles on the first call
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)

    from verl.trainer.ppo import core_algos
    from verl.trainer.config import AlgoConfig

    gaelib_verl.register()
    load_before = os.getloadavg()[0]
    cfg = AlgoConfig(gamma=1.0, lam=0.95)
    ours_gae = core_algos.get_adv_estimator_fn("gaelib_gae")
    ours_rpp = core_algos.get_adv_estimator_fn("gaelib_reinforce_plus_plus")
    rows = []
    for B, L in SIZES:
        r, v, m = inputs(B, L)
        valid = m.bool()
        pairs = {
            "gae": (lambda: core_algos.compute_gae_advantage_return(r, v, m, 1.0, 0.95),
                    lambda: ours_gae(r, v, m, 1.0, 0.95)),
            "reinforce_plus_plus": (lambda: core_algos.compute_reinforce_plus_plus_outcome_advantage(r, m, config=cfg),
                                    lambda: ours_rpp(token_level_rewards=r, response_mask=m, config=cfg)),
        }
        for name, (theirs, ours) in pairs.items():
            (ta, tr), (oa, orr) = theirs(), ours()  # correctness before timing
            torch.testing.assert_close(oa[valid], ta[valid], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(orr[valid], tr[valid], atol=1e-4, rtol=1e-4)
            t = median_ms({"verl": theirs, "gaelib": ours}, args.repeats)
            rows.append((name, f"{B}×{L}", t["verl"], t["gaelib"]))
            print(f"{name:20s} {B}×{L}: verl {t['verl']:.1f} ms, gaelib {t['gaelib']:.1f} ms", flush=True)

    import verl

    head = [f"Command: `OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/llm_verl.py --repeats {args.repeats}`",
            "",
            f"verl {verl.__version__}, torch {torch.__version__} (1 thread), numpy {np.__version__}, "
            f"CPU: {cpu_name()} ({platform.machine()}, {os.cpu_count()} logical cores, 1 used); "
            f"medians of {args.repeats} calls, float32, response lengths uniform in [L/4, L], 5 % holes.",
            f"Load average of the machine (1 min) at the start and at the end: {load_before:.1f}, "
            f"{os.getloadavg()[0]:.1f} (on a shared machine other jobs slow both columns; compare the ratios).",
            "Each row was checked first: gaelib's advantages and returns equal verl's on the valid tokens "
            "(atol = rtol = 1e-4).",
            "",
            "| estimator | size (B×L) | verl ms | gaelib via verl's registry ms | × faster |",
            "|---|---|---|---|---|"]
    lines = head + [f"| {n} | {s} | {a:.1f} | {b:.1f} | {a / b:.0f}× |" for n, s, a, b in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
