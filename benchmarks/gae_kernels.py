"""GAE kernel speed, measured side by side in one run.

    python benchmarks/gae_kernels.py [--repeats 21] [--out benchmarks/results/gae_kernels.md]

Part 1 (RL sizes, time-major [T, N], float32, γ = 0.99, λ = 0.95, about 1 % episode
ends split between terminated and truncated, next_values given per step):

* copy floor — ``np.copyto`` of the five inputs (rewards, values, next_values,
  terminated, truncated): the bytes any method must read, read and written once;
* numpy loop — a Python loop backwards over time, vectorised across the batch
  (the Stable-Baselines3 / verl style; ``gaelib.reference.gae_loop``);
* gaelib numpy — ``gaelib.gae`` on numpy arrays (validation included);
* gaelib torch — ``gaelib.gae`` on CPU torch tensors, torch set to 2 threads.

Part 2 (LLM sizes, batch-major [B, L] tokens as TRL/verl/OpenRLHF store them,
γ = 1, λ = 0.95, the bootstrap after the last token is 0):

* torch loop — a Python loop backwards over tokens with torch ops (the TRL/verl style);
* gaelib torch — ``gaelib.gae`` on the transposed tensors (``.T``), so the time-major
  copy it makes is included in its time.

Times are medians over ``--repeats`` calls, methods interleaved so that load on
the machine hits them alike. Compare ratios, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

import gaelib
from gaelib.reference import gae_loop

RL_SIZES = [(2048, 8), (128, 64), (1024, 512), (4096, 256)]
LLM_SIZES = [(64, 512), (256, 1024), (512, 2048)]


def median_ms(fns: dict, repeats: int) -> dict:
    """Call every function ``repeats`` times, interleaved; return median milliseconds."""
    times = {k: [] for k in fns}
    for f in fns.values():
        f()  # warm up (numba compiles on the first call)
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def rl_inputs(T, N, rng):
    shape = (T, N)
    r = rng.normal(size=shape).astype(np.float32)
    v = rng.normal(size=shape).astype(np.float32)
    nv = rng.normal(size=shape).astype(np.float32)
    ends = rng.random(shape) < 0.01
    term = ends & (rng.random(shape) < 0.5)
    trunc = ends & ~term
    return r, v, nv, term, trunc


def torch_loop_llm(rewards, values, gamma, lam):
    """TRL/verl-style token loop on batch-major [B, L] tensors."""
    L = rewards.shape[1]
    last = torch.zeros_like(rewards[:, 0])
    out = []
    for t in reversed(range(L)):
        next_values = values[:, t + 1] if t < L - 1 else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last = delta + gamma * lam * last
        out.append(last)
    return torch.stack(out[::-1], dim=1)


def part_rl(repeats, rng):
    rows = []
    for T, N in RL_SIZES:
        r, v, nv, term, trunc = rl_inputs(T, N, rng)
        srcs = (r, v, nv, term, trunc)
        dsts = [np.empty_like(x) for x in srcs]
        tr = [torch.from_numpy(x.copy()) for x in srcs]
        kw = dict(gamma=0.99, lam=0.95)
        a_np, _ = gaelib.gae(r, v, next_values=nv, terminated=term, truncated=trunc, **kw)
        a_ref, _ = gae_loop(r, v, next_values=nv, terminated=term, truncated=trunc, **kw)
        np.testing.assert_allclose(a_np, a_ref, rtol=1e-4, atol=1e-4)
        fns = {
            "copy floor": lambda: [np.copyto(d, s) for d, s in zip(dsts, srcs)],
            "numpy loop": lambda: gae_loop(r, v, next_values=nv, terminated=term, truncated=trunc, **kw),
            "gaelib numpy": lambda: gaelib.gae(r, v, next_values=nv, terminated=term, truncated=trunc, **kw),
            "gaelib torch": lambda: gaelib.gae(tr[0], tr[1], next_values=tr[2], terminated=tr[3],
                                               truncated=tr[4], **kw),
        }
        ms = median_ms(fns, repeats if T * N < 1_000_000 else max(5, repeats // 2))
        rows.append(((T, N), ms))
    return rows


def part_llm(repeats, rng):
    rows = []
    for B, L in LLM_SIZES:
        r = torch.from_numpy(rng.normal(size=(B, L)).astype(np.float32))
        v = torch.from_numpy(rng.normal(size=(B, L)).astype(np.float32))
        zeros = torch.zeros(B)
        ref = torch_loop_llm(r, v, 1.0, 0.95)
        got = gaelib.gae(r.T, v.T, last_value=zeros, gamma=1.0, lam=0.95).advantages.T
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-3)
        fns = {
            "torch loop": lambda: torch_loop_llm(r, v, 1.0, 0.95),
            "gaelib torch": lambda: gaelib.gae(r.T, v.T, last_value=zeros, gamma=1.0, lam=0.95),
        }
        rows.append(((B, L), median_ms(fns, max(5, repeats // 2))))
    return rows


def table_rl(rows):
    lines = ["| size (T×N) | copy floor ms | numpy loop ms | gaelib numpy ms | gaelib torch ms "
             "| numpy: × faster than loop | numpy: × floor | torch: × faster than loop | torch: × floor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (T, N), ms in rows:
        f, lp, gn, gt = ms["copy floor"], ms["numpy loop"], ms["gaelib numpy"], ms["gaelib torch"]
        lines.append(f"| {T}×{N} | {f:.3f} | {lp:.2f} | {gn:.3f} | {gt:.3f} | {lp / gn:.0f}× | "
                     f"{gn / f:.1f}× | {lp / gt:.0f}× | {gt / f:.1f}× |")
    return "\n".join(lines)


def table_llm(rows):
    lines = ["| size (B×L) | torch loop ms | gaelib torch ms | × faster |", "|---|---|---|---|"]
    for (B, L), ms in rows:
        lines.append(f"| {B}×{L} | {ms['torch loop']:.2f} | {ms['gaelib torch']:.3f} | "
                     f"{ms['torch loop'] / ms['gaelib torch']:.0f}× |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--out", help="also write the tables to this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    header = (f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
              f"numba kernels: {gaelib._kernels.HAVE_NUMBA}, {platform.processor() or platform.machine()}")
    text = "\n\n".join([header, "RL sizes, time-major, float32:", table_rl(part_rl(args.repeats, rng)),
                        "LLM sizes, batch-major tokens, float32:", table_llm(part_llm(args.repeats, rng))])
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"Command: `python benchmarks/gae_kernels.py --repeats {args.repeats}`\n\n{text}\n")


if __name__ == "__main__":
    main()
