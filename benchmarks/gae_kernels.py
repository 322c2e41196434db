"""GAE kernel speed, measured side by side in one run.

    python benchmarks/gae_kernels.py [--repeats 21] [--runs 3] [--device cpu|cuda] [--parts rl,llm,ops]
                                     [--out benchmarks/results/gae_kernels.md]

Part 1 (RL sizes, time-major [T, N], float32, γ = 0.99, λ = 0.95, about 1 % episode
ends split between terminated and truncated, next_values given per step):

* copy floor — a copy of the five inputs (rewards, values, next_values, terminated,
  truncated) into preallocated arrays: the bytes any method must read, read and written once;
* numpy loop — a Python loop backwards over time, vectorised across the batch
  (the Stable-Baselines3 / verl style; ``gaelib.reference.gae_loop``) [CPU only];
* bare numba — :func:`bare_two_pass`, a compiled forward pass forming δ and γλ(1 − done),
  then a backward pass over those two arrays; advantages only, no checks, no returns,
  arrays prepared outside the timing [CPU only];
* gaelib numpy — ``gaelib.gae`` on numpy arrays (validation, returns and the finiteness
  check included) [CPU only];
* gaelib torch — ``gaelib.gae`` on torch tensors of ``--device`` (one torch thread on CPU).
  On CUDA, "torch loop" is the same loop as numpy loop, in torch ops on the device.

Part 2 (LLM sizes, batch-major [B, L] as TRL/verl/OpenRLHF store them, float32, γ = 1,
λ = 0.95, right-padded response masks with lengths drawn uniformly in [L/2, L]):

* copy floor — a copy of rewards, values and mask (on CUDA: device to device);
* token loop — a Python loop backwards over tokens on [B] slices, masked tokens skipped
  (the verl / TRL style of :func:`token_loop`, written here; timed on fewer repeats);
* chunked scan — the slime-style scan of :func:`chunked_scan` (written here after reading
  slime's ``chunked_gae``): δ with a zero bootstrap after each row's last valid token, then
  a discounted sum inside chunks of 128 tokens as one matrix product with the constant
  (γλ)^(j-i) Toeplitz matrix, and a Python loop over chunks for the carry. It needs a
  constant γλ and no holes in the mask (right padding is fine);
* token_gae, decoupled_gae — ``gaelib.llm.token_gae`` and ``decoupled_gae`` (λ_critic = 1),
  validation and masks included;
* core scan — ``gaelib.gae`` on time-major copies of the same rewards and values, no mask
  (what the masked path should cost little more than);
* token_gae (torch scan) [CPU only] — token_gae forced onto the torch backend, i.e. the
  blocked log-depth scan that accelerators run, here on CPU tensors;
* token_gae (chunk 16) [CUDA only] — token_gae with the scan's CPU chunk size instead of
  the device's (``gaelib._scan.CHUNK_DEVICE``), to check that choice on the device.

Part 3 (``--parts ops``; device-independent): the torch operations one call dispatches at the LLM
sizes, on CPU tensors with the scan's accelerator chunk (``gaelib._scan.CHUNK_DEVICE``), i.e. what
an accelerator launches: *all* counts every operation through torch's dispatcher (views and
slices included, each a Python-to-C++ round trip), *kernels* leaves out views, ``empty`` and
``detach`` (no work on the device). On a GPU at these sizes the time of a call is mostly these
dispatches, not the bytes (compare the copy floor), so this is the count to bring down there.

Every method is checked against the loop before it is timed. Times are medians over the
repeats, methods interleaved so that load hits them alike; on CUDA every call is timed with
CUDA events after a synchronize. Compare ratios, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

import gaelib
from gaelib import _dispatch, _kernels, _scan, llm
from gaelib.reference import gae_loop

RL_SIZES = [(2048, 8), (128, 64), (1024, 512), (4096, 256)]
LLM_SIZES = [(8, 32768), (64, 8192), (512, 2048)]
GAMMA, LAM = 0.99, 0.95

if _kernels.HAVE_NUMBA:
    from numba import njit

    @njit(cache=True, nogil=True)
    def bare_two_pass(r, v, nv, term, trunc, gamma, lam, adv, carry):
        """GAE in two compiled passes, nothing else: the yardstick for gaelib's overhead."""
        T, N = r.shape
        for t in range(T):
            for n in range(N):
                g = 0.0 if term[t, n] else gamma
                adv[t, n] = r[t, n] + g * nv[t, n] - v[t, n]
                carry[t, n] = 0.0 if trunc[t, n] else g * lam
        for t in range(T - 2, -1, -1):
            for n in range(N):
                adv[t, n] += carry[t, n] * adv[t + 1, n]


