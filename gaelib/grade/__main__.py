"""``python -m gaelib.grade ASSIGNMENT SUBMISSIONS_DIR --out OUT_DIR`` (the same as ``gaelib-grade``)."""

import sys

from gaelib.grade.cli import main

sys.exit(main())
