r"""Render a short rollout offscreen into a strip of frames (a picture for a chapter).

A Gymnasium environment made with ``render_mode="rgb_array"`` returns each frame
as an ``[H, W, 3]`` uint8 array from ``env.render()``; no window is opened. The
classic-control and Box2D environments draw with pygame, which still wants a
video driver: with ``SDL_VIDEODRIVER=dummy`` (set here if unset) it draws into
memory only, so this works on a headless machine or in CI. MuJoCo environments
render with OpenGL; headless, that needs an offscreen context, so importing this
module sets ``MUJOCO_GL=egl`` (Mesa's EGL) unless ``MUJOCO_GL`` is already set.
MuJoCo reads the variable when it is first imported: import this module before
making any MuJoCo environment.

:func:`rollout_frames` runs one seeded episode with a policy and keeps every
``every``-th frame; :func:`frame_strip` lays them side by side;
:func:`model_policy` turns a gaelib actor-critic into the ``policy_fn`` both take.

Example::

    from gaelib.render import frame_strip, model_policy
    strip = frame_strip("Acrobot-v1", model_policy(model), seed=0, n_frames=6, every=20)
    plt.imshow(strip); plt.axis("off")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from gaelib import _args

# MuJoCo picks its OpenGL backend when it is first imported; EGL renders without a display.
os.environ.setdefault("MUJOCO_GL", "egl")

__all__ = ["RenderedRollout", "rollout_frames", "frame_strip", "strip_of", "model_policy"]


class RenderedRollout(NamedTuple):
    """What :func:`rollout_frames` records."""

    frames: list[np.ndarray]
    """The kept frames, each ``[H, W, 3]`` uint8."""
    steps: list[int]
    """The number of steps taken before each kept frame was drawn (0 is right after reset)."""
    episode_return: float
    """Undiscounted sum of the rewards of the steps taken."""
    ended: bool
    """Whether the episode terminated or was truncated before ``n_frames`` frames were kept."""


def _make_env(env):
    import gymnasium as gym

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws in memory, no window
    if isinstance(env, str):
        return gym.make(env, render_mode="rgb_array")
    if callable(env):
        e = env()
    else:
        raise TypeError(f"env must be an environment id or a function returning an env; got {env!r}")
    if getattr(e, "render_mode", None) != "rgb_array":
        mode = getattr(e, "render_mode", None)
        e.close()
        raise ValueError(f"env must be made with render_mode='rgb_array'; got render_mode={mode!r}")
    return e


def _to_env_action(space, policy_fn) -> Callable[[Any], Any]:
    """What a policy returns -> what the env steps with (:func:`gaelib.rollout.env_action`,
    as in training), except that a hand-written policy's discrete actions are the env's own."""
    from gymnasium import spaces

    from gaelib.rollout import env_action

    if isinstance(space, spaces.Discrete) and not getattr(policy_fn, "returns_action_index", False):
        return lambda a: a
    return lambda a: env_action(space, a)


def rollout_frames(env: str | Callable[[], Any], policy_fn: Callable[[np.ndarray], Any], *,
                   seed: int = 0, n_frames: int = 6, every: int = 10) -> RenderedRollout:
    """Run one episode with ``policy_fn`` and keep every ``every``-th rendered frame.

    Frames are drawn after ``0, every, 2·every, ...`` steps until ``n_frames`` are
    kept. If the episode ends first, the frame of its final state is kept too
    (unless it was just kept) and fewer than ``n_frames`` frames are returned.

    Args:
        env: an environment id (made with ``render_mode="rgb_array"``) or a
            function returning a new environment made with that render mode.
        policy_fn: maps one observation (as returned by the environment) to one
            action. Continuous (Box) actions are clipped to the action space's
            bounds before stepping, as the rollout collector does in training;
            the index returned by a :func:`model_policy` is shifted by the start
            of a ``Discrete(n, start=k)`` space, as the collector does too.
        seed: seeds ``env.reset`` and ``env.action_space``.
        n_frames: frames to keep, >= 1.
        every: steps between kept frames, >= 1.

    Returns:
        :class:`RenderedRollout` ``(frames, steps, episode_return, ended)``.

    Raises:
        ValueError: ``n_frames`` or ``every`` not a positive integer, or an env
            whose render mode is not ``"rgb_array"``.
    """
    n_frames = _args.integer("n_frames", n_frames)
    every = _args.integer("every", every)
    seed = _args.integer("seed", seed, minimum=0)
    if not callable(policy_fn):
        raise TypeError(f"policy_fn must be a function from an observation to an action; got {policy_fn!r}")
    e = _make_env(env)
    try:
        obs, _ = e.reset(seed=seed)
        e.action_space.seed(seed)
        to_env = _to_env_action(e.action_space, policy_fn)
        frames, steps = [np.asarray(e.render(), dtype=np.uint8)], [0]
        total, t, ended = 0.0, 0, False
        while len(frames) < n_frames:
            action = to_env(policy_fn(obs))
            obs, reward, terminated, truncated, _ = e.step(action)
            total += float(reward)
            t += 1
            ended = bool(terminated or truncated)
            if t % every == 0 or ended:
                frames.append(np.asarray(e.render(), dtype=np.uint8))
                steps.append(t)
            if ended:
                break
    finally:
        e.close()
    return RenderedRollout(frames, steps, total, ended)


def frame_strip(env: str | Callable[[], Any], policy_fn: Callable[[np.ndarray], Any], *,
                seed: int = 0, n_frames: int = 6, every: int = 10, shrink: int = 1,
                gap: int = 4, gap_value: int = 255) -> np.ndarray:
    """A row of frames of one rendered episode, as a single image.

    The frames of :func:`rollout_frames` are downsampled by keeping every
    ``shrink``-th pixel in each direction, then placed left to right with
    ``gap`` pixels of grey level ``gap_value`` between them (255: white).

    Args:
        env, policy_fn, seed, n_frames, every: as in :func:`rollout_frames`.
        shrink: integer downsampling factor, >= 1 (2 halves width and height).
        gap: pixels between frames, >= 0.
        gap_value: grey level of the gap, 0 (black) to 255 (white).

    Returns:
        ``[H, k·W + (k - 1)·gap, 3]`` uint8 array, ``k <= n_frames`` frames of
        size ``H × W`` after shrinking.
    """
    _check_strip_args(shrink, gap, gap_value)  # before the rollout, not after it
    frames = rollout_frames(env, policy_fn, seed=seed, n_frames=n_frames, every=every).frames
    return strip_of(frames, shrink=shrink, gap=gap, gap_value=gap_value)


def _check_strip_args(shrink, gap, gap_value) -> None:
    _args.integer("shrink", shrink)
    _args.integer("gap", gap, minimum=0)
    if _args.integer("gap_value", gap_value, minimum=0) > 255:
        raise ValueError(f"gap_value must lie in [0, 255]; got {gap_value!r}")


def strip_of(frames: list[np.ndarray], *, shrink: int = 1, gap: int = 4, gap_value: int = 255) -> np.ndarray:
    """Lay equally sized ``[H, W, 3]`` uint8 frames side by side (see :func:`frame_strip`)."""
    _check_strip_args(shrink, gap, gap_value)
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    if not isinstance(frames, (list, tuple)) or not all(isinstance(f, np.ndarray) for f in frames):
        raise TypeError(f"frames must be a list of [H, W, C] uint8 numpy arrays; got {type(frames).__name__}")
    if not frames:
        raise ValueError("frames is empty")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or len(frames[0].shape) != 3:
        raise ValueError(f"frames must all have one shape [H, W, C]; got shapes {sorted(shapes)}")
    dtypes = {str(f.dtype) for f in frames}
    if dtypes != {"uint8"}:
        raise TypeError(f"frames must be uint8 images (0..255); got dtypes {sorted(dtypes)}")
    small = [f[::shrink, ::shrink] for f in frames]
    h, _, c = small[0].shape
    spacer = np.full((h, gap, c), int(gap_value), dtype=np.uint8)
    pieces = [small[0]]
    for f in small[1:]:
        pieces += [spacer, f]
    return np.concatenate(pieces, axis=1)


def model_policy(model, *, deterministic: bool = True) -> Callable[[np.ndarray], Any]:
    """Wrap a gaelib actor-critic as ``policy_fn(obs) -> action`` for one environment.

    Args:
        model: a network from :mod:`gaelib.networks` (``mode`` and ``act`` methods).
        deterministic: take the most likely action (``model.mode``; the mean for a
            Gaussian policy) rather than sampling (``model.act``, seeded by torch's
            global generator).

    Returns:
        A function from one observation to an int for discrete actions (the model's
        index, which :func:`rollout_frames` shifts by the start of a
        ``Discrete(n, start=k)`` space; the function's ``returns_action_index``
        attribute says so) or a float array (continuous actions, unclipped;
        :func:`rollout_frames` clips them).
    """
    import torch

    _args.methods("model", model, "mode", "act", hint=" (see gaelib.networks)")
    deterministic = _args.boolean("deterministic", deterministic)

    @torch.no_grad()
    def policy_fn(obs):
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))[None]
        a = (model.mode(x) if deterministic else model.act(x)[0])[0].numpy()
        return a.item() if a.ndim == 0 else a

    policy_fn.returns_action_index = True
    return policy_fn
