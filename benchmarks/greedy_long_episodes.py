"""The longest greedy evaluation episodes of a preset's runs, replayed: what the policy does in them.

A diagnostic for tuning seeds only (``benchmarks/PROTOCOL.md``): it trains the environment's preset on each
seed, evaluates the greedy policy on ``--episodes`` episodes (reset seeds 20,000 on, not the benchmark's
evaluation seeds) and replays the longest one, printing its length, which actions the last 100 steps took,
how far the observation moved per step there, and the policy's probability of its greedy action.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/greedy_long_episodes.py --env Acrobot-v1 --seeds 203 133 --episodes 200
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ppo_envs import ENVS, preset  # noqa: E402

FIRST_EPISODE_SEED = 20_000


def replay(model, env_id: str, seed: int):
    """One greedy episode from reset seed ``seed``: ``(observations, actions, top)``, ``top`` the probability
    of each greedy action."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    observations, actions, top = [], [], []
    done = False
    while not done:
        x = torch.as_tensor(np.asarray(obs, np.float32))[None]
        with torch.no_grad():
            a = model.mode(x)
            top.append(float(model.evaluate(x, a)[0].exp()))
        observations.append(obs)
        actions.append(int(a[0]))
        obs, _, terminated, truncated, _ = env.step(int(a[0]))
        done = terminated or truncated
    env.close()
    return np.array(observations), np.array(actions), np.array(top)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Acrobot-v1", choices=sorted(k for k in ENVS if ENVS[k].get("preset")))
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args(argv)
    if any(s < 100 for s in args.seeds):
        parser.error("a diagnostic for tuning seeds (100 and above); seeds 0-19 are for reporting")
    from gaelib.ppo import evaluate_policy, train_ppo

    torch.set_num_threads(1)
    for seed in args.seeds:
        model, _ = train_ppo(args.env, preset(args.env), seed=seed, progress=False)
        greedy = evaluate_policy(model, args.env, n_episodes=args.episodes, seed=FIRST_EPISODE_SEED)
        sampled = evaluate_policy(model, args.env, n_episodes=args.episodes, seed=FIRST_EPISODE_SEED,
                                  deterministic=False)
        k = int(np.argmin(greedy))
        observations, actions, top = replay(model, args.env, FIRST_EPISODE_SEED + k)
        tail = slice(-100, None)
        print(f"seed {seed}: {args.episodes} episodes, mean greedy {greedy.mean():.1f}, sampled {sampled.mean():.1f}; "
              f"the lowest return, greedy {greedy.min():.0f}, sampled {sampled.min():.0f}")
        print(f"  longest greedy episode (reset seed {FIRST_EPISODE_SEED + k}): {len(actions)} steps; its last 100: "
              f"actions {sorted(set(actions[tail].tolist()))}, the observation moves by up to "
              f"{np.abs(np.diff(observations[tail], axis=0)).max():.2f} per step, the greedy action's probability "
              f"{top[tail].min():.2f} to {top[tail].max():.2f}; over the episode, median {np.median(top):.2f}")


if __name__ == "__main__":
    main()
