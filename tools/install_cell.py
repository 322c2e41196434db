"""The install cell at the top of every chapter: write it, or check that it is there and unchanged.

    python tools/install_cell.py --write chapters/*.ipynb chapters/assignments/*.ipynb
    python tools/install_cell.py --check chapters/*.ipynb chapters/assignments/*.ipynb

The cell makes a chapter run from its launch buttons. Where the notebook does not sit in a checkout of
the course (Colab), it clones the course next to the notebook (once) and changes into the chapter's folder
there (chapters read committed files such as ``../benchmarks/*.csv`` relative to it). Where ``gaelib`` is
not importable, it installs ``gaelib[course]`` (pyproject.toml) from that checkout with pip. In a local
checkout with gaelib installed (``make install``, Binder, nbval) both ``if``s are false: no output, nothing
changes, so nbval has nothing new to compare. ``--write`` puts it before the first code cell (or replaces an older version of it) and, in an
executed notebook, gives it execution count 1 and shifts the later counts by one, which is what executing
the notebook again gives, since the cell prints nothing; ``--check`` fails if any chapter lacks it, has a
stale version, or has another code cell first.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "install-gaelib"
MARKER = "# Colab or a Jupyter without the course:"


def repository_url() -> str:
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    if m is None:
        raise SystemExit("_config.yml has no repository.url")
    return m.group(1)


def cell_source(notebook: Path) -> str:
    """The install cell for a notebook; paths depend on how deep it sits below the repository root."""
    rel = notebook.resolve().relative_to(ROOT).parent           # e.g. chapters or chapters/assignments
    up = "/".join([".."] * len(rel.parts))                      # from the notebook's folder to the root
    name = repository_url().rstrip("/").rsplit("/", 1)[-1]      # the folder git clone creates
    extras = '"course" if importlib.util.find_spec("tensorflow") else "course,tf"' \
        if notebook.stem == "tf_implementation" else '"course"'
    return f"""{MARKER} fetch the course and install gaelib (pyproject.toml's extras).
# In a local checkout, on Binder and in the tests this cell does nothing.
import importlib.util, os, subprocess, sys
if not os.path.exists("{up}/gaelib/__init__.py"):  # not in a checkout (Colab): clone the course here
    if not os.path.isdir("{name}"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "{repository_url()}"], check=True)
    os.chdir("{name}/{rel.as_posix()}")  # the chapter reads files relative to its own folder
if importlib.util.find_spec("gaelib") is None:
    extras = {extras}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"{up}[{{extras}}]"], check=True)"""


def first_code(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def is_install_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(MARKER)


def write(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    src = cell_source(path)
    i = first_code(nb)
    if is_install_cell(nb.cells[i]):
        if nb.cells[i].source == src and nb.cells[i].metadata.get("tags") == ["remove-cell"]:
            return "unchanged"
        nb.cells[i].source = src
        nb.cells[i].metadata["tags"] = ["remove-cell"]
        nbformat.write(nb, path)
        return "updated"
    executed = nb.cells[i].get("execution_count") is not None
    cell = nbformat.v4.new_code_cell(src)
    cell.id = CELL_ID
    cell.metadata["tags"] = ["remove-cell"]  # not in the book (it prints nothing there); Colab and downloads have it
    if executed:  # what a re-execution gives: this cell prints nothing and takes count 1
        cell.execution_count = 1
        for c in nb.cells:
            if c.cell_type == "code" and c.get("execution_count") is not None:
                c.execution_count += 1
                for out in c.outputs:
                    if out.get("execution_count") is not None:
                        out.execution_count += 1
    nb.cells.insert(i, cell)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return "inserted"


def check(path: Path) -> str | None:
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[first_code(nb)]
    if not is_install_cell(cell):
        return f"{path}: the first code cell is not the install cell (run tools/install_cell.py --write)"
    if cell.source != cell_source(path):
        return f"{path}: the install cell is stale (run tools/install_cell.py --write)"
    if cell.outputs:
        return f"{path}: the install cell has output; in a checkout it must do nothing"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("notebooks", nargs="+", type=Path)
    args = ap.parse_args()
    if args.write:
        for p in args.notebooks:
            print(f"{p}: {write(p)}")
        return 0
    problems = [m for m in map(check, args.notebooks) if m]
    print("\n".join(problems) if problems else f"{len(args.notebooks)} notebooks start with the install cell")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
