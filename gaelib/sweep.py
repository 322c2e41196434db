r"""A γ–λ sweep of PPO with GAE: train on a grid of (γ, λ) × seeds, tabulate, draw a heatmap.

This reproduces the kind of experiment of the GAE paper (Schulman et al., 2016,
section 6), which trained on a grid of γ and λ and found the best results at
intermediate values of λ. Each cell of the grid is one
:func:`gaelib.ppo.train_ppo` run per seed, summarised by the final return and
the area under its learning curve (:mod:`gaelib.curves`).

The functions are split so that a notebook can run a small grid live and load a
large one from a CSV written by ``benchmarks/gae_sweep.py``:

* :func:`run_one` — one (γ, λ, seed) run → one row (a dict);
* :func:`run_sweep` — every row of a grid, optionally in worker processes;
* :func:`grid_table` — rows → ``[len(gammas), len(lams)]`` mean, standard deviation
  and count of a metric over seeds;
* :func:`plot_heatmap`, :func:`plot_lambda_lines` — the two figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gaelib import _args
from gaelib.curves import step_curve, step_grid, summarize_curve

__all__ = ["ROW_FIELDS", "run_one", "run_sweep", "grid_table", "plot_heatmap", "plot_lambda_lines"]

ROW_FIELDS = ("env", "gamma", "lam", "seed", "total_steps", "episodes", "final", "auc")
"""Columns of a sweep row (and of the CSV the benchmark writes)."""


def run_one(env: str | Callable[[], Any], config, *, gamma: float, lam: float, seed: int,
            grid_points: int = 20, window: int = 10) -> dict:
    """Train once with ``config`` but the given γ and λ; summarise the learning curve.

    Args:
        env: environment id or factory, as for :func:`gaelib.ppo.train_ppo`.
        config: a :class:`gaelib.ppo.PPOConfig`; its ``gamma`` and ``lam`` are replaced.
        gamma, lam: the cell of the grid.
        seed: the training seed.
        grid_points: points of the step grid of the curve (:func:`gaelib.curves.step_grid`).
        window: episodes averaged at each grid point.

    Returns:
        A dict with the keys :data:`ROW_FIELDS` (``env`` is the id, or the
        factory's name) plus ``curve``, the ``[grid_points]`` learning curve.
    """
    from gaelib.ppo import train_ppo

    cfg = _cell_config(config, gamma, lam, grid_points, window)
    seed = _args.integer("seed", seed, minimum=0)
    grid = step_grid(cfg.total_steps, grid_points)  # checked before training, not after
    history = train_ppo(env, cfg, seed=seed, progress=False).history
    curve = step_curve(history.episode_steps, history.episode_returns, grid, window=window)
    final, auc = summarize_curve(curve)
    name = env if isinstance(env, str) else getattr(env, "__name__", repr(env))
    return {"env": name, "gamma": float(gamma), "lam": float(lam), "seed": int(seed),
            "total_steps": int(cfg.total_steps), "episodes": len(history.episode_returns),
            "final": final, "auc": auc, "curve": curve}


def _cell_config(config, gamma, lam, grid_points, window):
    """``config`` with γ and λ replaced, after checking every argument of a cell."""
    if not dataclasses.is_dataclass(config) or not all(hasattr(config, f) for f in ("gamma", "lam", "total_steps")):
        raise TypeError(f"config must be a gaelib.ppo.PPOConfig; got {type(config).__name__}")
    _args.integer("grid_points", grid_points)
    _args.integer("window", window)
    return dataclasses.replace(config, gamma=_args.unit_interval("gamma", gamma),
                               lam=_args.unit_interval("lam", lam))


def _distinct(name: str, values, check) -> list:
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence; got {values!r}")
    out = [check(name, v) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values {out}; each must appear once")
    return out


def _worker(args):
    import torch

    torch.set_num_threads(1)
    env, config, gamma, lam, seed, kw = args
    return run_one(env, config, gamma=gamma, lam=lam, seed=seed, **kw)


def run_sweep(env: str | Callable[[], Any], config, *, gammas: Sequence[float], lams: Sequence[float],
              seeds: Sequence[int], jobs: int = 1, grid_points: int = 20, window: int = 10,
              on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """:func:`run_one` for every (γ, λ, seed) of the grid.

    Args:
        env, config, grid_points, window: as in :func:`run_one`.
        gammas, lams, seeds: the grid; each value in [0, 1] (γ, λ) or a seed >= 0.
        jobs: worker processes (1: run in this process, in grid order).
            With more, ``env`` must be an id or a picklable function.
        on_row: called with each row as it finishes (e.g. to print progress).

    Returns:
        The rows, in grid order (γ outermost, then λ, then seed), whatever the
        order they finished in. Each run depends only on its own seed, so the
        rows are the same for any ``jobs``.
    """
    gammas = _distinct("gammas", gammas, _args.unit_interval)
    lams = _distinct("lams", lams, _args.unit_interval)
    seeds = _distinct("seeds", seeds, lambda name, v: _args.integer(name, v, minimum=0))
    jobs = _args.integer("jobs", jobs)
    if on_row is not None and not callable(on_row):
        raise TypeError(f"on_row must be a function of a row, or None; got {on_row!r}")
    _cell_config(config, gammas[0], lams[0], grid_points, window)
    step_grid(config.total_steps, grid_points)
    kw = {"grid_points": grid_points, "window": window}
    tasks = [(env, config, g, lam, s, kw) for g in gammas for lam in lams for s in seeds]
    if jobs == 1:
        rows = []
        for t in tasks:
            rows.append(_worker(t))
            if on_row is not None:
                on_row(rows[-1])
        return rows
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    rows: list[dict | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_worker, t): i for i, t in enumerate(tasks)}
        for fut in as_completed(futures):
            rows[futures[fut]] = fut.result()
            if on_row is not None:
                on_row(rows[futures[fut]])
    return rows  # type: ignore[return-value]


def grid_table(rows: Sequence[dict], metric: str, gammas: Sequence[float],
               lams: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (over seeds, ``ddof=1``; NaN for one seed) and count of a metric per cell.

    Args:
        rows: dicts (or CSV records) with keys ``gamma``, ``lam`` and ``metric``.
        metric: e.g. ``"final"`` or ``"auc"``.
        gammas, lams: the grid's values, giving the table's row and column order.

    Returns:
        ``(mean, std, count)``, each ``[len(gammas), len(lams)]``; cells without
        rows are NaN (count 0).
    """
    gammas = _distinct("gammas", gammas, _args.unit_interval)
    lams = _distinct("lams", lams, _args.unit_interval)
    shape = (len(gammas), len(lams))
    vals: dict[tuple[int, int], list[float]] = {}
    for k, r in enumerate(rows):
        if not hasattr(r, "keys") or "gamma" not in r or "lam" not in r:
            raise ValueError(f"rows[{k}] must be a dict with keys 'gamma', 'lam' and the metric; got {r!r}")
        if metric not in r:
            raise ValueError(f"metric {metric!r} is not a column of the rows; they have {sorted(r)}")
        try:
            g, lam, value = float(r["gamma"]), float(r["lam"]), float(r[metric])
        except (TypeError, ValueError):
            raise ValueError(f"rows[{k}] must hold numbers in 'gamma', 'lam' and {metric!r}; got {r!r}") from None
        vals.setdefault((_index(gammas, g, "gamma"), _index(lams, lam, "lam")), []).append(value)
    mean, std, count = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, np.int64)
    for (i, j), v in vals.items():
        mean[i, j] = np.mean(v)
        std[i, j] = np.std(v, ddof=1) if len(v) > 1 else np.nan
        count[i, j] = len(v)
    return mean, std, count


