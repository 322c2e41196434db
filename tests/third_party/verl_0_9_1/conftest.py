"""Collect verl's own tests only when verl is installed (``pip install --no-deps -r requirements-verl.txt``).

With ``GAELIB_REQUIRE_VERL=1`` (set by the test command that installs verl) a missing verl is an
error instead of a silent skip.
"""

import importlib.util
import os

collect_ignore = []
if importlib.util.find_spec("verl") is None:
    if os.environ.get("GAELIB_REQUIRE_VERL") == "1":
        raise ImportError("GAELIB_REQUIRE_VERL=1 but verl is not installed: pip install --no-deps -r "
                          "requirements-verl.txt")
    collect_ignore = ["test_core_algos_on_cpu.py"]
