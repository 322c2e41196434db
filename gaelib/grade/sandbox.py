"""Run one submission's worker in its own process, with limits, and isolated where the OS allows.

Always (every Linux): its own process and session, in a fresh scratch directory, with a
wall-clock limit (the whole process group is killed), ``setrlimit`` limits on address space
(memory), CPU seconds, file size and open files, no core dumps, an empty environment but for
a few variables, and its output read through a pipe of which only the first bytes are kept.

With `bubblewrap <https://github.com/containers/bubblewrap>`_ (``apt-get install -y
bubblewrap``), also: new user, PID, network, IPC and UTS namespaces (no network; the grader's
processes are invisible), running as ``nobody``; a file system holding only the system's
``/usr`` (read-only), the Python installation and virtual environment (read-only), gaelib's
package (read-only) and the scratch directory (the only writable place, with an empty
``/tmp``). The other submissions, the grader's output folder, the course repository with its
solution notebooks, and home directories are not there.

Without bubblewrap (or where it cannot create namespaces), the worker runs as ``nobody`` when
the grader is root and ``nobody`` can start Python (so it cannot signal the grader or write to
root's files), and otherwise as the grader's user: then it **can read** any file the grader's
user can read (the other submissions included), reach the network, and signal processes of
that user.
:func:`isolation` says which mode is in use, in words.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "Run", "isolation", "run_worker"]

NOBODY = 65534
_GAELIB_DIR = Path(__file__).resolve().parents[1]  # the gaelib package
_MOUNT = "/opt/gaelib-grade"  # where gaelib appears inside the sandbox


@dataclass(frozen=True)
class Limits:
    """Per-submission limits."""

    wall_seconds: float = 60.0
    """Wall-clock seconds for the whole submission (its cells and every call); then it is killed."""
    memory_mb: int = 4096
    """Address-space limit (``RLIMIT_AS``); an allocation beyond it raises ``MemoryError``."""
    output_bytes: int = 20_000
    """Bytes of raw stdout/stderr kept (the rest is read and dropped)."""
    file_mb: int = 64
    """Largest file the submission may write."""


@dataclass
class Run:
    """What happened to the worker process."""

    returncode: int | None
    killed: str | None
    """``"time"`` when the wall-clock limit killed it, else ``None``."""
    output: str
    """The first ``Limits.output_bytes`` of its raw stdout/stderr."""
    output_bytes: int
    wall_seconds: float
    max_rss_mb: float
    """Peak resident memory of the worker (``ru_maxrss`` from ``wait4``)."""


def _bwrap_command(scratch: Path) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY),
           "--gid", str(NOBODY), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    seen = set()
    for prefix in (sys.base_prefix, sys.prefix):
        real = os.path.realpath(prefix)
        if not real.startswith("/usr/") and real not in seen:
            seen.add(real)
            cmd += ["--ro-bind", real, real]
            if prefix != real:
                cmd += ["--symlink", real, prefix]
    cmd += ["--ro-bind", str(_GAELIB_DIR), f"{_MOUNT}/gaelib", "--bind", str(scratch), "/scratch",
            "--chdir", "/scratch", "--clearenv"]
    for key, value in _environment("/scratch", _MOUNT).items():
        cmd += ["--setenv", key, value]
    return cmd + [sys.executable, "-m", "gaelib.grade.worker", "/scratch"]


def _environment(home: str, pythonpath: str) -> dict:
    return {"PYTHONPATH": pythonpath, "HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_CACHE_DIR": f"{home}/.numba", "MPLCONFIGDIR": f"{home}/.mpl", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            # compiling gaelib's kernels would cost each submission seconds; the cases are tiny
            "NUMBA_DISABLE_JIT": "1"}


_MODE: list = []


def _probe(cmd, drop: bool) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60,
                              preexec_fn=_limit(Limits(), drop)).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def isolation() -> tuple[str, str]:
    """The sandbox in use, probed once: ``("bwrap" | "nobody" | "process", what it isolates, in words)``.

    ``GAELIB_GRADE_NO_BWRAP=1`` in the environment skips bubblewrap (to test the fallback).
    """
    if not _MODE:
        bwrap_ok = False
        if shutil.which("bwrap") and os.environ.get("GAELIB_GRADE_NO_BWRAP") != "1":
            probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"gaelib-grade-probe-{os.getpid()}"
            probe.mkdir(exist_ok=True)
            bwrap_ok = _probe(_bwrap_command(probe)[:-4] + [sys.executable, "-c", "pass"], False)
            shutil.rmtree(probe, ignore_errors=True)
        why = ("missing" if not shutil.which("bwrap") else "turned off by GAELIB_GRADE_NO_BWRAP=1"
               if os.environ.get("GAELIB_GRADE_NO_BWRAP") == "1" else "failed to start here")
        if bwrap_ok:
            _MODE.append(("bwrap", "bubblewrap sandbox: no network, own PID/user namespaces, runs as nobody; "
                                   "sees only /usr, Python, gaelib (read-only) and its scratch directory"))
        elif os.geteuid() == 0 and _probe([sys.executable, "-c", "pass"], True):
            _MODE.append(("nobody", f"NOT sandboxed (bubblewrap {why}): own process, scratch directory, "
                                    f"time/memory/output limits, runs as nobody (cannot signal the grader or "
                                    f"write its files); it CAN read world-readable files (other submissions "
                                    f"included) and reach the network"))
        else:
            _MODE.append(("process", f"NOT sandboxed (bubblewrap {why}): own process, scratch directory, "
                                     f"time/memory/output limits, runs as the grader's user: it CAN read and "
                                     f"write what the grader can (other submissions included), signal the "
                                     f"grader's processes and reach the network"))
    return _MODE[0]


def _limit(limits: Limits, drop_to_nobody: bool):
    def apply():
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(limits.wall_seconds) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with an error instead
        if drop_to_nobody:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    return apply


def run_worker(scratch: Path, limits: Limits) -> Run:
    """Run ``gaelib.grade.worker`` on ``scratch`` (which holds ``job.json``) under ``limits``."""
    mode, _ = isolation()
    scratch.chmod(0o777)  # nobody writes its result here
    if mode == "bwrap":
        cmd, env, cwd, drop = _bwrap_command(scratch), None, None, False
    else:
        cmd = [sys.executable, "-m", "gaelib.grade.worker", str(scratch)]
        env, cwd, drop = _environment(str(scratch), str(_GAELIB_DIR.parent)), str(scratch), mode == "nobody"
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, cwd=cwd, start_new_session=True, preexec_fn=_limit(limits, drop))
    kept, total = bytearray(), [0]

    def drain():
        while chunk := proc.stdout.read(65536):
            total[0] += len(chunk)
            if len(kept) < limits.output_bytes:
                kept.extend(chunk[: limits.output_bytes - len(kept)])

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    killed, status, usage = None, None, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > limits.wall_seconds:
            killed = "time"
            _kill_group(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    _kill_group(proc.pid)  # anything it left behind in its session
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    return Run(proc.returncode, killed, kept.decode("utf-8", "replace"), total[0], time.monotonic() - start,
               usage.ru_maxrss / 1024 if usage else 0.0)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
