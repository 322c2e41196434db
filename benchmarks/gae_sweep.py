"""The γ–λ sweep of the GAE paper, with gaelib's PPO: a CSV of every run and a heatmap figure.

Each (γ, λ, seed) is one PPO training run (gaelib.sweep.run_one) with the task's
preset hyperparameters below; only γ and λ change. A run is summarised by its
final return (mean of the last 10 training episodes) and the area under its
learning curve (mean of that curve over a 20-point step grid).

Usage (the full grid committed to benchmarks/results/, about 7 CPU-minutes;
run it niced on a shared machine):

    nice -n 10 python benchmarks/gae_sweep.py --env InvertedPendulum-v5 --jobs 2

Writes, into --out (default benchmarks/results/):
    gae_sweep_<env>.csv        one row per run (columns: gaelib.sweep.ROW_FIELDS)
    gae_sweep_<env>.png        heatmaps of final return and AUC (mean ± std over seeds)
                               and the final return against λ, one line per γ
    gae_sweep_<env>.json       the command, the grid, the PPO settings, the versions
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from gaelib.ppo import PPOConfig
from gaelib.sweep import ROW_FIELDS, grid_table, plot_heatmap, plot_lambda_lines, run_sweep

LAMS = (0.0, 0.5, 0.9, 0.95, 0.99, 1.0)

# Settings per task: chosen once (with γ = 0.99, λ = 0.95) so that a run learns within its budget;
# the sweep then varies only γ and λ.
PRESETS = {
    "InvertedPendulum-v5": dict(
        config=PPOConfig(total_steps=30_000, num_envs=4, num_steps=256, num_epochs=10,
                         minibatch_size=256, learning_rate=1e-3),
        gammas=(0.9, 0.99, 0.999),
    ),
    "Pendulum-v1": dict(
        config=PPOConfig(total_steps=60_000, num_envs=4, num_steps=256, num_epochs=10,
                         minibatch_size=64, learning_rate=1e-3),
        gammas=(0.8, 0.9, 0.95, 0.99),
    ),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="InvertedPendulum-v5", choices=sorted(PRESETS))
    p.add_argument("--gammas", type=float, nargs="+", help="default: the preset's")
    p.add_argument("--lams", type=float, nargs="+", default=list(LAMS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, help="environment steps per run (default: the preset's)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return p.parse_args(argv)


def write_figure(rows, gammas, lams, env, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, metric, name in ((axes[0], "final", "final return"), (axes[1], "auc", "area under the curve")):
        mean, std, _ = grid_table(rows, metric, gammas, lams)
        im = plot_heatmap(ax, mean, std, gammas, lams, title=f"{name}, mean ± std over seeds")
        fig.colorbar(im, ax=ax)
    plot_lambda_lines(axes[2], rows, "final", gammas, lams, title="final return; dots: single seeds")
    fig.suptitle(f"{env}: PPO with GAE, γ–λ grid")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    preset = PRESETS[args.env]
    config = preset["config"]
    if args.steps:
        config = dataclasses.replace(config, total_steps=args.steps)
    gammas = args.gammas or list(preset["gammas"])
    command = "python benchmarks/gae_sweep.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    n = len(gammas) * len(args.lams) * len(args.seeds)
    print(f"{n} runs of {config.total_steps} steps on {args.env}: gammas {gammas}, lams {args.lams}, "
          f"seeds {args.seeds}, {args.jobs} job(s)", flush=True)
    start, done = time.perf_counter(), []

    def progress(row):
        done.append(row)
        print(f"[{len(done):3d}/{n}] γ={row['gamma']:<6g} λ={row['lam']:<5g} seed={row['seed']}: "
              f"final {row['final']:9.1f}  auc {row['auc']:9.1f}  ({time.perf_counter() - start:.0f} s)",
              flush=True)

    rows = run_sweep(args.env, config, gammas=gammas, lams=args.lams, seeds=args.seeds,
                     jobs=args.jobs, on_row=progress)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"gae_sweep_{args.env}"
    with open(f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ROW_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
    write_figure(rows, gammas, args.lams, args.env, f"{stem}.png")
    import gymnasium
    import torch

    meta = {"command": command, "env": args.env, "gammas": gammas, "lams": args.lams, "seeds": args.seeds,
            "config": dataclasses.asdict(config), "grid_points": 20, "window": 10,
            "wall_seconds": round(time.perf_counter() - start), "python": platform.python_version(),
            "torch": torch.__version__, "gymnasium": gymnasium.__version__}
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {stem}.csv, {stem}.png, {stem}.json")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
