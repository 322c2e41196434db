"""Fail if a notebook was committed without being executed top to bottom.

nbval does not compare cells that have no stored execution count, so an
unexecuted notebook would pass vacuously. Also rejects error outputs (unless the
cell is tagged raises-exception), SVG figures (nbval compares their text, which
varies) and kernel names other than python3.
"""

import json
import sys
from pathlib import Path

problems = []
paths = [Path(p) for p in sys.argv[1:]]
if not paths:
    sys.exit("no notebooks given")
for path in paths:
    nb = json.loads(path.read_text())
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{path}: kernelspec name must be python3")
    counts = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        counts.append(cell.get("execution_count"))
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                problems.append(f"{path}: cell {i} has an error output")
            if "image/svg+xml" in out.get("data", {}):
                problems.append(f"{path}: cell {i} has an SVG figure; use PNG")
    if not counts:
        problems.append(f"{path}: no code cells")
    elif counts != list(range(1, len(counts) + 1)):
        problems.append(f"{path}: not executed top to bottom in one fresh kernel (counts {counts[:8]}...)")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(paths)} notebooks executed and clean")
