"""Advantage estimators on the tiny RLHF testbed: the full runs behind chapters/llm_estimators.ipynb.

Command (from the repository root; about 20-30 minutes on 2 shared CPU cores):

    PYTHONHASHSEED=0 OMP_NUM_THREADS=1 python benchmarks/llm_estimators.py

Writes, next to this script:

* ``llm_estimators_curves.csv``: one row per (task, estimator, seed, iteration) with the
  training metrics of :func:`gaelib.rlhf.train_rlhf` (``seconds`` is wall time and varies
  with the machine; everything else repeats exactly on the same machine);
* ``llm_estimators_gradients.csv``: bias and variance of each estimator's policy gradient
  at one fixed policy snapshot (see :func:`gradient_study`).

Tasks: ``short`` is the chapter's task (prompts ``BOS d``, responses of 4-10 tokens,
β = 0.05, 100 iterations, 3 seeds); ``long`` has sentences of 12-22 digits (responses of
12-24 tokens, β = 0.02, 80 iterations, 2 seeds), where the terminal reward has to travel
further back.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

import gaelib
from gaelib import llm
from gaelib.losses import value_loss
from gaelib.rlhf import RLHFConfig, compute_advantages, policy_gradient_estimate, sample_batch, train_rlhf
from gaelib.tiny_lm import LMConfig, TinyGPT, ValueModel, pretrain

HERE = Path(__file__).resolve().parent

TASKS = {
    "short": dict(lm=LMConfig(context=24), language=dict(min_len=4, max_len=10),
                  rl=dict(max_new=10, min_digits=4, kl_coef=0.05, iterations=100), seeds=(0, 1, 2)),
    "long": dict(lm=LMConfig(context=40), language=dict(min_len=12, max_len=22),
                 rl=dict(max_new=24, min_digits=12, kl_coef=0.02, iterations=80), seeds=(0, 1)),
}

ESTIMATORS = {
    "GAE λ=0.95": dict(estimator="gae", lam=0.95),
    "GAE λ=1": dict(estimator="gae", lam=1.0),
    "decoupled 0.95/1": dict(estimator="gae", lam=0.95, lam_critic=1.0),
    "VAPO α=2": dict(estimator="gae", adaptive_alpha=2.0, lam_critic=1.0),
    "GRPO": dict(estimator="grpo"),
    "RLOO": dict(estimator="rloo"),
    "REINFORCE++": dict(estimator="reinforce_pp"),
    "REINFORCE": dict(estimator="reinforce"),
}
LONG_ESTIMATORS = ("GAE λ=0.95", "GAE λ=1", "decoupled 0.95/1", "VAPO α=2", "GRPO", "RLOO")


def base_model(task: str) -> TinyGPT:
    """The pretrained reference model of a task (seed 0, deterministic)."""
    gaelib.seed_everything(0)
    t = TASKS[task]
    model = TinyGPT(t["lm"])
    pretrain(model, generator=torch.Generator().manual_seed(0), **t["language"])
    return model.eval()


def curves(out: Path) -> None:
    fields = ["task", "estimator", "seed", "iteration", "score", "sorted", "kl", "length", "eos",
              "adv_std", "seconds", "policy_params", "critic_params"]
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for task, t in TASKS.items():
            base = base_model(task)
            names = ESTIMATORS if task == "short" else LONG_ESTIMATORS
            for name in names:
                for seed in t["seeds"]:
                    torch.manual_seed(seed)
                    res = train_rlhf(base, RLHFConfig(seed=seed, **t["rl"], **ESTIMATORS[name]))
                    h = res.history.as_arrays()
                    for i in range(len(h["score"])):
                        w.writerow([task, name, seed, i] + [round(h[k][i], 6) for k in
                                   ("score", "sorted", "kl", "length", "eos", "adv_std", "seconds")]
                                   + [res.parameters["policy"], res.parameters["critic"]])
                    f.flush()
                    print(f"{task:5s} {name:18s} seed {seed}: score {np.mean(h['score'][:10]):.3f} -> "
                          f"{np.mean(h['score'][-10:]):.3f}, kl {np.mean(h['kl'][-10:]):.2f}", flush=True)


def pretrain_critic(policy, ref, cfg, steps, gen):
    """VC-PPO's value pretraining: fit a fresh critic to Monte Carlo returns of a fixed policy."""
    critic = ValueModel(ref)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    for _ in range(steps):
        b = sample_batch(policy, ref, critic, cfg, gen)
        _, targets = llm.token_gae(b["rewards"], b["values"], b["mask"], gamma=1.0, lam=1.0)
        v = critic(b["seq"])[:, b["P"] - 1:-1]
        loss = cfg.vf_coef * value_loss(v, targets, mask=b["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return critic.eval()


def gradient_study(out: Path, *, snapshot_iters=15, ref_batches=200, eval_batches=30,
                   critic_steps=(0, 20, 150)) -> None:
    """Bias and variance of each estimator's gradient at one policy snapshot (short task).

    The snapshot is the policy after ``snapshot_iters`` RLOO iterations. The reference
    gradient g* is the mean RLOO gradient over ``ref_batches`` batches (RLOO is unbiased).
    On ``eval_batches`` fresh batches of 64 responses, every estimator's gradient g is
    computed on the same batch; reported: the mean per-batch cos(g, g*) (how well one
    batch points the right way), cos(mean g, g*) (bias) and the relative variance
    E|g - mean g|^2 / |mean g|^2. GAE is evaluated with critics pretrained on Monte Carlo
    returns of the snapshot for 0 (zero head), 20 and 150 steps (their explained variance
    of the Monte Carlo returns on the evaluation batches is reported too). β = 0.
    """
    task = TASKS["short"]
    base = base_model("short")
    # β = 0 here: the score is the whole objective, so the study isolates how each estimator
    # carries the terminal reward back to the tokens (the per-token KL term would add a dense,
    # easy-to-estimate component to every gradient).
    cfg = RLHFConfig(estimator="rloo", seed=0, **{**task["rl"], "iterations": snapshot_iters, "kl_coef": 0.0})
    policy = train_rlhf(base, cfg).policy
    gen = torch.Generator().manual_seed(123)
    g_ref = torch.zeros_like(torch.cat([p.reshape(-1) for p in policy.parameters()]))
    for _ in range(ref_batches):
        b = sample_batch(policy, base, None, cfg, gen)
        adv, _, _ = compute_advantages(cfg, b["rewards"], None, b["mask"])
        g_ref += policy_gradient_estimate(policy, b, adv) / ref_batches
    critics = {k: pretrain_critic(policy, base, cfg, k, gen) for k in critic_steps}
    rows, ev = {}, {}
    est = {"REINFORCE": "reinforce", "RLOO": "rloo", "Dr. GRPO": "drgrpo", "GRPO": "grpo",
           "REINFORCE++": "reinforce_pp"}
    for _ in range(eval_batches):
        b = sample_batch(policy, base, None, cfg, gen)
        for name, e in est.items():
            c = dataclasses.replace(cfg, estimator=e)
            adv, _, _ = compute_advantages(c, b["rewards"], None, b["mask"])
            rows.setdefault(("none", name, ""), []).append(policy_gradient_estimate(policy, b, adv))
        for k, critic in critics.items():
            with torch.no_grad():
                values = critic(b["seq"])[:, b["P"] - 1:-1] * b["mask"]
            mc = llm.token_gae(b["rewards"], values, b["mask"], gamma=1.0, lam=1.0).returns
            m = b["mask"].bool()
            ev.setdefault(f"{k} steps", []).append(
                float(1 - (mc - values)[m].var() / mc[m].var()))
            for lam in (1.0, 0.95, 0.8, 0.5, 0.0):
                c = dataclasses.replace(cfg, estimator="gae", lam=lam)
                adv, _, _ = compute_advantages(c, b["rewards"], values, b["mask"])
                rows.setdefault((f"{k} steps", "GAE", lam), []).append(policy_gradient_estimate(policy, b, adv))
    cos = torch.nn.functional.cosine_similarity
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["critic", "estimator", "lam", "cos_batch", "cos_mean", "rel_var", "critic_explained_var"])
        for (critic, name, lam), gs in rows.items():
            G = torch.stack(gs)
            gbar = G.mean(0)
            cb = float(cos(G, g_ref[None, :]).mean())
            cm = float(cos(gbar, g_ref, dim=0))
            rv = float(((G - gbar) ** 2).sum(1).mean() / (gbar ** 2).sum())
            e = round(float(np.mean(ev[critic])), 4) if critic in ev else ""
            w.writerow([critic, name, lam, round(cb, 4), round(cm, 4), round(rv, 4), e])
            print(f"{critic:10s} {name:12s} {lam!s:5s} cos/batch {cb:.3f} cos(mean) {cm:.3f} rel.var {rv:.2f}",
                  flush=True)


if __name__ == "__main__":
    gaelib.seed_everything(0)
    which = sys.argv[1:] or ["gradients", "curves"]
    if "gradients" in which:
        gradient_study(HERE / "llm_estimators_gradients.csv")
    if "curves" in which:
        curves(HERE / "llm_estimators_curves.csv")
