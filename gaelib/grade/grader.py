"""Grade one submission: prepare its scratch directory, run the worker, score what came back.

The worker (``gaelib.grade.worker``) receives only the cases' inputs; the comparison with
gaelib's answers, the hints and the points happen here, in the grader's process
(:func:`gaelib.checkers.engine.grade`), so the answers are never where student code runs.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gaelib.checkers import engine
from gaelib.checkers.checks import build
from gaelib.grade import codec, sandbox, submissions
from gaelib.grade.assignments import GROUPS, Assignment, Part, case_group

__all__ = ["PartResult", "StudentResult", "prepare", "grade_submission"]

MAX_RESULT_BYTES = 50_000_000


@dataclass
class PartResult:
    """One graded function."""

    part: Part
    score: float
    group_scores: dict
    n_passed: int
    n_cases: int
    feedback: str
    """The checker's own feedback (first failing case and hint), or why it could not run."""
    first_failure: str = ""
    """One line for the gradebook: the first failing case and its hint, or the problem."""
    flags: list = field(default_factory=list)
    hint: str | None = None
    """The hint of the first failing case, when the function ran and returned a wrong output."""


@dataclass
class StudentResult:
    """One submission, graded."""

    student: str
    path: Path
    parts: list
    flags: list
    notes: list
    """Lines for the feedback file besides the parts' (cell errors, limits, printing)."""
    wall_seconds: float = 0.0
    max_rss_mb: float = 0.0
    printed: str = ""

    @property
    def score(self) -> float:
        return sum(p.score for p in self.parts)

    @property
    def max_score(self) -> float:
        return sum(p.part.max_points for p in self.parts)

    @property
    def first_failure(self) -> str:
        return next((p.first_failure for p in self.parts if p.first_failure), "")


def prepare(assignment: Assignment) -> list:
    """For each part: its cases, variants and engine options (built once for the class)."""
    out = []
    for part in assignment.parts:
        cases, variants, options = build(part.checker, n_random=part.n_random, seed=part.seed, **part.options)
        out.append((part, cases, variants, options))
    return out


def _flag(flags, name):
    if name not in flags:
        flags.append(name)


def _zero(part, cases, text, flags, first):
    return PartResult(part, 0.0, {g: 0.0 for g in part.points}, 0, len(cases), text, first, flags)


def _score(part, cases, outcomes):
    passed = [engine.case_passed(o, c) for o, c in zip(outcomes, cases)]
    passed += [False] * (len(cases) - len(passed))
    scores = {}
    for group in GROUPS:
        if group not in part.points:
            continue
        idx = [i for i, c in enumerate(cases) if case_group(c.description) == group]
        scores[group] = part.points[group] * (sum(passed[i] for i in idx) / len(idx) if idx else 1.0)
    return scores


def _outcome(raw: dict, input_names) -> engine.Outcome:
    """An :class:`~gaelib.checkers.engine.Outcome` from the worker's JSON, checked field by field."""
    status = raw.get("status") if raw.get("status") in ("ok", "error", "not_implemented", "timeout", "exit",
                                                          "interrupt") else "error"
    error = raw.get("error")
    error = str(error)[:1000] if error is not None else ("the worker reported an unknown status"
                                                         if status != "ok" else None)
    mutated = [m for m in raw.get("mutated", []) if m in input_names]
    note = raw.get("dtype_note")
    try:
        output = codec.decode(raw.get("output"))
    except (ValueError, TypeError, KeyError):
        output = "<an output the grader could not read>"
    return engine.Outcome(output, status, error, mutated, str(note)[:40] if note else None)


