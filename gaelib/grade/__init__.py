"""Grade a whole class: ``gaelib-grade ASSIGNMENT SUBMISSIONS_DIR --out OUT_DIR``.

Each submission (a ``.ipynb`` notebook or a ``.py`` script; the file name without its extension
is the student's id) runs in its own process (``gaelib.grade.sandbox``), in a scratch
directory, with limits on wall time, memory, file size and printing, inside a bubblewrap
sandbox where one starts. The worker (``gaelib.grade.worker``) runs the code cells, then
calls the student's functions on the cases' **inputs**; the grader compares the outputs with
gaelib's answers and computes the points (``gaelib.grade.grader``), so the answers never
reach student code. Submissions that use gaelib's own estimator inside the graded function
are flagged and not credited; those mostly made of gaelib's source lines are flagged for
review (``gaelib.grade.submissions``). The reports are described in
``gaelib.grade.report``; the assignments and the spec format for new ones in
``gaelib.grade.assignments``.
"""

from gaelib.grade.assignments import BOOK, Assignment, Part, load_assignment
from gaelib.grade.cli import grade_class, main

__all__ = ["BOOK", "Assignment", "Part", "load_assignment", "grade_class", "main"]
