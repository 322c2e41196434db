"""gaelib's PPO against Stable-Baselines3's PPO (RL Baselines3 Zoo settings), side by side.

For one environment of ``ppo_envs.ENVS`` (CartPole-v1, Acrobot-v1), both are trained in this
process (or in ``--workers`` processes, each running both algorithms on its seeds), on the same
seeds, on the CPU with one torch thread. For each run the script reports

* the environment steps, and the wall seconds since the start of training (environment and
  model construction included), at which the mean return of the last 20 finished training
  episodes first reaches the environment's threshold;
* a final greedy evaluation: 20 episodes on a separate environment (reset seeds
  10_000 ... 10_019), after the full training budget of each algorithm (for a gaelib preset with
  ``keep_best_every``, of the model of its best greedy check; the model at the budget is evaluated
  too, for comparison).

Then medians over seeds and the ratios SB3 / gaelib. Step counts repeat exactly for a seed;
wall times depend on the machine's load, so the two algorithms alternate (gaelib first on even
seeds, SB3 first on odd ones) and only their ratio, paired by seed, is meaningful.

Seeds follow ``benchmarks/PROTOCOL.md``: gaelib's preset for the environment (e.g.
``gaelib.ppo.CARTPOLE``) was chosen on the tuning seeds 100-119 (``tune_ppo.py``, log in
``results/<env>_tuning.jsonl``) and is reported on the report seeds 0-19. The report labels
every seed, and prints the tuning-seed summary of the same configuration from the tuning log
beside the report-seed table.

Usage (SB3 is a benchmark-only dependency: ``pip install -r benchmarks/requirements.txt``)::

    OMP_NUM_THREADS=1 python benchmarks/ppo_vs_sb3.py --env CartPole-v1 --seeds $(seq 0 19) --workers 2 \\
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ppo_envs import ENVS, EVAL_SEED, WINDOW, eval_episodes, greedy_returns, preset, preset_name, seed_range, seed_set  # noqa: E402


class Solved:
    """Tracks the running mean of the last WINDOW episode returns; remembers the first crossing."""

    def __init__(self, t0: float, threshold: float):
        self.t0, self.threshold, self.returns, self.hit = t0, threshold, [], None

    def episode(self, ret: float, env_steps: int) -> None:
        self.returns.append(float(ret))
        if (self.hit is None and len(self.returns) >= WINDOW
                and np.mean(self.returns[-WINDOW:]) >= self.threshold):
            self.hit = (int(env_steps), time.perf_counter() - self.t0)


# --------------------------------------------------------------------------- gaelib


def run_gaelib(env_id: str, seed: int) -> dict:
    from gaelib.ppo import evaluate_policy, solve_point, train_ppo

    config = preset(env_id)
    at_budget = {}

    def callback(log):
        # with keep_best_every, the model at the budget (the last one when nothing extended the run) is
        # evaluated too, for comparison with the kept one; evaluating it changes nothing in the run
        if config.keep_best_every and log["env_steps"] == config.budget_steps:
            at_budget["budget_eval"] = evaluate_policy(log["model"], env_id, n_episodes=eval_episodes(env_id),
                                                       seed=EVAL_SEED)

    torch.manual_seed(seed)
    model, history = train_ppo(env_id, config, seed=seed, progress=False, callback=callback)
    hit = solve_point(history, threshold=ENVS[env_id]["threshold"], window=WINDOW)  # steps, seconds
    ev = evaluate_policy(model, env_id, n_episodes=eval_episodes(env_id), seed=EVAL_SEED)
    return {"hit": hit, "eval": ev, "total_steps": history.update_steps[-1] + config.batch_size,
            "check_returns": list(history.check_returns), "check_steps": list(history.check_steps),
            "kept_check": history.kept_check, **at_budget}


# --------------------------------------------------------------------------- Stable-Baselines3


def run_sb3(env_id: str, seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    class Track(BaseCallback):
        def __init__(self, solved, stop):
            super().__init__()
            self.solved, self.stop = solved, stop

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:  # Monitor (added by make_vec_env) reports finished episodes
                if "episode" in info:  # the raw return, before any VecNormalize
                    self.solved.episode(info["episode"]["r"], self.num_timesteps)
            return not (self.stop and self.solved.hit is not None)  # False ends learn() at the solve point

    def linear(v):
        return lambda progress_remaining: progress_remaining * v  # the zoo's lin_<v>

    spec = ENVS[env_id]
    kw = dict(spec["sb3"])
    n_envs = kw.pop("n_envs")
    for name in spec["sb3_linear"]:
        kw[name] = linear(kw[name])
    t0 = time.perf_counter()
    solved = Solved(t0, spec["threshold"])
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if spec["sb3_normalize"]:  # the zoo's normalize: true (observations and rewards)
        env = VecNormalize(env)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kw)
    model.learn(spec["sb3_budget"], callback=Track(solved, spec["sb3_stop"]))
    if spec["sb3_normalize"]:
        env.training = False

    discrete = hasattr(env.action_space, "n")

    def act(obs):
        if spec["sb3_normalize"]:
            obs = env.normalize_obs(obs)
        action = model.predict(obs, deterministic=True)[0]
        return int(action) if discrete else action

    return {"hit": solved.hit, "eval": greedy_returns(act, env_id), "total_steps": int(model.num_timesteps)}


# --------------------------------------------------------------------------- report


def warm_up() -> None:
    """Imports, numba compilation and torch's first optimizer, outside every timed region."""
    torch.set_num_threads(1)
    import gaelib
    import stable_baselines3  # noqa: F401

    gaelib.gae(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32),
               next_values=np.zeros((2, 1), np.float32), terminated=np.zeros((2, 1), bool),
               truncated=np.zeros((2, 1), bool), gamma=0.9, lam=0.9)
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    torch.optim.Adam([p]).step()


