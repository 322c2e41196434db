"""Execute notebooks in place, top to bottom in a fresh kernel, without timing metadata.

Usage: python tools/execute_notebooks.py chapters/some_chapter.ipynb [...]

Run it (or `make execute NB=...`) after editing a chapter, then commit the notebook
with its outputs: CI re-executes every notebook with nbval and compares the outputs.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(nb, path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"executing {arg}", flush=True)
        execute(Path(arg))
