"""The environments of the PPO benchmarks: each one's preset, solve criterion, evaluation and SB3 baseline.

Shared by ``tune_ppo.py`` (tuning runs, on the tuning seeds) and ``ppo_vs_sb3.py`` (the report run,
side by side with Stable-Baselines3, on the report seeds); ``PROTOCOL.md`` says which seeds are which.

For every environment:

* ``preset``: the name of the preset in ``gaelib.ppo`` (chosen on tuning seeds only);
* ``threshold``: the training run has *solved* the task at the first environment step at which the
  mean return of the last ``WINDOW`` finished training episodes reaches it;
* evaluation: ``EVAL_EPISODES`` greedy episodes on a separate environment (reset seeds
  ``EVAL_SEED`` ...), after the whole training budget; ``eval_solved`` says when they count as solved;
* ``sb3``: RL Baselines3 Zoo's PPO settings for the environment (``hyperparams/ppo.yml``; everything
  else SB3's defaults; ``lin_`` rates as linear schedules); ``sb3_budget``: the steps SB3 trains for
  (the zoo's ``n_timesteps``, or a cap stated in ``sb3_note``); with ``sb3_stop``, SB3 stops once it
  reaches the threshold (its evaluation is then of the policy at that point).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WINDOW, EVAL_EPISODES, EVAL_SEED = 20, 20, 10_000
TUNING_SEEDS, REPORT_SEEDS = range(100, 120), range(0, 20)
RESULTS = Path(__file__).resolve().parent / "results"

ENVS = {
    "CartPole-v1": dict(
        preset="CARTPOLE", threshold=475.0, log=RESULTS / "cartpole_tuning.jsonl",
        eval_solved=lambda ev: bool(ev.min() == 500), eval_rule="every episode lasts 500 steps (mean 500)",
        sb3=dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                 learning_rate=1e-3, clip_range=0.2),
        sb3_linear=("learning_rate", "clip_range"), sb3_normalize=False, sb3_budget=100_000, sb3_stop=False,
        sb3_note="the zoo's budget, 100,000 steps; evaluated after it"),
    "Acrobot-v1": dict(
        preset="ACROBOT", threshold=-100.0, log=RESULTS / "acrobot_tuning.jsonl",
        eval_solved=lambda ev: bool(ev.mean() >= -100), eval_rule="mean return at least -100",
        sb3=dict(n_envs=16, n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0),
        sb3_linear=(), sb3_normalize=True, sb3_budget=300_000, sb3_stop=True,
        sb3_note="the zoo's budget is 1,000,000 steps; to fit the machine, SB3 stops at the step at which it "
                 "reaches the threshold, or at 300,000 steps (then it counts as never), and is "
                 "evaluated there: its evaluation is of the policy at its solve point"),
}


def seed_set(seed: int) -> str:
    return "tuning" if seed in TUNING_SEEDS else "report" if seed in REPORT_SEEDS else "other"


def preset(env_id: str):
    import gaelib.ppo

    return getattr(gaelib.ppo, ENVS[env_id]["preset"])


def greedy_returns(act, env_id: str) -> np.ndarray:
    """Returns of ``EVAL_EPISODES`` episodes of ``act(obs) -> action`` (reset seeds ``EVAL_SEED`` ...)."""
    import gymnasium as gym

    env = gym.make(env_id)
    out = np.zeros(EVAL_EPISODES)
    for k in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=EVAL_SEED + k)
        done = False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            out[k] += r
            done = terminated or truncated
    env.close()
    return out
