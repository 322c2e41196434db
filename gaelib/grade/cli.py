"""``gaelib-grade ASSIGNMENT SUBMISSIONS_DIR --out OUT_DIR``: grade a class.

ASSIGNMENT is a book assignment (``td``, ``gae``, ``lambda_returns``, ``token_gae``) or an
instructor's spec file (``.toml``, ``.json``, ``.py``; see ``gaelib.grade.assignments``).
Each ``.ipynb`` or ``.py`` file in SUBMISSIONS_DIR is one student (the id is the file name
without its extension). See :mod:`gaelib.grade` for what is written and how it is isolated.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gaelib.grade import report, sandbox
from gaelib.grade.assignments import load_assignment
from gaelib.grade.grader import grade_submission, prepare
from gaelib.grade.submissions import find_submissions

__all__ = ["main", "grade_class"]


def grade_class(assignment, submissions_dir, out_dir, *, jobs=1, limits=sandbox.Limits(), call_time_limit=5.0,
                progress=True):
    """Grade every submission in ``submissions_dir``; write the reports; return the results."""
    paths = find_submissions(Path(submissions_dir))
    if not paths:
        raise ValueError(f"submissions_dir {str(submissions_dir)!r} holds no .ipynb or .py file")
    prepared = prepare(assignment)
    sandbox.isolation()  # probe once, before the threads start

    def one(path):
        return grade_submission(path, prepared, limits=limits, call_time_limit=call_time_limit)

    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(paths), unit="submission", file=sys.stderr)
        except ImportError:
            bar = None
    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for r in pool.map(one, paths):
            results.append(r)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    report.write_all(results, Path(out_dir), assignment)
    return results


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gaelib-grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="td | gae | lambda_returns | token_gae, or a spec file")
    parser.add_argument("submissions_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the gradebook and feedback")
    parser.add_argument("--jobs", type=_positive(int), default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--time-limit", type=_positive(float), default=60.0,
                        help="wall seconds per submission (default 60)")
    parser.add_argument("--call-time-limit", type=_positive(float), default=5.0,
                        help="seconds per call of a student function (default 5)")
    parser.add_argument("--memory-mb", type=_positive(int), default=4096, help="memory per submission (default 4096)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        assignment = load_assignment(args.assignment)
    except ValueError as exc:
        parser.error(str(exc))
    limits = sandbox.Limits(wall_seconds=args.time_limit, memory_mb=args.memory_mb)
    try:
        results = grade_class(assignment, args.submissions_dir, args.out, jobs=args.jobs, limits=limits,
                              call_time_limit=args.call_time_limit, progress=not args.no_progress)
    except ValueError as exc:
        parser.error(str(exc))
    text = report.summary(results, assignment, sandbox.isolation()[1])
    (args.out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nwrote {args.out / 'gradebook.csv'}, {len(results)} feedback files in {args.out / 'feedback'}, "
          f"Gradescope results in {args.out / 'gradescope'}")
    return 0