# --------------------------------------------------------------------------- timing


class Timer:
    """Median milliseconds per call, methods interleaved; CUDA calls timed with events."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def one(self, f):
        if self.cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            f()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        f()
        return 1e3 * (time.perf_counter() - t0)

    def median_ms(self, fns: dict, repeats: int, slow=(), slow_repeats=3) -> dict:
        """Each repeat calls every method once, in a new order (a permutation from a fixed seed): a
        method's time depends on what ran just before it (after a method that frees large buffers,
        the next one's fresh arrays fault their pages in again: measured up to 2 ms at 512×2048),
        so no method always follows the same one."""
        times = {k: [] for k in fns}
        for f in fns.values():
            f()  # warm up (numba compiles, CUDA loads kernels)
        keys, order = list(fns), np.random.default_rng(0)
        for i in range(repeats):
            for k in (keys[j] for j in order.permutation(len(keys))):
                if k in slow and len(times[k]) >= slow_repeats:
                    continue
                times[k].append(self.one(fns[k]))
        return {k: float(np.median(v)) for k, v in times.items()}


# --------------------------------------------------------------------------- part 1: RL sizes


def rl_inputs(T, N, rng):
    shape = (T, N)
    r = rng.normal(size=shape).astype(np.float32)
    v = rng.normal(size=shape).astype(np.float32)
    nv = rng.normal(size=shape).astype(np.float32)
    ends = rng.random(shape) < 0.01
    term = ends & (rng.random(shape) < 0.5)
    trunc = ends & ~term
    return r, v, nv, term, trunc


def torch_loop_rl(r, v, nv, term, trunc, gamma, lam):
    """The numpy loop's arithmetic in torch ops (for the device)."""
    out = torch.empty_like(r)
    g = gamma * (~term).to(r.dtype)
    a = g * lam * (~trunc).to(r.dtype)
    delta = r + g * nv - v
    last = torch.zeros_like(r[0])
    for t in range(r.shape[0] - 1, -1, -1):
        last = delta[t] + a[t] * last
        out[t] = last
    return out


