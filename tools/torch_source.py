"""Choose where the install takes torch from: PyTorch's CPU wheel index when it answers, else the package index.

    python tools/torch_source.py [--index URL] [--timeout SECONDS]

Prints the pip arguments for the torch step of ``make install`` on stdout (one line, possibly empty) and
the reason on stderr.

* On Linux, the package index's ``torch`` is the CUDA build: ``pip install torch==2.13.0`` resolves torch,
  triton and about 16 ``nvidia-*`` wheels, several GB. PyTorch's CPU index
  (https://download.pytorch.org/whl/cpu) serves the same releases as ``torch==X+cpu`` (and the few
  packages torch depends on), so when that index answers the install takes torch from it:
  ``--index-url https://download.pytorch.org/whl/cpu``.
* When it does not answer (a machine or CI runner that reaches only the package registries), nothing is
  printed and pip takes torch from the configured index. The probe is a single HTTP request with a short
  timeout and no retries, so this fallback costs seconds, not pip's minutes of retries.
* On macOS and Windows the package index's torch is already the CPU build: nothing is printed, no probe.

Readers with a GPU skip all this by setting the pip arguments themselves, e.g.
``make install TORCH_PIP_ARGS=`` (the package index's build: CUDA on Linux) or
``make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"``.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def cpu_index_answers(index: str, timeout: float) -> tuple[bool, str]:
    """One GET of ``{index}/torch/`` (PEP 503 project page); True if it lists torch wheels."""
    url = index.rstrip("/") + "/torch/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # no retries: one try, short timeout
            page = r.read(1 << 20).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, f"{url} did not answer ({getattr(e, 'reason', e)})"
    if "torch-" not in page:
        return False, f"{url} answered but lists no torch wheels"
    return True, f"{url} answers"


def pip_args(index: str = CPU_INDEX, timeout: float = 5.0, platform: str = sys.platform) -> tuple[str, str]:
    """The pip arguments for the torch step, and the reason for the choice."""
    if not platform.startswith("linux"):
        return "", f"{platform}: the package index's torch is the CPU build"
    ok, why = cpu_index_answers(index, timeout)
    if ok:
        return f"--index-url {index}", f"{why}: torch from PyTorch's CPU index (no CUDA)"
    return "", (f"{why}: torch from the package index (on Linux that is the CUDA build unless a local "
                "CPU wheel is found; see README, 'Install')")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", default=CPU_INDEX, help=f"the CPU wheel index (default {CPU_INDEX})")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the index (default 5)")
    args = ap.parse_args()
    out, why = pip_args(args.index, args.timeout)
    print(f"torch source: {why}", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
