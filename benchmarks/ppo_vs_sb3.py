"""gaelib's PPO against Stable-Baselines3's PPO (RL Baselines3 Zoo settings) on CartPole-v1.

Both are trained side by side in one process, on the same seeds, on the CPU with one torch
thread. For each run the script reports

* the environment steps, and the wall seconds since the start of training (environment and
  model construction included), at which the mean return of the last 20 finished training
  episodes first reaches 475;
* a final deterministic evaluation: 20 episodes on a separate CartPole-v1 (reset seeds
  10_000 ... 10_019), after the full training budget of each algorithm.

Then medians over seeds and the ratios SB3 / gaelib. Step counts repeat exactly for a seed;
wall times depend on the machine's load, so the two algorithms alternate (gaelib first on even
seeds, SB3 first on odd ones) and only their ratio is meaningful.

Seeds follow ``benchmarks/PROTOCOL.md``: ``gaelib.ppo.CARTPOLE`` was chosen on the tuning seeds
100-119 (``tune_cartpole.py``, log in ``results/cartpole_tuning.jsonl``) and is reported on the
report seeds 0-19. The report labels every seed, and prints the tuning-seed summary of the same
configuration from the tuning log beside the report-seed table.

Usage (SB3 is a benchmark-only dependency: ``pip install -r benchmarks/requirements.txt``)::

    OMP_NUM_THREADS=1 python benchmarks/cartpole_vs_sb3.py --seeds $(seq 0 19) \\
        --out benchmarks/results/cartpole_vs_sb3.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

THRESHOLD, WINDOW, EVAL_EPISODES, EVAL_SEED = 475.0, 20, 20, 10_000
TUNING_SEEDS, REPORT_SEEDS = range(100, 120), range(0, 20)  # benchmarks/PROTOCOL.md
TUNING_LOG = Path(__file__).resolve().parent / "results" / "cartpole_tuning.jsonl"


def seed_set(seed: int) -> str:
    return "tuning" if seed in TUNING_SEEDS else "report" if seed in REPORT_SEEDS else "other"

# RL Baselines3 Zoo, hyperparams/ppo.yml, CartPole-v1 (everything else SB3's defaults).
SB3_ZOO = dict(n_envs=8, n_timesteps=100_000, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
               n_epochs=20, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2)  # both rates: lin_


class Solved:
    """Tracks the running mean of the last WINDOW episode returns; remembers the first crossing."""

    def __init__(self, t0: float):
        self.t0, self.returns, self.hit = t0, [], None

    def episode(self, ret: float, env_steps: int) -> None:
        self.returns.append(float(ret))
        if self.hit is None and len(self.returns) >= WINDOW and np.mean(self.returns[-WINDOW:]) >= THRESHOLD:
            self.hit = (int(env_steps), time.perf_counter() - self.t0)


# --------------------------------------------------------------------------- gaelib


def run_gaelib(seed: int) -> dict:
    from gaelib.ppo import CARTPOLE, evaluate_policy, solve_point, train_ppo

    torch.manual_seed(seed)
    model, history = train_ppo("CartPole-v1", CARTPOLE, seed=seed, progress=False)
    hit = solve_point(history, threshold=THRESHOLD, window=WINDOW)  # steps, seconds since train_ppo began
    ev = evaluate_policy(model, "CartPole-v1", n_episodes=EVAL_EPISODES, seed=EVAL_SEED)
    return {"hit": hit, "eval": ev, "total_steps": history.update_steps[-1] + CARTPOLE.batch_size}


# --------------------------------------------------------------------------- Stable-Baselines3


def run_sb3(seed: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class Track(BaseCallback):
        def __init__(self, solved):
            super().__init__()
            self.solved = solved

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:  # Monitor (added by make_vec_env) reports finished episodes
                if "episode" in info:
                    self.solved.episode(info["episode"]["r"], self.num_timesteps)
            return True

    def linear(v):
        return lambda progress_remaining: progress_remaining * v  # the zoo's lin_<v>

    z = SB3_ZOO
    t0 = time.perf_counter()
    solved = Solved(t0)
    env = make_vec_env("CartPole-v1", n_envs=z["n_envs"], seed=seed)
    model = PPO("MlpPolicy", env, n_steps=z["n_steps"], batch_size=z["batch_size"], gae_lambda=z["gae_lambda"],
                gamma=z["gamma"], n_epochs=z["n_epochs"], ent_coef=z["ent_coef"],
                learning_rate=linear(z["learning_rate"]), clip_range=linear(z["clip_range"]),
                seed=seed, device="cpu", verbose=0)
    model.learn(z["n_timesteps"], callback=Track(solved))
    eval_env = gym.make("CartPole-v1")
    ev = np.zeros(EVAL_EPISODES)
    for k in range(EVAL_EPISODES):
        obs, _ = eval_env.reset(seed=EVAL_SEED + k)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, terminated, truncated, _ = eval_env.step(int(action))
            ev[k] += r
            done = terminated or truncated
    return {"hit": solved.hit, "eval": ev, "total_steps": int(model.num_timesteps)}


# --------------------------------------------------------------------------- report


def warm_up() -> None:
    """Imports, numba compilation and torch's first optimizer, outside every timed region."""
    import gaelib
    import stable_baselines3  # noqa: F401

    gaelib.gae(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32),
               next_values=np.zeros((2, 1), np.float32), terminated=np.zeros((2, 1), bool),
               truncated=np.zeros((2, 1), bool), gamma=0.9, lam=0.9)
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    torch.optim.Adam([p]).step()


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def table(results: dict, seeds: list[int]) -> str:
    rows = ["| seed (set) | gaelib steps | SB3 steps | SB3/gaelib | gaelib s | SB3 s | SB3/gaelib "
            "| gaelib eval (mean / min) | SB3 eval (mean / min) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    faster = 0
    for s in seeds:
        g, b = results["gaelib"][s], results["sb3"][s]
        gh, bh = g["hit"] or (None, None), b["hit"] or (None, None)
        rs = bh[0] / gh[0] if None not in (gh[0], bh[0]) else None
        rt = bh[1] / gh[1] if None not in (gh[1], bh[1]) else None
        faster += rt is not None and rt > 1
        rows.append(f"| {s} ({seed_set(s)}) | {fmt(gh[0], ',')} | {fmt(bh[0], ',')} | {fmt(rs, '.2f')} | {fmt(gh[1], '.1f')} "
                    f"| {fmt(bh[1], '.1f')} | {fmt(rt, '.2f')} | {g['eval'].mean():.1f} / {g['eval'].min():.0f} "
                    f"| {b['eval'].mean():.1f} / {b['eval'].min():.0f} |")

    def med(name, i):
        v = [results[name][s]["hit"][i] for s in seeds if results[name][s]["hit"] is not None]
        return float(np.median(v)) if len(v) == len(seeds) else None

    gs, bs, gt, bt = med("gaelib", 0), med("sb3", 0), med("gaelib", 1), med("sb3", 1)
    rows.append(f"| **median** | **{fmt(gs, ',.0f')}** | **{fmt(bs, ',.0f')}** | | **{fmt(gt, '.1f')}** "
                f"| **{fmt(bt, '.1f')}** | | | |")
    lines = ["\n".join(rows), ""]
    every = all(results["gaelib"][s]["hit"] is not None for s in seeds)
    evals = sum(results["gaelib"][s]["eval"].min() == 500 for s in seeds)
    sb3_evals = sum(results["sb3"][s]["eval"].min() == 500 for s in seeds)
    lines.append(f"Seeds that reached 475: gaelib {sum(results['gaelib'][s]['hit'] is not None for s in seeds)} "
                 f"of {len(seeds)}, SB3 {sum(results['sb3'][s]['hit'] is not None for s in seeds)} of {len(seeds)}. "
                 f"Greedy evaluation 500 on all {EVAL_EPISODES} episodes: gaelib {evals} of {len(seeds)}, "
                 f"SB3 {sb3_evals} of {len(seeds)}.")
    if None not in (gs, bs, gt, bt):
        lines.append(f"Ratios SB3 / gaelib of the medians: environment steps {bs / gs:.2f}x, "
                     f"wall seconds {bt / gt:.2f}x. gaelib reached the threshold in less wall time than SB3 "
                     f"on {faster} of {len(seeds)} seeds (paired, same seed, adjacent in time).")
        target = every and evals == len(seeds) and bs / gs >= 2 and gt < bt
        lines.append(f"Target (every seed reaches 475 and evaluates at 500; median steps at most half SB3's; "
                     f"median wall time less than SB3's): {'met' if target else 'NOT met'}.")
    else:
        lines.append("Some run never reached the threshold: no medians (the table shows which).")
    return "\n".join(lines)


def seed_range(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def tuning_summary(config: dict) -> str:
    """The tuning log's entry for exactly this configuration (gaelib only, steps and evaluation)."""
    entries = []
    if TUNING_LOG.exists():
        entries = [json.loads(line) for line in TUNING_LOG.read_text().splitlines() if line.strip()]
    want = json.loads(json.dumps(config))  # tuples become lists, as in the log
    match = [e for e in entries if e.get("config") == want]
    if not match:
        return f"No entry of `{TUNING_LOG.name}` has exactly this configuration."
    e = match[-1]
    rows = ["| seed (set) | gaelib steps | gaelib eval (mean / min) |", "|---:|---:|---:|"]
    rows += [f"| {r['seed']} (tuning) | {fmt(r['steps'], ',')} | {r['eval_mean']:.1f} / {r['eval_min']:.0f} |"
             for r in e["runs"]]
    rows.append(f"| **median** | **{fmt(e['median_steps'], ',.0f')}** | |")
    return "\n".join(rows + ["", f"Reached 475: {e['solved']}; greedy evaluation 500 on every episode: "
                              f"{e['eval_500']} of {len(e['runs'])} (entry \"{e['note']}\" of `{TUNING_LOG.name}`)."])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(REPORT_SEEDS))
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    from gaelib.ppo import CARTPOLE

    load0 = os.getloadavg()
    results = {"gaelib": {}, "sb3": {}}
    for s in args.seeds:
        order = ("gaelib", "sb3") if s % 2 == 0 else ("sb3", "gaelib")
        for name in order:
            results[name][s] = (run_gaelib if name == "gaelib" else run_sb3)(s)
            hit = results[name][s]["hit"]
            print(f"seed {s} {name:6s}: solved at {hit}, eval mean {results[name][s]['eval'].mean():.1f}",
                  file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    import stable_baselines3

    sets = sorted({seed_set(s) for s in args.seeds})
    report = "\n".join([
        "# CartPole-v1: gaelib PPO vs Stable-Baselines3 PPO (RL Zoo settings)", "",
        "Seeds follow `benchmarks/PROTOCOL.md`: the preset `gaelib.ppo.CARTPOLE` was chosen on the tuning seeds "
        "100-119 and is reported on the report seeds 0-19.", "",
        f"## Side by side with SB3 on {' and '.join(sets)} seeds {seed_range(args.seeds)}", "",
        "Produced by `OMP_NUM_THREADS=1 python benchmarks/cartpole_vs_sb3.py "
        f"--seeds {' '.join(map(str, args.seeds))}{' --out ' + str(args.out) if args.out else ''}`.", "",
        f"Steps/seconds: when the mean return of the last {WINDOW} finished training episodes first reached "
        f"{THRESHOLD:.0f} (seconds since the start of training, environment and model construction included). "
        f"Eval: greedy policy after the full training budget, {EVAL_EPISODES} episodes.", "",
        table(results, args.seeds), "",
        f"gaelib: `{CARTPOLE}` (total budget {results['gaelib'][args.seeds[0]]['total_steps']:,} steps).", "",
        f"SB3 {stable_baselines3.__version__}: RL Zoo CartPole-v1 settings {SB3_ZOO} with linear schedules for "
        "the learning rate and the clip range (budget 100,000 steps).", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} with 1 thread, "
        f"python {platform.python_version()}; load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end "
        "(wall times scale with the load; compare the ratio).", "",
        "## The same preset on the tuning seeds 100-119 (what it was chosen on; from the tuning log)", "",
        tuning_summary(dataclasses.asdict(CARTPOLE)),
    ])
    print(report)
    if args.out:
        # Keep a hand-written "## Tuning log" section of an existing report below the regenerated table.
        log = ""
        if args.out.exists() and "\n## Tuning log" in args.out.read_text():
            log = "\n" + args.out.read_text().split("\n## Tuning log", 1)[1]
            log = "\n## Tuning log" + log
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n" + log)


if __name__ == "__main__":
    main()