def _index(grid, value, name):
    hits = [k for k, g in enumerate(grid) if np.isclose(float(g), value)]
    if not hits:
        raise ValueError(f"a row of rows has {name}={value}, which is not in {name}s {list(grid)}")
    return hits[0]


def plot_heatmap(ax, mean, std, gammas, lams, *, title: str = "", fmt: str = "{:.0f}", cmap: str = "viridis"):
    """Draw a ``[γ, λ]`` table as a heatmap, each cell labelled ``mean ± std``.

    Args:
        ax: a matplotlib Axes.
        mean, std: ``[len(gammas), len(lams)]`` from :func:`grid_table`.
        gammas, lams: axis labels (γ down the rows, λ along the columns).
        title: the Axes' title.
        fmt: format of the numbers in the cells.
        cmap: colour map (brighter: higher).

    Returns:
        The image (for a colour bar).
    """
    mean = _args.float_array("mean", mean, 2, finite=False)
    std = _args.float_array("std", std, 2, finite=False)
    if mean.shape != (len(gammas), len(lams)) or std.shape != mean.shape:
        raise ValueError(f"mean and std must have shape [len(gammas), len(lams)] = {(len(gammas), len(lams))}; "
                         f"got {mean.shape} and {std.shape}")
    im = ax.imshow(mean, cmap=cmap, aspect="auto", origin="lower")
    lo, hi = np.nanmin(mean), np.nanmax(mean)
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            if np.isnan(mean[i, j]):
                continue
            text = fmt.format(mean[i, j])
            if not np.isnan(std[i, j]):
                text += "\n±" + fmt.format(std[i, j])
            bright = hi > lo and (mean[i, j] - lo) / (hi - lo) > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="black" if bright else "white")
    ax.set_xticks(range(len(lams)), [f"{v:g}" for v in lams])
    ax.set_yticks(range(len(gammas)), [f"{v:g}" for v in gammas])
    ax.set_xlabel("λ")
    ax.set_ylabel("γ")
    ax.set_title(title)
    return im


def plot_lambda_lines(ax, rows: Sequence[dict], metric: str, gammas, lams, *, title: str = ""):
    """The metric against λ, one line per γ: seed mean with every seed as a dot.

    λ is placed at equal spacing (its values crowd near 1), labelled by value.
    """
    x = np.arange(len(lams))
    mean, _, _ = grid_table(rows, metric, gammas, lams)
    for i, g in enumerate(gammas):
        (line,) = ax.plot(x, mean[i], marker="o", label=f"γ = {g:g}")
        for r in rows:
            if np.isclose(float(r["gamma"]), float(g)):
                j = _index(lams, float(r["lam"]), "lam")
                ax.plot(x[j] + 0.08 * (i - (len(gammas) - 1) / 2), float(r[metric]), ".",
                        color=line.get_color(), alpha=0.5, markersize=5)
    ax.set_xticks(x, [f"{v:g}" for v in lams])
    ax.set_xlabel("λ (equally spaced)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=9)
