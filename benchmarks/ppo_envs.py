"""The environments of the PPO benchmarks: each one's preset, solve criterion, evaluation and SB3 baseline.

Shared by ``tune_ppo.py`` (tuning runs, on the tuning seeds) and ``ppo_vs_sb3.py`` (the report run,
side by side with Stable-Baselines3, on the report seeds); ``PROTOCOL.md`` says which seeds are which.

For every environment:

* ``preset``: the name of the preset in ``gaelib.ppo`` (chosen on tuning seeds only), or ``config``: the
  fields of the ``PPOConfig`` a chapter uses as it is (not tuned by the protocol; reported on report seeds);
* ``threshold``: the training run has *solved* the task at the first environment step at which the
  mean return of the last ``WINDOW`` finished training episodes reaches it;
* evaluation: ``EVAL_EPISODES`` (or the entry's ``eval_episodes``) greedy episodes on a separate environment (reset seeds
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
    "LunarLander-v3": dict(
        preset="LUNARLANDER", threshold=200.0, log=RESULTS / "lunarlander_tuning.jsonl", eval_episodes=100,
        eval_solved=lambda ev: bool(ev.mean() >= 200), eval_rule="mean return at least 200 (Gymnasium's threshold)",
        sb3=dict(n_envs=16, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
        sb3_linear=(), sb3_normalize=False, sb3_budget=1_000_000, sb3_stop=True,
        sb3_note="the zoo's settings for LunarLander-v2 and its budget, 1,000,000 steps; to fit the machine, SB3 "
                 "stops at the step at which it reaches the threshold (never, if it does not by 1,000,000) and is "
                 "evaluated there"),
    # The control chapter's settings, used as they are (not tuned by the protocol): reported on report seeds.
    "Pendulum-v1": dict(
        config=dict(total_steps=60_000, num_envs=4, num_steps=256, num_epochs=10, minibatch_size=64,
                    learning_rate=1e-3, gamma=0.9, lam=0.95),
        threshold=-200.0, log=None,
        eval_solved=lambda ev: bool(ev.mean() >= -200), eval_rule="mean return at least -200 (Gymnasium sets no "
        "threshold for Pendulum-v1; -200 is the one this benchmark uses)",
        sb3=dict(n_envs=4, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, learning_rate=1e-3,
                 clip_range=0.2, use_sde=True, sde_sample_freq=4),
        sb3_linear=(), sb3_normalize=False, sb3_budget=100_000, sb3_stop=False,
        sb3_note="the zoo's budget, 100,000 steps; evaluated after it"),
    "InvertedPendulum-v5": dict(
        config=dict(total_steps=30_000, num_envs=4, num_steps=256, num_epochs=10, minibatch_size=256,
                    learning_rate=1e-3, gamma=0.99, lam=0.95),
        threshold=950.0, log=None,
        eval_solved=lambda ev: bool(ev.mean() >= 950), eval_rule="mean return at least 950 (Gymnasium's threshold)",
        sb3=dict(n_envs=1, batch_size=64, n_steps=32, gamma=0.999, learning_rate=0.000222425, ent_coef=1.37976e-07,
                 clip_range=0.4, n_epochs=5, gae_lambda=0.9, max_grad_norm=0.3, vf_coef=0.19816),
        sb3_linear=(), sb3_normalize=True, sb3_budget=300_000, sb3_stop=True,
        sb3_note="the zoo's settings for InvertedPendulum-v3 (it has none for v5); its budget is 1,000,000 steps: "
                 "to fit the machine, SB3 stops at the step at which it reaches the threshold, or at 300,000 steps "
                 "(then it counts as never), and is evaluated there"),
}


def eval_episodes(env_id: str) -> int:
    """How many greedy episodes evaluate a policy for ``env_id`` (``EVAL_EPISODES`` unless the entry says)."""
    return ENVS[env_id].get("eval_episodes", EVAL_EPISODES)


def seed_range(seeds: list[int]) -> str:
    """``"100-119"`` for consecutive seeds, else the seeds listed."""
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def seed_set(seed: int) -> str:
    return "tuning" if seed in TUNING_SEEDS else "report" if seed in REPORT_SEEDS else "other"


def preset(env_id: str):
    """gaelib's settings for ``env_id``: its tuned preset in ``gaelib.ppo``, or the chapter's settings."""
    import gaelib.ppo

    spec = ENVS[env_id]
    if "config" in spec:
        return gaelib.ppo.PPOConfig(**spec["config"])
    return getattr(gaelib.ppo, spec["preset"])


def preset_name(env_id: str) -> str:
    spec = ENVS[env_id]
    return f"gaelib.ppo.{spec['preset']}" if "preset" in spec else "the applications chapter's settings"


def greedy_returns(act, env_id: str) -> np.ndarray:
    """Returns of ``eval_episodes(env_id)`` episodes of ``act(obs) -> action`` (reset seeds ``EVAL_SEED`` ...)."""
    import gymnasium as gym

    env = gym.make(env_id)
    out = np.zeros(eval_episodes(env_id))
    for k in range(len(out)):
        obs, _ = env.reset(seed=EVAL_SEED + k)
        done = False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            out[k] += r
            done = terminated or truncated
    env.close()
    return out
