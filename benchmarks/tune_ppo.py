"""Tuning runs of gaelib's PPO, on the **tuning seeds** only (``benchmarks/PROTOCOL.md``).

For one environment of ``ppo_envs.ENVS`` and one configuration (its preset, e.g.
``gaelib.ppo.CARTPOLE``, with the fields given on the command line replaced), train on each tuning
seed and report per seed: the environment steps at which the mean return of the last 20 finished
training episodes first reaches the environment's threshold (475 for CartPole-v1, -100 for
Acrobot-v1), the number of gradient steps taken by then, and the greedy evaluation of the final
policy (20 episodes, reset seeds 10,000-10,019, the same evaluation as the benchmark; with
``--screen``, of the policy at the solve point, training stopped there), the environment steps
run, and the mean of the last 20 training episodes at the end. With ``extend_return`` set, the
policy at ``total_steps`` (where the run without the extension ends) is evaluated too
(``budget_eval_mean``, ``budget_eval_solved``), so that one run compares both; with ``extend_eval_episodes``,
the greedy checks' mean returns are listed (``check_returns``, at ``check_steps``), and with
``keep_best_every``, which check's model was returned and evaluated (``kept_check``). One JSON line per
configuration is appended to ``--log`` (default: the environment's tuning log in ``results/``) so
that the tuning history is kept. Wall time is not reported: tuning compares configurations on
steps alone (they repeat exactly for a seed), and the machine's load varies.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/tune_ppo.py --env CartPole-v1 --set min_learning_rate=1e-4 \\
        --workers 2 --note "what this tries"
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ppo_envs import ENVS, EVAL_SEED, TUNING_SEEDS, WINDOW, eval_episodes, preset, seed_range  # noqa: E402


def run(env_id: str, config, seed: int, screen: bool = False) -> dict:
    from gaelib.ppo import evaluate_policy, solve_point, train_ppo

    threshold = ENVS[env_id]["threshold"]

    budget = config.budget_steps
    at_budget = {}

    def callback(log):
        if config.extend_return is not None and log["env_steps"] == budget:
            # the policy the run without the extension ends with (evaluating it does not change the run)
            ev = evaluate_policy(log["model"], env_id, n_episodes=eval_episodes(env_id), seed=EVAL_SEED)
            at_budget.update(budget_eval_mean=float(ev.mean()), budget_eval_min=float(ev.min()),
                             budget_eval_solved=ENVS[env_id]["eval_solved"](ev))
        if screen:  # screening: the steps to solve do not depend on what comes after
            return solve_point(log["history"], threshold=threshold, window=WINDOW) is None

    model, h = train_ppo(env_id, config, seed=seed, progress=False, callback=callback)
    hit = solve_point(h, threshold=threshold, window=WINDOW)
    steps = None if hit is None else int(hit[0])
    # gradient steps taken before the solve point: updates made before it, times minibatches per update
    per_update = config.num_epochs * -(-config.batch_size // config.minibatch_size)
    made = [s for s, lr in zip(h.update_steps, h.learning_rate) if lr > 0 and (steps is None or s < steps)]
    ev = evaluate_policy(model, env_id, n_episodes=eval_episodes(env_id), seed=EVAL_SEED)
    return {"seed": seed, "steps": steps, "grad_steps": len(made) * per_update,
            "eval_mean": float(ev.mean()), "eval_min": float(ev.min()),
            "eval_solved": ENVS[env_id]["eval_solved"](ev),
            "env_steps": int(h.update_steps[-1] + config.batch_size),
            "final_mean": float(np.mean(h.episode_returns[-WINDOW:])), **at_budget,
            **({"check_returns": h.check_returns, "check_steps": h.check_steps} if h.check_returns else {}),
            **({"kept_check": h.kept_check} if h.kept_check is not None else {})}


def _run_job(job) -> dict:
    return run(*job)


def log_table(log: Path) -> str:
    """Every entry of the tuning log as a markdown table (what was tried on which tuning seeds)."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = ["| # | configuration (changes to the preset of the time) | mode | seeds | reached the threshold "
            "| median steps | steps per seed | greedy evaluation solved |", "|---:|---|---|---|---:|---:|---|---:|"]
    for i, e in enumerate(entries, 1):
        steps = " / ".join("never" if r["steps"] is None else f"{r['steps']:,}" for r in e["runs"])
        med = "—" if e["median_steps"] is None else f"{e['median_steps']:,.0f}"
        mode = "screen (stopped at solve; eval there)" if e.get("screen") else "full budget"
        seeds = seed_range(e["seeds"])
        rows.append(f"| {i} | {e['note']} | {mode} | {seeds} | {e['solved']} | {med} | {steps} "
                    f"| {e.get('eval_solved', e.get('eval_500'))} of {len(e['runs'])} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(ENVS))
    parser.add_argument("--set", nargs="*", default=[], help="field=value pairs replacing the preset's fields")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TUNING_SEEDS))
    parser.add_argument("--log", type=Path, default=None, help="default: the environment's tuning log")
    parser.add_argument("--note", default="")
    parser.add_argument("--screen", action="store_true",
                        help="stop each run once solved (evaluation of the policy at that point, not after "
                             "the full budget): to compare steps to solve cheaply")
    parser.add_argument("--summary", action="store_true", help="print the log as a markdown table and exit")
    parser.add_argument("--workers", type=int, default=1,
                        help="seeds run in this many processes at once (one torch thread each); the results "
                             "do not depend on it")
    args = parser.parse_args(argv)
    args.log = args.log or ENVS[args.env]["log"]
    if args.summary:
        print(log_table(args.log))
        return
    if any(s < 100 for s in args.seeds):
        parser.error("tuning uses the tuning seeds (100 and above) only; seeds 0-19 are for reporting")
    torch.set_num_threads(1)
    changes = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    config = dataclasses.replace(preset(args.env), **changes)
    rows = []
    if args.workers > 1:
        import multiprocessing

        jobs = [(args.env, config, s, args.screen) for s in args.seeds]
        with multiprocessing.get_context("spawn").Pool(args.workers, initializer=torch.set_num_threads,
                                                       initargs=(1,)) as pool:
            for row in pool.imap(_run_job, jobs):
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    else:
        for s in args.seeds:
            rows.append(run(args.env, config, s, args.screen))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    steps = [r["steps"] for r in rows]
    solved = [x for x in steps if x is not None]
    summary = {"env": args.env, "changes": changes, "config": {k: v for k, v in dataclasses.asdict(config).items()},
               "note": args.note, "screen": args.screen, "seeds": args.seeds,
               "solved": f"{len(solved)}/{len(rows)}",
               "median_steps": float(np.median(solved)) if len(solved) == len(rows) else None,
               "max_steps": max(solved) if solved else None,
               "eval_solved": sum(r["eval_solved"] for r in rows),
               "median_grad_steps": float(np.median([r["grad_steps"] for r in rows])), "runs": rows}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a") as f:
        f.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
