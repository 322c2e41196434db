"""Assignments for the class grader: which student function, which checker, how many points.

An assignment is a list of parts; a part names the function the student writes, the checker
that grades it, and the points of each *case group*: ``"edge"`` (the hand-picked edge cases,
run first) and ``"random"`` (the seeded random cases). A group's points are shared equally
among its cases, so a part scores ``sum(points[g] * passed_in_g / cases_in_g)``.

The four assignments of the book are built in (:data:`BOOK`). An instructor defines another in
a small file, TOML, JSON or Python (a module that sets ``ASSIGNMENT`` to the same dict)::

    # my_gae.toml
    name = "gae-homework"
    [[parts]]
    function = "my_gae"            # the name the students' code defines
    checker = "check_gae"          # any of gaelib.checkers.CHECKERS
    points = { edge = 6, random = 4 }
    n_random = 48                  # optional: number of random cases
    seed = 2024                    # optional: a seed the students did not see

and grades with ``gaelib-grade my_gae.toml SUBMISSIONS_DIR --out OUT_DIR``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from gaelib.checkers.checks import CHECKERS

__all__ = ["Part", "Assignment", "BOOK", "load_assignment", "case_group"]

GROUPS = ("edge", "random")


def case_group(description: str) -> str:
    """``"random"`` for the seeded random cases (their descriptions start so), else ``"edge"``."""
    return "random" if description.startswith("random") else "edge"


@dataclass(frozen=True)
class Part:
    """One function to write and the checker that grades it."""

    function: str
    """The name of the student's function (what the notebook or script defines)."""
    checker: str
    """A key of ``gaelib.checkers.CHECKERS``, e.g. ``"check_gae"``."""
    points: dict = field(default_factory=lambda: {"edge": 6.0, "random": 4.0})
    """Points of each case group, ``{"edge": ..., "random": ...}``."""
    n_random: int | None = None
    """Random cases after the edge cases (``None``: the checker's default)."""
    seed: int = 0
    """Seed of the random cases."""
    options: dict = field(default_factory=dict)
    """Extra keyword arguments of the checker (``interior_masks`` for the token checker)."""

    def __post_init__(self):
        if not isinstance(self.function, str) or not self.function.isidentifier():
            raise ValueError(f"function must be a Python identifier, got {self.function!r}")
        if self.checker not in CHECKERS:
            raise ValueError(f"checker must be one of {sorted(CHECKERS)}, got {self.checker!r}")
        if not isinstance(self.points, dict) or not set(self.points) <= set(GROUPS) or not self.points:
            raise ValueError(f"points must map case groups {GROUPS} to numbers, got {self.points!r}")
        for group, pts in self.points.items():
            if isinstance(pts, bool) or not isinstance(pts, (int, float)) or not math.isfinite(pts) or pts < 0:
                raise ValueError(f"points[{group!r}] must be a number >= 0, got {pts!r}")
        if self.n_random is not None and (isinstance(self.n_random, bool) or not isinstance(self.n_random, int)
                                          or self.n_random < 0):
            raise ValueError(f"n_random must be an int >= 0, got {self.n_random!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.options and (self.checker != "check_token_level_gae" or set(self.options) != {"interior_masks"}):
            raise ValueError(f"options: only interior_masks, for check_token_level_gae, got {self.options!r}")

    @property
    def max_points(self) -> float:
        return float(sum(self.points.values()))


@dataclass(frozen=True)
class Assignment:
    """A named list of :class:`Part`."""

    name: str
    parts: tuple

    def __post_init__(self):
        if not self.parts:
            raise ValueError("parts must list at least one part")
        names = [p.function for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"parts: each function may be graded once, got {names}")

    @property
    def max_points(self) -> float:
        return sum(p.max_points for p in self.parts)


def _book() -> dict:
    half = {"edge": 3.0, "random": 2.0}
    return {
        "td": Assignment("td", (Part("student_td_residuals", "check_td_residuals", half),
                                Part("student_discounted_cumsum", "check_discounted_cumsum", half))),
        "gae": Assignment("gae", (Part("student_gae", "check_gae"),)),
        "lambda_returns": Assignment("lambda_returns", (Part("student_lambda_returns", "check_lambda_returns"),)),
        "token_gae": Assignment("token_gae", (Part("student_token_gae", "check_token_level_gae"),)),
    }


BOOK = _book()
"""The book's assignments (``chapters/assignments/assignment_<name>.ipynb``), 10 points each."""


def from_dict(spec: dict) -> Assignment:
    """An :class:`Assignment` from a parsed spec (the TOML/JSON layout in the module docstring)."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec must be a table/dict, got {type(spec).__name__}")
    unknown = set(spec) - {"name", "parts"}
    if unknown:
        raise ValueError(f"spec: unknown keys {sorted(unknown)} (expected name, parts)")
    parts = spec.get("parts")
    if not isinstance(parts, list):
        raise ValueError("parts must be a list of tables ([[parts]] in TOML)")
    built = []
    for i, p in enumerate(parts):
        if not isinstance(p, dict):
            raise ValueError(f"parts[{i}] must be a table, got {type(p).__name__}")
        allowed = {"function", "checker", "points", "n_random", "seed", "interior_masks"}
        if set(p) - allowed:
            raise ValueError(f"parts[{i}]: unknown keys {sorted(set(p) - allowed)}")
        if "function" not in p or "checker" not in p:
            raise ValueError(f"parts[{i}] needs function and checker")
        options = {"interior_masks": p["interior_masks"]} if "interior_masks" in p else {}
        points = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                  for k, v in p.get("points", {"edge": 6.0, "random": 4.0}).items()}
        built.append(Part(p["function"], p["checker"], points, p.get("n_random"), p.get("seed", 0), options))
    name = spec.get("name", "assignment")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return Assignment(name, tuple(built))


def load_assignment(name_or_path: str) -> Assignment:
    """A book assignment by name (``gae``, or ``assignment_gae``), or an instructor's spec file.

    Spec files: ``.toml``, ``.json``, or ``.py`` (run as the instructor's own code; it sets
    ``ASSIGNMENT`` to a dict).
    """
    key = str(name_or_path).removeprefix("assignment_")
    if key in BOOK:
        return BOOK[key]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"assignment must be one of {sorted(BOOK)} or a spec file (.toml, .json, .py); "
                         f"got {name_or_path!r}")
    if path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError as exc:
                raise ValueError("assignment: a .toml spec needs Python 3.11 or the tomli package; "
                                 "use a .json or .py spec") from exc
        spec = tomllib.loads(path.read_text())
    elif path.suffix == ".json":
        spec = json.loads(path.read_text())
    elif path.suffix == ".py":
        namespace: dict = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # the instructor's own file
        if "ASSIGNMENT" not in namespace:
            raise ValueError(f"assignment: {path} must set ASSIGNMENT = {{...}}")
        spec = namespace["ASSIGNMENT"]
    else:
        raise ValueError(f"assignment: a spec file ends in .toml, .json or .py, got {path.name!r}")
    spec = dict(spec)
    spec.setdefault("name", path.stem)
    return from_dict(spec)