def part_rl(timer, device, repeats, rng):
    rows = []
    for T, N in RL_SIZES:
        srcs = rl_inputs(T, N, rng)
        r, v, nv, term, trunc = srcs
        kw = dict(gamma=GAMMA, lam=LAM)
        ref, _ = gae_loop(r, v, next_values=nv, terminated=term, truncated=trunc, **kw)
        tr = [torch.from_numpy(x.copy()).to(device) for x in srcs]
        tdst = [torch.empty_like(x) for x in tr]
        got = gaelib.gae(tr[0], tr[1], next_values=tr[2], terminated=tr[3], truncated=tr[4], **kw).advantages
        np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-4, atol=1e-4)
        fns = {}
        if device.type == "cpu":
            dsts = [np.empty_like(x) for x in srcs]
            adv, carry = np.empty_like(r), np.empty_like(r)
            np.testing.assert_allclose(gaelib.gae(*srcs[:2], next_values=nv, terminated=term, truncated=trunc,
                                                  **kw).advantages, ref, rtol=1e-4, atol=1e-4)
            fns["copy floor"] = lambda: [np.copyto(d, s) for d, s in zip(dsts, srcs)]
            fns["numpy loop"] = lambda: gae_loop(r, v, next_values=nv, terminated=term, truncated=trunc, **kw)
            if _kernels.HAVE_NUMBA:
                g32, l32 = np.float32(GAMMA), np.float32(LAM)
                bare_two_pass(r, v, nv, term, trunc, g32, l32, adv, carry)
                np.testing.assert_allclose(adv, ref, rtol=1e-4, atol=1e-4)
                fns["bare numba"] = lambda: bare_two_pass(r, v, nv, term, trunc, g32, l32, adv, carry)
            fns["gaelib numpy"] = lambda: gaelib.gae(r, v, next_values=nv, terminated=term, truncated=trunc, **kw)
        else:
            fns["copy floor"] = lambda: [d.copy_(s) for d, s in zip(tdst, tr)]
            loop = torch_loop_rl(*tr, GAMMA, LAM)
            np.testing.assert_allclose(loop.cpu().numpy(), ref, rtol=1e-4, atol=1e-4)
            fns["torch loop"] = lambda: torch_loop_rl(*tr, GAMMA, LAM)
        fns["gaelib torch"] = lambda: gaelib.gae(tr[0], tr[1], next_values=tr[2], terminated=tr[3],
                                                 truncated=tr[4], **kw)
        slow = {"numpy loop", "torch loop"}
        n = repeats if T * N < 1_000_000 else max(5, repeats // 2)
        rows.append(((T, N), timer.median_ms(fns, n, slow=slow, slow_repeats=max(3, n // 4))))
    return rows


def table_rl(rows):
    keys = list(rows[0][1])
    base = "numpy loop" if "numpy loop" in keys else "torch loop"
    head = "| size (T×N) | " + " | ".join(f"{k} ms" for k in keys)
    ratios = [k for k in keys if k.startswith("gaelib")]
    head += " | " + " | ".join(f"{k}: × faster than {base} | {k}: × floor" for k in ratios)
    if "bare numba" in keys:
        head += " | gaelib numpy ÷ bare numba"
    lines = [head + " |", "|" + "---|" * (head.count("|"))]
    for (T, N), ms in rows:
        cells = [f"{T}×{N}"] + [f"{ms[k]:.3f}" for k in keys]
        for k in ratios:
            cells += [f"{ms[base] / ms[k]:.0f}×", f"{ms[k] / ms['copy floor']:.2f}×"]
        if "bare numba" in keys:
            cells.append(f"{ms['gaelib numpy'] / ms['bare numba']:.2f}×")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- part 2: LLM sizes


def token_loop(rewards, values, mask, gamma, lam):
    """verl/TRL-style token loop on [B, L] tensors: backwards over tokens, masked tokens skipped."""
    B, L = rewards.shape
    m = mask.to(rewards.dtype)
    next_value = torch.zeros_like(rewards[:, 0])
    carry = torch.zeros_like(rewards[:, 0])
    out = []
    for t in range(L - 1, -1, -1):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        new = delta + gamma * lam * carry
        carry = m[:, t] * new + (1 - m[:, t]) * carry
        next_value = m[:, t] * values[:, t] + (1 - m[:, t]) * next_value
        out.append(carry * m[:, t])
    return torch.stack(out[::-1], dim=1)


def chunked_scan(rewards, values, mask, gamma, lam, chunk=128):
    """slime-style chunked GAE for right-padded masks: a Toeplitz matrix product inside
    chunks, a Python loop over chunks for the carry (no division; constant γλ only)."""
    B, L = rewards.shape
    m = mask.to(rewards.dtype)
    nv = torch.cat([values[:, 1:] * m[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    delta = (rewards + gamma * nv - values) * m
    n = -(-L // chunk)
    pad = n * chunk - L
    d = torch.nn.functional.pad(delta, (0, pad)).reshape(B, n, chunk)
    w = gamma * lam
    i = torch.arange(chunk, device=rewards.device)
    expo = (i[None, :] - i[:, None]).to(rewards.dtype)  # j - i
    # A_i = sum_{j >= i} w^(j-i) d_j inside a chunk: d @ W with W[j, i] = w^(j-i) for j >= i
    W = torch.where(expo.T >= 0, w ** expo.T.clamp(min=0), torch.zeros((), dtype=rewards.dtype,
                                                                         device=rewards.device))
    local = d @ W
    decay = w ** (chunk - i).to(rewards.dtype)  # w^(C - i): from position i to the next chunk's start
    out = torch.empty_like(local)
    carry = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
    for c in range(n - 1, -1, -1):
        out[:, c] = local[:, c] + decay[None, :] * carry[:, None]
        carry = out[:, c, 0]
    return out.reshape(B, n * chunk)[:, :L]


def llm_inputs(B, L, rng, device):
    r = torch.from_numpy(rng.normal(size=(B, L)).astype(np.float32)).to(device)
    v = torch.from_numpy(rng.normal(size=(B, L)).astype(np.float32)).to(device)
    lengths = rng.integers(L // 2, L + 1, size=B)
    mask = torch.from_numpy(np.arange(L)[None, :] < lengths[:, None]).to(device)
    return r, v, mask


def part_llm(timer, device, repeats, rng, loop_repeats):
    rows = []
    for B, L in LLM_SIZES:
        r, v, mask = llm_inputs(B, L, rng, device)
        dst = [torch.empty_like(x) for x in (r, v, mask)]
        r_tm, v_tm = r.T.contiguous(), v.T.contiguous()
        zeros = torch.zeros(B, device=device)
        ref = token_loop(r, v, mask, 1.0, LAM)
        scale = float(ref.abs().max())
        for name, got in (("token_gae", llm.token_gae(r, v, mask, gamma=1.0, lam=LAM).advantages),
                          ("chunked", chunked_scan(r, v, mask, 1.0, LAM))):
            err = float((got - ref).abs().max()) / scale
            assert err < 1e-4, (name, B, L, err)
        fns = {
            "copy floor": lambda: [d.copy_(s) for d, s in zip(dst, (r, v, mask))],
            "token loop": lambda: token_loop(r, v, mask, 1.0, LAM),
            "chunked scan": lambda: chunked_scan(r, v, mask, 1.0, LAM),
            "token_gae": lambda: llm.token_gae(r, v, mask, gamma=1.0, lam=LAM),
            "decoupled_gae": lambda: llm.decoupled_gae(r, v, mask, gamma=1.0, lam_actor=LAM, lam_critic=1.0),
            "core scan": lambda: gaelib.gae(r_tm, v_tm, last_value=zeros, gamma=1.0, lam=LAM),
        }
        if device.type != "cpu":
            def chunk_16():
                old, _scan.CHUNK_DEVICE = _scan.CHUNK_DEVICE, _scan.CHUNK
                try:
                    return llm.token_gae(r, v, mask, gamma=1.0, lam=LAM)
                finally:
                    _scan.CHUNK_DEVICE = old
            fns[f"token_gae (chunk {_scan.CHUNK})"] = chunk_16
        if device.type == "cpu":
            def torch_scan():
                with _dispatch.forced("torch"):
                    return llm.token_gae(r, v, mask, gamma=1.0, lam=LAM)
            err = float((torch_scan().advantages - ref).abs().max()) / scale
            assert err < 1e-4, ("torch scan", B, L, err)
            fns["token_gae (torch scan)"] = torch_scan
        rows.append(((B, L), timer.median_ms(fns, repeats, slow={"token loop"}, slow_repeats=loop_repeats)))
    return rows


def count_ops(fn) -> tuple[int, int]:
    """``(all, kernels)``: the torch operations ``fn()`` dispatches (see the module's Part 3)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.all = self.kernels = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.all += 1
            name = func.overloadpacket.__name__
            if not (func.is_view or name.startswith(("empty", "detach", "alias"))):
                self.kernels += 1
            return func(*args, **(kwargs or {}))

    with Count() as c:
        fn()
    return c.all, c.kernels


def part_ops(rng):
    """Operations dispatched per call at the LLM sizes, with the accelerators' chunk (CPU tensors)."""
    rows = []
    old = _scan.CHUNK
    try:
        _scan.CHUNK = _scan.CHUNK_DEVICE
        for B, L in LLM_SIZES:
            r, v, mask = llm_inputs(B, L, rng, torch.device("cpu"))
            r_tm, v_tm, zeros = r.T.contiguous(), v.T.contiguous(), torch.zeros(B)
            with _dispatch.forced("torch"):
                fns = {"chunked scan": lambda: chunked_scan(r, v, mask, 1.0, LAM),
                       "token_gae": lambda: llm.token_gae(r, v, mask, gamma=1.0, lam=LAM),
                       "decoupled_gae": lambda: llm.decoupled_gae(r, v, mask, gamma=1.0, lam_actor=LAM,
                                                                  lam_critic=1.0),
                       "core scan": lambda: gaelib.gae(r_tm, v_tm, last_value=zeros, gamma=1.0, lam=LAM)}
                rows.append(((B, L), {k: count_ops(f) for k, f in fns.items()}))
    finally:
        _scan.CHUNK = old
    keys = list(rows[0][1])
    lines = ["| size (B×L) | " + " | ".join(f"{k}: all / kernels" for k in keys) + " |",
             "|---|" + "---|" * len(keys)]
    lines += ["| " + " | ".join([f"{B}×{L}"] + [f"{a} / {k}" for a, k in (ms[key] for key in keys)]) + " |"
              for (B, L), ms in rows]
    return "\n".join(lines)


def table_llm(rows):
    keys = list(rows[0][1])
    ours = [k for k in keys if k.startswith(("token_gae", "decoupled"))]
    head = ("| size (B×L) | " + " | ".join(f"{k} ms" for k in keys) + " | "
            + " | ".join(f"{k}: × faster than loop | {k}: ÷ chunked | {k}: × floor" for k in ours)
            + " | token_gae ÷ core scan |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (B, L), ms in rows:
        cells = [f"{B}×{L}"] + [f"{ms[k]:.3f}" for k in keys]
        for k in ours:
            cells += [f"{ms['token loop'] / ms[k]:.0f}×", f"{ms[k] / ms['chunked scan']:.2f}",
                      f"{ms[k] / ms['copy floor']:.1f}×"]
        cells.append(f"{ms['token_gae'] / ms['core scan']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def over_runs(runs, measure):
    """The median, over ``runs`` runs of ``measure()``, of every size's every method."""
    results = [measure() for _ in range(runs)]
    return [(size, {k: float(np.median([r[i][1][k] for r in results])) for k in ms})
            for i, (size, ms) in enumerate(results[0])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--loop-repeats", type=int, default=3, help="repeats of the (slow) token loop")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--parts", default="rl,llm")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat everything this many times and report the median of the runs' medians")
    parser.add_argument("--out", help="also write the tables to this markdown file")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    timer = Timer(device)
    rng = np.random.default_rng(0)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else platform.processor() or platform.machine())
    header = (f"numpy {np.__version__}, torch {torch.__version__} (1 CPU thread), "
              f"numba kernels: {_kernels.HAVE_NUMBA}, device: {device.type} ({where}), {os.cpu_count()} CPUs")
    parts = [header]
    if args.runs > 1:
        parts[0] += f"; median of {args.runs} runs"
    if "rl" in args.parts:
        rows = over_runs(args.runs, lambda: part_rl(timer, device, args.repeats, rng))
        parts += [f"RL sizes, time-major, float32 ({device.type}):", table_rl(rows)]
    if "llm" in args.parts:
        rows = over_runs(args.runs, lambda: part_llm(timer, device, args.repeats, rng, args.loop_repeats))
        parts += [f"LLM sizes, batch-major tokens with right-padded masks, float32, γ = 1, λ = 0.95 ({device.type}; "
                  f"the token loop on {args.loop_repeats} repeats):", table_llm(rows)]
    if "ops" in args.parts:
        parts += [f"Operations dispatched per call, torch backend with the accelerators' chunk "
                  f"(CHUNK_DEVICE = {_scan.CHUNK_DEVICE}), counted on CPU tensors:", part_ops(rng)]
    text = "\n\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            cmd = " ".join(["python benchmarks/gae_kernels.py", f"--repeats {args.repeats}", f"--runs {args.runs}",
                            f"--device {args.device}", f"--parts {args.parts}"])
            fh.write(f"Command: `{cmd}`\n\n{text}\n")


if __name__ == "__main__":
    main()
