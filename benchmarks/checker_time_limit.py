"""What the checkers' per-call time limit costs: a full check_gae run with and without it.

The checkers call the student's function once per case under a time limit
(:func:`gaelib.checkers.engine.call_with_time_limit`: a SIGALRM timer in the main thread,
a watchdog thread elsewhere). This script times a passing and a failing ``check_gae`` run
(61 calls each, plus the hint search for the failing one) with ``time_limit=None``, with the
timer, and with the thread fallback, interleaved in one process, and prints medians and the
ratios to the run without a limit.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/checker_time_limit.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gaelib.checkers import check_gae, engine


def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam, *, bug=False):
    adv = np.zeros_like(rewards)
    last = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        stop = terminated[t] | truncated[t] if bug else terminated[t]
        delta = rewards[t] + gamma * (1.0 - stop) * next_values[t] - values[t]
        last = delta + gamma * lam * (1.0 - terminated[t]) * (1.0 - truncated[t]) * last
        adv[t] = last
    return adv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    thread_only = engine._call_in_thread  # the fallback, forced for the third column
    modes = {"no limit": {"time_limit": None}, "timer (SIGALRM)": {"time_limit": 5.0},
             "thread": {"time_limit": 5.0}}
    for label, fn in [("passing", student_gae), ("failing", lambda *a: student_gae(*a, bug=True))]:
        times = {m: [] for m in modes}
        for _ in range(args.repeats):
            for mode, kw in modes.items():
                original = engine.call_with_time_limit
                if mode == "thread":
                    engine.call_with_time_limit = lambda f, a, s: thread_only(f, a, s)
                try:
                    t0 = time.perf_counter()
                    check_gae(fn, verbose=False, **kw)
                    times[mode].append(time.perf_counter() - t0)
                finally:
                    engine.call_with_time_limit = original
        base = statistics.median(times["no limit"])
        print(f"check_gae, {label} student ({args.repeats} repeats, medians):")
        print(f"  {'mode':18s} {'ms per run':>11s} {'ratio':>7s}")
        for mode in modes:
            med = statistics.median(times[mode])
            print(f"  {mode:18s} {1e3 * med:11.2f} {med / base:7.2f}")


if __name__ == "__main__":
    main()