def _grade_part(part, cases, variants, options, report, cells):
    flags, hint = [], None
    name = part.function
    if report is None:
        return _zero(part, cases, "", flags, "")
    raw = report.get("parts", {}).get(name)
    if not isinstance(raw, dict):
        return _zero(part, cases, f"{name} was not graded: the submission stopped before it.", ["crashed"],
                     f"{name}: not graded (the submission stopped)")
    status = raw.get("status")
    if status in ("missing", "signature", "crashed"):
        text = str(raw.get("message", ""))[:500]
        flag = {"missing": "missing-function", "signature": "wrong-signature", "crashed": "crashed"}[status]
        return _zero(part, cases, f"{part.checker}: {text}", [flag], f"{name}: {text}")
    outcomes = [_outcome(o, list(cases[0].inputs)) for o in raw.get("outcomes", [])[: len(cases)]
                if isinstance(o, dict)]
    result = engine.grade(part.checker, name, cases, outcomes, variants, **options)
    group_scores = _score(part, cases, outcomes)
    feedback, first = result.message, ""
    if result.not_implemented:
        _flag(flags, "not-implemented")
        first = f"{name}: not implemented yet"
    elif result.first_failure is not None:
        f = result.first_failure
        why = f.error or f.hint or ""
        first = f"{part.checker} case {f.index} ({f.description}): {why}"
        hint = f.hint.split(" (this explains")[0] if f.hint and not f.error else None
        if result.timed_out:
            _flag(flags, "timeout")
    calls = [str(c) for c in raw.get("gaelib_calls", [])][:10]
    refs = submissions.gaelib_references(cells, name)
    if calls or refs:
        _flag(flags, "calls-gaelib")
        used = ", ".join(sorted(set(calls) | set(refs)))
        feedback += ("\n  NOT CREDITED: your code uses gaelib's own implementation (" + used + ") instead of "
                     "implementing it. Write the computation yourself; gaelib may only be used to compare.")
        first = f"{name}: uses gaelib ({used}); not credited"
        group_scores = {g: 0.0 for g in group_scores}
    for fn_name, (n, total) in submissions.copied_lines(cells, name).items():
        _flag(flags, "copies-gaelib")
        feedback += (f"\n  REVIEW: {n} of the {total} lines of {fn_name} are lines of gaelib's own source; "
                     f"the instructor will look at it.")
    return PartResult(part, sum(group_scores.values()), group_scores, result.n_passed, len(cases), feedback,
                      first[:300], flags, None if calls or refs else hint)


def _read_report(path: Path):
    if not path.is_file() or path.stat().st_size > MAX_RESULT_BYTES:
        return None
    try:
        report = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    return report if isinstance(report, dict) else None


def grade_submission(path: Path, prepared: list, *, limits: sandbox.Limits, call_time_limit: float,
                     scratch_root: Path | None = None) -> StudentResult:
    """Grade the submission at ``path`` (``.ipynb`` or ``.py``) on the prepared parts."""
    path = Path(path)
    student, flags, notes = path.stem, [], []
    try:
        cells = submissions.read_cells(path)
    except (ValueError, OSError) as exc:
        parts = [_zero(p, c, f"{p.checker}: the submission could not be read: {exc}", [], "unreadable submission")
                 for p, c, _, _ in prepared]
        return StudentResult(student, path, parts, ["unreadable"], [f"The file could not be read: {exc}"])
    scratch = Path(tempfile.mkdtemp(prefix="gaelib-grade-", dir=scratch_root))
    try:
        result_name = f"result-{secrets.token_hex(8)}.json"
        job = {"cells": cells, "result_name": result_name, "call_time_limit": call_time_limit,
               "cell_time_limit": max(1.0, limits.wall_seconds / 2),
               "parts": [{"function": p.function, "inputs": [{k: codec.encode(v) for k, v in c.inputs.items()}
                                                            for c in cases]} for p, cases, _, _ in prepared]}
        (scratch / "job.json").write_text(json.dumps(job))
        run = sandbox.run_worker(scratch, limits)
        report = _read_report(scratch / result_name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if report is None:
        if run.killed == "time":
            _flag(flags, "timeout")
            notes.append(f"The submission ran longer than {limits.wall_seconds:g} s and was stopped.")
        else:
            _flag(flags, "crashed")
            notes.append(f"The submission's process ended without a report (exit status {run.returncode}): "
                         f"it called os._exit, was killed by a signal, or exceeded the memory limit "
                         f"({limits.memory_mb} MB).")
    else:
        for err in report.get("cell_errors", [])[:20]:
            if not isinstance(err, dict):
                continue
            text = str(err.get("error", ""))[:300]
            notes.append(f"cell {err.get('cell')} raised {text}")
            _flag(flags, "syntax-error" if text.startswith("SyntaxError") else
                  "timeout" if text.startswith("TimeLimitExceeded") else "cell-error")
        if int(report.get("printed_chars", 0) or 0) > len(str(report.get("printed", ""))):
            _flag(flags, "output-capped")
            notes.append(f"The submission printed {int(report['printed_chars']):,} characters; only the first "
                         f"{len(str(report.get('printed', ''))):,} were kept.")
    if run.output_bytes > limits.output_bytes:
        _flag(flags, "output-capped")
    parts = [_grade_part(p, c, v, o, report, cells) for p, c, v, o in prepared]
    if report is None:
        for pr in parts:
            pr.feedback = f"{pr.part.checker}: not graded. " + " ".join(notes)
            pr.first_failure = notes[-1][:300] if notes else "not graded"
    for pr in parts:
        for f in pr.flags:
            _flag(flags, f)
    printed = str(report.get("printed", ""))[:4000] if report else run.output[:4000]
    rss = run.max_rss_mb
    if report and isinstance(report.get("max_rss_mb"), (int, float)):
        rss = max(rss, float(report["max_rss_mb"]))  # the worker's own measure (bubblewrap hides it)
    return StudentResult(student, path, parts, flags, notes, run.wall_seconds, rss, printed)