def run_pair(job) -> tuple[int, dict]:
    """Both algorithms on one seed, in the order the seed's parity gives (gaelib alone where SB3 is not run)."""
    env_id, s, with_sb3 = job
    order = (("gaelib", "sb3") if s % 2 == 0 else ("sb3", "gaelib")) if with_sb3 else ("gaelib",)
    out = {"sb3": None}
    for name in order:
        out[name] = (run_gaelib if name == "gaelib" else run_sb3)(env_id, s)
        print(f"seed {s} {name:6s}: solved at {out[name]['hit']}, eval mean {out[name]['eval'].mean():.1f}",
              file=sys.stderr, flush=True)
    return s, out


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def table(env_id: str, results: dict, seeds: list[int]) -> str:
    spec = ENVS[env_id]
    rows = ["| seed (set) | gaelib steps | SB3 steps | SB3/gaelib | gaelib s | SB3 s | SB3/gaelib "
            "| gaelib eval (mean / min) | SB3 eval (mean / min) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    faster = 0
    for s in seeds:
        g, b = results["gaelib"][s], results["sb3"][s]
        if b is None:  # SB3 not run on this seed
            gh = g["hit"] or (None, None)
            rows.append(f"| {s} ({seed_set(s)}) | {fmt(gh[0], ',')} | not run | | {fmt(gh[1], '.1f')} | not run | "
                        f"| {g['eval'].mean():.1f} / {g['eval'].min():.0f} | not run |")
            continue
        gh, bh = g["hit"] or (None, None), b["hit"] or (None, None)
        rs = bh[0] / gh[0] if None not in (gh[0], bh[0]) else None
        rt = bh[1] / gh[1] if None not in (gh[1], bh[1]) else None
        faster += rt is not None and rt > 1
        rows.append(f"| {s} ({seed_set(s)}) | {fmt(gh[0], ',')} | {fmt(bh[0], ',')} | {fmt(rs, '.2f')} "
                    f"| {fmt(gh[1], '.1f')} | {fmt(bh[1], '.1f')} | {fmt(rt, '.2f')} "
                    f"| {g['eval'].mean():.1f} / {g['eval'].min():.0f} | {b['eval'].mean():.1f} / {b['eval'].min():.0f} |")

    sb3_seeds = [s for s in seeds if results["sb3"][s] is not None]

    def med(name, i):
        ran = seeds if name == "gaelib" else sb3_seeds
        v = [results[name][s]["hit"][i] for s in ran if results[name][s]["hit"] is not None]
        return float(np.median(v)) if ran and len(v) == len(ran) else None

    gs, bs, gt, bt = med("gaelib", 0), med("sb3", 0), med("gaelib", 1), med("sb3", 1)
    rows.append(f"| **median** | **{fmt(gs, ',.0f')}** | **{fmt(bs, ',.0f')}** | | **{fmt(gt, '.1f')}** "
                f"| **{fmt(bt, '.1f')}** | | | |")
    lines = ["\n".join(rows), ""]
    thr = f"{spec['threshold']:g}"
    every = all(results["gaelib"][s]["hit"] is not None for s in seeds)
    evals = sum(spec["eval_solved"](results["gaelib"][s]["eval"]) for s in seeds)
    sb3_evals = sum(spec["eval_solved"](results["sb3"][s]["eval"]) for s in sb3_seeds)
    lines.append(f"Seeds that reached {thr}: gaelib {sum(results['gaelib'][s]['hit'] is not None for s in seeds)} "
                 f"of {len(seeds)}, SB3 {sum(results['sb3'][s]['hit'] is not None for s in sb3_seeds)} of "
                 f"{len(sb3_seeds)}. Greedy evaluation solved ({spec['eval_rule']} over {eval_episodes(env_id)} "
                 f"episodes): gaelib {evals} of {len(seeds)}, SB3 {sb3_evals} of {len(sb3_seeds)}.")
    if len(sb3_seeds) < len(seeds):
        lines.append(f"SB3 ran on {len(sb3_seeds)} of the {len(seeds)} seeds ({seed_range(sb3_seeds)}; "
                     "`--sb3-seeds`): the medians of the two columns are over different seeds and are not compared.")
    elif None not in (gs, bs, gt, bt):
        lines.append(f"Ratios SB3 / gaelib of the medians: environment steps {bs / gs:.2f}x, "
                     f"wall seconds {bt / gt:.2f}x. gaelib reached the threshold in less wall time than SB3 "
                     f"on {faster} of {len(seeds)} seeds (paired: same seed, same process, adjacent in time).")
    else:
        lines.append("Some run never reached the threshold: no medians over all seeds (the table shows which).")
    return "\n".join(lines)


def summary_json(env_id: str, results: dict, seeds: list[int], command: str, tuned: str) -> dict:
    """Per-seed steps, seconds and greedy evaluations of both algorithms, and the medians (None when
    some seed never reached the threshold): what the chapters print."""
    spec = ENVS[env_id]
    out = {"env": env_id, "preset": spec.get("preset"), "threshold": spec["threshold"], "command": command,
           "seeds": seeds, "seed_sets": {str(s): seed_set(s) for s in seeds}, "tuning_seeds": tuned}
    out["sb3_seeds"] = [s for s in seeds if results["sb3"][s] is not None]
    for name in ("gaelib", "sb3"):
        ran = [s for s in seeds if results[name][s] is not None]
        runs = [results[name][s] for s in ran]
        steps = [None if r["hit"] is None else int(r["hit"][0]) for r in runs]
        secs = [None if r["hit"] is None else float(r["hit"][1]) for r in runs]
        out[name] = {"seeds": ran, "steps": steps, "seconds": secs,
                     "total_steps": [int(r["total_steps"]) for r in runs],
                     "check_returns": [r.get("check_returns", []) for r in runs],
                     **({"check_steps": [r["check_steps"] for r in runs],
                         "kept_check": [r["kept_check"] for r in runs],
                         "budget_eval_mean": [float(r["budget_eval"].mean()) if "budget_eval" in r else None
                                              for r in runs],
                         "budget_eval_min": [float(r["budget_eval"].min()) if "budget_eval" in r else None
                                             for r in runs]}
                        if name == "gaelib" and any("kept_check" in r for r in runs) else {}),
                     "eval_mean": [float(r["eval"].mean()) for r in runs],
                     "eval_min": [float(r["eval"].min()) for r in runs],
                     "eval_solved": [spec["eval_solved"](r["eval"]) for r in runs],
                     "median_steps": None if None in steps or not steps else float(np.median(steps)),
                     "median_seconds": None if None in secs or not secs else float(np.median(secs))}
    return out


KEPT_TEXT = " (gaelib: the model of its best greedy check, by the preset's `keep_best_every`)"


def budget_text(env_id: str, config, runs: dict, seeds: list[int]) -> str:
    """The environment steps gaelib ran: its budget, which seeds ``extend_return`` ran past it, and with
    ``keep_best_every`` which checks' models were evaluated."""
    budget = config.budget_steps
    longer = [s for s in seeds if runs[s]["total_steps"] > budget]
    text = f"total budget {budget:,} steps"
    if config.extend_return is not None:
        text += (f"; extended past it, by `extend_return`, on {len(longer)} of {len(seeds)} seeds"
                 + (": " + ", ".join(f"seed {s} to {runs[s]['total_steps']:,}" for s in longer) if longer else ""))
    if config.keep_best_every:
        from gaelib.ppo.train import CHECK_SEED

        kept = [runs[s]["check_steps"][runs[s]["kept_check"]] for s in seeds if runs[s]["kept_check"] is not None]
        counts = [len(runs[s]["check_returns"]) for s in seeds]
        solved = [s for s in seeds if "budget_eval" in runs[s] and ENVS[env_id]["eval_solved"](runs[s]["budget_eval"])]
        text += (f"; the evaluated model is the one of each run's best greedy check ({config.extend_eval_episodes} "
                 f"episodes, reset seeds {CHECK_SEED:,} on, every {config.keep_best_every} updates once training "
                 f"reached {config.extend_return:g}, and at the end; {min(counts)} to {max(counts)} checks per run), "
                 f"kept at a median of {np.median(kept):,.0f} steps (range {min(kept):,} to {max(kept):,}) on "
                 f"{len(kept)} of {len(seeds)} seeds; the model at the budget, evaluated the same way for comparison, "
                 f"is solved on {len(solved)} of {len(seeds)}")
    elif config.extend_eval_episodes:
        from gaelib.ppo.train import CHECK_SEED

        failed = [s for s in seeds if any(c < config.extend_return for c in runs[s].get("check_returns", []))]
        text += (f"; greedy checks of {config.extend_eval_episodes} episodes (reset seeds {CHECK_SEED:,} on) failed on "
                 f"{len(failed)} of {len(seeds)} seeds"
                 + (": " + ", ".join(f"seed {s} ({len(runs[s]['check_returns'])} checks, the first "
                                     f"{runs[s]['check_returns'][0]:.1f})" for s in failed) if failed else ""))
    return text


def tuning_runs(env_id: str, config: dict) -> tuple[list[dict], list[str]]:
    """The full-budget runs of exactly this configuration in the tuning log, one per seed (the latest),
    with the notes of the entries they come from: a preset may have been run on its tuning seeds in
    several entries (for example the hardest seeds first, then the others)."""
    log = ENVS[env_id]["log"]
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    want = json.loads(json.dumps(config))  # tuples become lists, as in the log
    from gaelib.ppo import PPOConfig

    # fields added to PPOConfig after an entry was logged had their defaults then
    defaults = json.loads(json.dumps(dataclasses.asdict(PPOConfig())))
    runs, notes = {}, []
    for e in entries:
        if e.get("config") is not None and {**defaults, **e["config"]} == want and not e.get("screen"):
            runs.update({r["seed"]: r for r in e["runs"]})
            notes.append(e["note"])
    return [runs[s] for s in sorted(runs)], notes


def tuning_summary(env_id: str, config: dict) -> str:
    """The tuning log's runs of exactly this configuration (gaelib only, steps and evaluation)."""
    log = ENVS[env_id]["log"]
    if log is None:
        return "None: these settings were not tuned by the protocol (they are the chapter's, used as they are)."
    runs, notes = tuning_runs(env_id, config)
    if not runs:
        return f"No full-budget entry of `{log.name}` has exactly this configuration."
    rows = ["| seed (set) | gaelib steps | gaelib eval (mean / min) |", "|---:|---:|---:|"]
    rows += [f"| {r['seed']} (tuning) | {fmt(r['steps'], ',')} | {r['eval_mean']:.1f} / {r['eval_min']:.0f} |"
             for r in runs]
    steps = [r["steps"] for r in runs]
    rows.append(f"| **median** | **{fmt(None if None in steps else float(np.median(steps)), ',.0f')}** | |")
    solved = sum(bool(r.get("eval_solved", r.get("eval_500"))) for r in runs)
    source = "; ".join(f'"{n}"' for n in notes)
    return "\n".join(rows + ["", f"Reached the threshold: {sum(x is not None for x in steps)}/{len(runs)}; greedy "
                              f"evaluation solved: {solved} of {len(runs)} (entries {source} of `{log.name}`)."])


def tuning_seeds_of(env_id: str, config: dict) -> str:
    """The tuning seeds this configuration was run on at its full budget (``100-119`` if none is logged)."""
    if ENVS[env_id]["log"] is None:
        return "100-119"
    runs, _ = tuning_runs(env_id, config)
    return seed_range([r["seed"] for r in runs]) if runs else "100-119"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(ENVS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--workers", type=int, default=1, help="processes, each running both algorithms on "
                        "its seeds (wall times are compared per seed, so both see the same load)")
    parser.add_argument("--sb3-seeds", type=int, nargs="+", default=None,
                        help="run SB3 only on these of the seeds (default: all), where its budget does not fit")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here, and the "
                        "results as JSON beside it (same name, .json), for the chapters to load")
    args = parser.parse_args(argv)
    if args.sb3_seeds is not None and not set(args.sb3_seeds) <= set(args.seeds):
        parser.error("--sb3-seeds must be some of --seeds")
    warm_up()
    spec, config = ENVS[args.env], preset(args.env)
    load0 = os.getloadavg()
    results = {"gaelib": {}, "sb3": {}}
    sb3_seeds = args.seeds if args.sb3_seeds is None else args.sb3_seeds
    jobs = sorted([(args.env, s, s in sb3_seeds) for s in args.seeds], key=lambda j: not j[2])  # SB3's first
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers, initializer=warm_up) as pool:
            pairs = list(pool.imap(run_pair, jobs))
    else:
        pairs = [run_pair(j) for j in jobs]
    for s, out in pairs:
        for name in out:
            results[name][s] = out[name]
    load1 = os.getloadavg()
    import stable_baselines3

    sets = sorted({seed_set(s) for s in args.seeds})
    command = (f"OMP_NUM_THREADS=1 python benchmarks/ppo_vs_sb3.py --env {args.env} --seeds "
               f"{' '.join(map(str, args.seeds))} --workers {args.workers}"
               f"{' --sb3-seeds ' + ' '.join(map(str, args.sb3_seeds)) if args.sb3_seeds is not None else ''}"
               f"{' --out ' + str(args.out) if args.out else ''}")
    tuned = tuning_seeds_of(args.env, dataclasses.asdict(config))
    report = "\n".join([
        f"# {args.env}: gaelib PPO vs Stable-Baselines3 PPO (RL Zoo settings)", "",
        (f"Seeds follow `benchmarks/PROTOCOL.md`: the preset `gaelib.ppo.{spec['preset']}` was chosen on the tuning "
         f"seeds {tuned} and is reported on the report seeds 0-19." if "preset" in spec else
         f"Seeds follow `benchmarks/PROTOCOL.md`: gaelib runs {preset_name(args.env)}, used as they are (they were "
         "not tuned by the protocol), on the report seeds 0-19."), "",
        f"## Side by side with SB3 on {' and '.join(sets)} seeds {seed_range(args.seeds)}", "",
        f"Produced by `{command}`.", "",
        f"Steps/seconds: when the mean return of the last {WINDOW} finished training episodes first reached "
        f"{spec['threshold']:g} (seconds since the start of training, environment and model construction "
        f"included). Eval: greedy policy after the full training budget"
        f"{KEPT_TEXT if config.keep_best_every else ''}"
        f", {eval_episodes(args.env)} episodes.", "",
        table(args.env, results, args.seeds), "",
        f"gaelib: `{config}` ({budget_text(args.env, config, results['gaelib'], args.seeds)}).", "",
        f"SB3 {stable_baselines3.__version__}: RL Zoo {args.env} settings {spec['sb3']}"
        f"{' with linear schedules for ' + ' and '.join(spec['sb3_linear']) if spec['sb3_linear'] else ''}"
        f"{', VecNormalize on observations and rewards' if spec['sb3_normalize'] else ''}; budget "
        f"{spec['sb3_budget']:,} steps ({spec['sb3_note']}).", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, {args.workers} worker process(es), torch "
        f"{torch.__version__} with 1 thread each, python {platform.python_version()}; load average {load0[0]:.1f} "
        f"at the start, {load1[0]:.1f} at the end (wall times scale with the load; compare the ratio).", "",
        f"## The same preset on the tuning seeds {tuned} (what it was chosen on; from the tuning log)", "",
        tuning_summary(args.env, dataclasses.asdict(config)),
    ])
    print(report)
    if args.out:
        # Keep a hand-written "## Verdict" / "## Tuning log" part of an existing report below the regenerated table.
        kept = ""
        if args.out.exists():
            old = args.out.read_text()
            cut = [old.index(h) for h in ("\n## Verdict", "\n## Tuning log") if h in old]
            kept = old[min(cut):] if cut else ""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n" + kept)
        args.out.with_suffix(".json").write_text(json.dumps(summary_json(args.env, results, args.seeds, command, tuned),
                                                            indent=1) + "\n")


if __name__ == "__main__":
    main()
