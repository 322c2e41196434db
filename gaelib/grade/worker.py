"""The child process of the class grader: run one submission, call its functions, report.

``python -m gaelib.grade.worker JOB_DIR`` reads ``JOB_DIR/job.json`` (the submission's code
cells and, for each part, the function's name and the cases' **inputs only**; the answers
stay in the grader), deletes it, executes the cells in order (an error in a cell is recorded
and the next cell runs, as nbgrader and otter do), then calls each student function on the
inputs with :func:`gaelib.checkers.engine.collect` and writes ``JOB_DIR/result.json``.

While the student's functions are being called, gaelib's public estimators are replaced by
spies that record each call, so a function that just calls ``gaelib.gae`` is flagged.
Printing is capped: the first few kilobytes are kept, the rest is counted and dropped.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import resource
import sys
import time
import traceback

__all__ = ["main"]

PRINT_KEEP = 4000
"""Characters of the submission's printing kept for its feedback."""


class _CappedText(io.TextIOBase):
    """A text stream that keeps the first ``PRINT_KEEP`` characters and counts the rest."""

    def __init__(self):
        self.kept, self.total = [], 0

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = PRINT_KEEP - min(self.total, PRINT_KEEP)
        if room > 0:
            self.kept.append(s[:room])
        self.total += len(s)
        return len(s)

    def text(self):
        return "".join(self.kept)


def _install_spies(calls: list, recording: list) -> None:
    """Wrap gaelib's public estimators so that calls made while ``recording[0]`` are logged."""
    import functools
    import importlib

    wrapped = {}
    for modname in ("gaelib.advantages", "gaelib.reference", "gaelib.llm"):
        try:
            importlib.import_module(modname)
        except Exception:  # noqa: BLE001 - an optional module (torch missing, ...)
            continue
    modules = [m for n, m in list(sys.modules.items()) if m is not None and n.split(".")[0] == "gaelib"
               and not n.startswith(("gaelib.checkers", "gaelib.grade", "gaelib.utils"))]
    for mod in modules:  # gaelib and every submodule loaded so far (gaelib.llm.gae, ...)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if not inspect.isfunction(obj) or name == "seed_everything":
                continue
            if id(obj) not in wrapped:
                def spy(*args, __f=obj, __n=f"{obj.__module__}.{obj.__name__}", **kwargs):
                    if recording[0] and __n not in calls:
                        calls.append(__n)
                    return __f(*args, **kwargs)
                wrapped[id(obj)] = functools.wraps(obj)(spy)
            setattr(mod, name, wrapped[id(obj)])


def _light_seed_everything() -> None:
    """``gaelib.seed_everything`` without importing torch (seconds per submission) unless the
    submission imported torch itself; numpy and ``random`` are seeded as usual."""
    import gaelib
    import gaelib.utils

    original = gaelib.utils.seed_everything

    def seed_everything(*args, **kwargs):
        if "torch" in sys.modules:
            return original(*args, **kwargs)
        sys.modules["torch"] = None  # makes its `import torch` fail, so it skips torch
        try:
            return original(*args, **kwargs)
        finally:
            if sys.modules.get("torch", 0) is None:
                del sys.modules["torch"]

    gaelib.seed_everything = gaelib.utils.seed_everything = seed_everything


def _strip_magics(source: str) -> str:
    """IPython lines (``%magic``, ``!shell``) become comments; a ``%%`` cell is skipped."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _run_cells(cells, namespace, cell_time_limit, errors):
    from gaelib.checkers.engine import TimeLimitExceeded, call_with_time_limit

    for i, source in enumerate(cells):
        try:
            code = compile(_strip_magics(source), f"<cell {i}>", "exec")
        except SyntaxError as exc:
            errors.append({"cell": i, "error": f"SyntaxError: {exc.msg} (line {exc.lineno})"})
            continue
        try:
            call_with_time_limit(exec, (code, namespace), cell_time_limit)
        except TimeLimitExceeded:
            errors.append({"cell": i, "error": f"TimeLimitExceeded: the cell ran longer than {cell_time_limit:g} s"})
        except SystemExit as exc:
            errors.append({"cell": i, "error": f"SystemExit: the code called sys.exit({exc.code!r})"})
        except BaseException as exc:  # noqa: BLE001 - a failing cell is recorded, the next one runs
            tb = traceback.extract_tb(exc.__traceback__)
            line = next((f" (line {fr.lineno})" for fr in reversed(tb) if fr.filename == f"<cell {i}>"), "")
            errors.append({"cell": i, "error": f"{type(exc).__name__}: {exc}"[:300] + line})


def _grade_part(part, namespace, calls, recording, call_time_limit):
    from gaelib.checkers.engine import collect
    from gaelib.grade.codec import decode, encode

    fn = namespace.get(part["function"])
    if fn is None or not callable(fn):
        return {"status": "missing", "message": f"{part['function']} is not defined"
                + ("" if fn is None else f" as a function (it is a {type(fn).__name__})")}
    inputs = [{k: decode(v) for k, v in c.items()} for c in part["inputs"]]
    try:
        inspect.signature(fn).bind(*inputs[0].values())
    except TypeError as exc:
        try:
            sig = str(inspect.signature(fn))
        except (TypeError, ValueError):
            sig = "(?)"
        want = ", ".join(inputs[0])
        return {"status": "signature", "message": f"{part['function']}{sig} cannot be called as "
                                                  f"{part['function']}({want}): {exc}"}
    except ValueError:
        pass  # a builtin or C function without a signature: just call it
    del calls[:]
    recording[0] = True
    try:
        outcomes = collect(fn, inputs, time_limit=call_time_limit)
    finally:
        recording[0] = False
    return {"status": "ran", "gaelib_calls": list(calls),
            "outcomes": [{"output": encode(o.output), "status": o.status, "error": o.error,
                          "mutated": list(o.mutated), "dtype_note": o.dtype_note} for o in outcomes]}


def main(job_dir: str) -> int:
    started = time.monotonic()
    job_path = os.path.join(job_dir, "job.json")
    with open(job_path) as fh:
        job = json.load(fh)
    os.remove(job_path)  # the inputs stay in memory only
    result_path = os.path.join(job_dir, job["result_name"])
    real_stdout = sys.stdout
    captured = _CappedText()
    sys.stdout = sys.stderr = captured
    calls, recording = [], [False]
    import gaelib  # noqa: F401 - imported before the student's code, so the spies are in place

    _install_spies(calls, recording)
    _light_seed_everything()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    cell_errors: list = []
    _run_cells(job["cells"], namespace, job["cell_time_limit"], cell_errors)
    parts = {}
    for part in job["parts"]:
        try:
            parts[part["function"]] = _grade_part(part, namespace, calls, recording, job["call_time_limit"])
        except BaseException as exc:  # noqa: BLE001 - never let student code stop the report
            parts[part["function"]] = {"status": "crashed", "message": f"{type(exc).__name__}: {exc}"[:300]}
    report = {"cell_errors": cell_errors, "parts": parts, "printed": captured.text(),
              "printed_chars": captured.total, "seconds": time.monotonic() - started,
              # inside bubblewrap, wait4 in the grader sees only bwrap's own memory, not this process's
              "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    tmp = result_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(report, fh)
    os.replace(tmp, result_path)
    sys.stdout = real_stdout
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1]))  # skip interpreter shutdown: student threads or atexit hooks cannot hang it
