"""What the class grader writes: a gradebook, feedback files, Gradescope results, a summary.

Into ``OUT_DIR``:

- ``gradebook.csv``: one row per student: ``student, score, max_score, cases_passed,
  cases, first_failure, flags`` (flags separated by ``;``), then one score column per part
  (like otter-grader's ``final_grades.csv``, a column per question);
- ``feedback/<student>.txt``: the score, each checker's own feedback (the first failing case
  and its hint), and what else went wrong (cell errors, limits, printing, borrowed code);
- ``gradescope/<student>/results.json``: Gradescope's autograder format (``score``,
  ``output``, ``tests`` with ``name``, ``score``, ``max_score``, ``status``, ``output``); with a
  single submission (what Gradescope runs) also ``results.json`` at the top of ``OUT_DIR``;
- ``summary.txt``: the score distribution and the most common first failure with its hint.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

__all__ = ["write_all", "summary", "FLAG_MEANINGS"]

FLAG_MEANINGS = {
    "not-implemented": "a function still raises NotImplementedError",
    "missing-function": "the function to grade is not defined",
    "wrong-signature": "the function takes other arguments than the assignment's",
    "syntax-error": "a cell or the script does not parse",
    "cell-error": "a cell raised an exception (the next cells still ran)",
    "timeout": "a call, a cell or the whole submission ran past its time limit",
    "crashed": "the process ended without a report (os._exit, a signal, the memory limit)",
    "output-capped": "it printed more than was kept",
    "calls-gaelib": "the graded function uses gaelib's own estimator: not credited",
    "copies-gaelib": "the graded function is mostly lines of gaelib's source: to review",
    "unreadable": "the file is not a readable notebook",
}
"""What each gradebook flag means."""


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def feedback_text(r, assignment_name: str) -> str:
    lines = [f"{r.student}: {_fmt(r.score)} / {_fmt(r.max_score)} points (assignment {assignment_name})", ""]
    for p in r.parts:
        groups = ", ".join(f"{g} {_fmt(s)}/{_fmt(p.part.points[g])}" for g, s in p.group_scores.items())
        lines += [f"== {p.part.function} ({p.part.checker}): {_fmt(p.score)} / {_fmt(p.part.max_points)} "
                  f"({groups})", p.feedback, ""]
    if r.notes:
        lines += ["== other problems"] + [f"  - {n}" for n in r.notes] + [""]
    if r.flags:
        lines += ["== flags"] + [f"  - {f}: {FLAG_MEANINGS.get(f, '')}" for f in r.flags] + [""]
    return "\n".join(lines)


def gradescope(r, assignment_name: str) -> dict:
    tests = []
    for p in r.parts:
        for group, score in p.group_scores.items():
            mx = p.part.points[group]
            tests.append({"name": f"{p.part.function}: {group} cases ({p.part.checker})", "score": round(score, 4),
                          "max_score": mx, "status": "passed" if score >= mx else "failed",
                          "output": p.feedback, "visibility": "visible"})
    return {"score": round(r.score, 4), "output": feedback_text(r, assignment_name), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def write_all(results: list, out: Path, assignment) -> None:
    """Write the gradebook, feedback files and Gradescope results of ``results`` into ``out``."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "score", "max_score", "cases_passed", "cases", "first_failure", "flags"]
                   + [p.function for p in assignment.parts])
        for r in results:
            w.writerow([r.student, _fmt(r.score), _fmt(r.max_score), sum(p.n_passed for p in r.parts),
                        sum(p.n_cases for p in r.parts), r.first_failure, ";".join(r.flags)]
                       + [_fmt(p.score) for p in r.parts])
    for r in results:
        (out / "feedback" / f"{r.student}.txt").write_text(feedback_text(r, assignment.name))
        folder = out / "gradescope" / r.student
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(gradescope(r, assignment.name), indent=1))
    if len(results) == 1:
        (out / "results.json").write_text(json.dumps(gradescope(results[0], assignment.name), indent=1))


def summary(results: list, assignment, isolation_words: str) -> str:
    """Score distribution, flags, and the most common first failure with its hint."""
    n = len(results)
    mx = assignment.max_points
    lines = [f"graded {n} submissions for assignment {assignment.name} (max {_fmt(mx)} points)",
             f"isolation: {isolation_words}", "", "score distribution:"]
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    counts = Counter()
    for r in results:
        frac = r.score / mx if mx else 0.0
        counts[min(4, int(frac * 5))] += 1
    for i in range(5):
        lo, hi = edges[i] * mx, edges[i + 1] * mx
        label = f"  [{_fmt(lo):>5}, {_fmt(hi):>5}{']' if i == 4 else ')'}"
        lines.append(f"{label} {counts[i]:4d} {'#' * counts[i]}".rstrip())
    full = sum(r.score >= mx - 1e-9 for r in results)
    lines.append(f"  full marks: {full}, zero: {sum(r.score <= 1e-9 for r in results)}, "
                 f"mean {_fmt(sum(r.score for r in results) / max(n, 1))}")
    flags = Counter(f for r in results for f in r.flags)
    if flags:
        lines += ["", "flags: " + ", ".join(f"{f} {c}" for f, c in flags.most_common())]
    hints = Counter(next(((p.part.function, p.hint) for p in r.parts if p.hint), None) for r in results)
    hints.pop(None, None)
    if hints:
        ((function, hint), c), = hints.most_common(1)
        wrong = sum(hints.values())
        lines += ["", f"most common first failure, in {c} of the {wrong} submissions whose {function} ran and "
                      f"returned a wrong output:", f"  {hint}"]
    return "\n".join(lines)
