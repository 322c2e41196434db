"""Find the submissions, read their code, and look for borrowed answers.

A submission is a ``.ipynb`` notebook or a ``.py`` file; its file name without the extension
is the student's id. A notebook's code cells are run in order; a script is one cell.

Two static checks make the grades honest (the worker adds a third, at run time: it records
calls to gaelib's estimators made while the student's function is graded):

- :func:`gaelib_references`: a function body that refers to one of gaelib's estimators (the
  assignments may import gaelib for ``seed_everything`` and the checkers, and may compare with
  gaelib at the top level, as the solution notebooks do; inside a function it is the answer).
- :func:`copied_lines`: a function whose lines are, for the most part, lines of gaelib's own
  source (the reference loop, the estimators), comments and blank lines aside.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from functools import lru_cache
from pathlib import Path

__all__ = ["find_submissions", "read_cells", "gaelib_references", "copied_lines"]

ALLOWED = ("gaelib.checkers", "gaelib.seed_everything", "gaelib.utils")
"""What a student's function may use from gaelib."""


def find_submissions(folder: Path) -> list[Path]:
    """``.ipynb`` and ``.py`` files directly in ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions_dir must be a folder, got {str(folder)!r}")
    found = sorted(p for p in folder.iterdir()
                   if p.suffix in (".ipynb", ".py") and p.is_file() and not p.name.startswith("."))
    stems = [p.stem for p in found]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ValueError(f"submissions_dir holds two files for the same student id: {dup}")
    return found


INSTALL_CELL = ("install-gaelib", "# Colab or a Jupyter without the course:")
"""The id and first line of the book's install cell (``tools/install_cell.py``)."""


def _is_install_cell(cell: dict, source: str) -> bool:
    return cell.get("id") == INSTALL_CELL[0] or source.startswith(INSTALL_CELL[1])


def read_cells(path: Path) -> list[str]:
    """The code cells of a notebook, or a script as one cell. Raises ``ValueError`` if unreadable.

    The book's install cell (it clones the course and pip-installs gaelib where gaelib is missing,
    as on Colab) is left out: the grader provides gaelib, and the sandbox has no network.
    """
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        return [text]
    try:
        nb = json.loads(text)
        sources = [(c, "".join(c["source"]) if isinstance(c["source"], list) else str(c["source"]))
                   for c in nb["cells"] if c.get("cell_type") == "code"]
        return [source for c, source in sources if not _is_install_cell(c, source)]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {exc})") from exc


_AST_LOCK = threading.Lock()


def _ast_parse(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time: ``gaelib-grade --jobs`` grades in threads, and CPython 3.11's
    conversion of the syntax tree to Python objects keeps its recursion depth in state shared by the
    threads, so two parses at once can fail with "SystemError: AST constructor recursion depth
    mismatch" (CPython issue gh-106905; it failed this project's test of ``grade_class`` once)."""
    with _AST_LOCK:
        return ast.parse(source)


def _parse(cells):
    trees = []
    for source in cells:
        try:
            trees.append(_ast_parse(re.sub(r"(?m)^(\s*)[%!].*$", r"\1pass", source)))
        except SyntaxError:
            continue
    return trees


def _aliases(trees) -> dict:
    """Local names bound to gaelib modules or objects by imports anywhere in the code."""
    names = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "gaelib" or a.name.startswith("gaelib."):
                        names[a.asname or a.name.split(".")[0]] = a.name if a.asname else "gaelib"
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "gaelib" or node.module.startswith("gaelib.")):
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return []


def _functions(trees):
    """Top-level and nested functions by name (a lambda bound to a name counts), last one wins."""
    out = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[node.name] = node.body
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = [node.value.body]
    return out


def _reachable(functions: dict, function: str) -> list[str]:
    """``function`` and the functions of the submission it names, transitively."""
    todo, seen = [function], []
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.append(name)
        todo += [n.id for stmt in functions[name] for n in ast.walk(stmt)
                 if isinstance(n, ast.Name) and n.id in functions]
    return seen


def gaelib_references(cells, function: str) -> list[str]:
    """gaelib names (``gaelib.gae``, ``gaelib.reference.gae_loop``, ...) used by ``function``.

    Looks in the body of ``function`` and of the functions it calls by name, transitively;
    uses at the top level (a comparison with gaelib, as in the solution notebooks) and in
    other functions do not count. Names under :data:`ALLOWED` do not count either.
    """
    trees = _parse(cells)
    aliases, functions = _aliases(trees), _functions(trees)
    found = []
    for name in _reachable(functions, function):
        for stmt in functions[name]:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Import):
                    found += [a.name for a in node.names if a.name.split(".")[0] == "gaelib"]
                elif isinstance(node, ast.ImportFrom):
                    found += list(_aliases([ast.Module([node], [])]).values())
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        node.value.split(".")[0] == "gaelib":
                    found.append(node.value)  # __import__("gaelib"), importlib.import_module(...)
                elif isinstance(node, (ast.Attribute, ast.Name)):
                    chain = _dotted(node)
                    if chain and chain[0] in aliases:
                        found.append(".".join([aliases[chain[0]], *chain[1:]]))
    bad = [n for n in found if not any(n == a or n.startswith(a + ".") for a in ALLOWED)]
    # keep the longest chain of each (gaelib.gae over gaelib when both were seen)
    return sorted({n for n in bad if not any(m != n and m.startswith(n + ".") for m in bad)})


def _function_lines(tree):
    """``(name, lines)`` of each function in ``tree``: its statements unparsed (so formatting and
    comments do not matter), docstring dropped, lines of 16 or more characters."""
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = fn.body[1:] if (fn.body and isinstance(fn.body[0], ast.Expr)
                               and isinstance(fn.body[0].value, ast.Constant)) else fn.body
        lines = [line.strip() for stmt in body for line in ast.unparse(stmt).splitlines()]
        yield fn.name, [line for line in lines if len(line) >= 16]


@lru_cache(maxsize=1)
def _gaelib_lines() -> frozenset:
    """The lines of gaelib's estimator functions, as :func:`_function_lines` gives them."""
    root = Path(__file__).resolve().parents[1]
    files = [root / f"{name}.py" for name in ("reference", "advantages", "_kernels", "_scan", "_estimators",
                                                "_dispatch", "llm")]
    files += sorted((root / "llm").glob("*.py")) if (root / "llm").is_dir() else []
    lines = set()
    for f in files:
        if f.is_file():
            for _, fn_lines in _function_lines(_ast_parse(f.read_text())):
                lines.update(fn_lines)
    return frozenset(lines)


def copied_lines(cells, function: str, min_lines: int = 4, min_share: float = 0.5) -> dict:
    """Functions used by ``function`` (itself included) whose lines are mostly gaelib's:
    ``{name: (copied, total)}``.

    A function is reported when at least ``min_lines`` of its lines of 16 or more characters
    (as ``ast.unparse`` writes them: formatting, comments and docstrings do not count) are lines
    of gaelib's estimator functions, and they make at least ``min_share`` of those lines.
    """
    known = _gaelib_lines()
    trees = _parse(cells)
    used = _reachable(_functions(trees), function)
    out = {}
    for tree in trees:
        for name, lines in _function_lines(tree):
            if name not in used:
                continue
            copied = sum(line in known for line in lines)
            if lines and copied >= min_lines and copied / len(lines) >= min_share:
                out[name] = (copied, len(lines))
    return out
