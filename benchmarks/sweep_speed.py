"""N settings trained at once with ``jax.vmap`` (``gradxform sweep``) against N separate runs.

For each N, the same N learning rates of one optimizer on one problem are trained twice, in one
process: once as ``gradxform sweep`` does it (the optimizer built once, each copy's learning
rate set in its state with ``gx.set_hyperparams``, one program compiled and called), and once
as a loop over the rates in which each run builds its optimizer, compiles its program and runs
(``gradxform compare``'s run: a new program per setting). Both are timed from the first call to
the last result on the host, compilation included, and split into compiling and running; the
ratio is separate / vmapped (above 1: the sweep is faster). The two give the same losses up to
float32 rounding (the largest relative difference is printed).

    python benchmarks/sweep_speed.py                         # N = 4, 16 on digits-mlp, Adam
    python benchmarks/sweep_speed.py --counts 4,16,64 --problem rosenbrock --steps 1000
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common
import numpy as np

from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import problems as _problems
from gradxform.compare import run as _compare_run
from gradxform.compare import sweep as _sweep


def rates(count: int) -> np.ndarray:
    """``count`` learning rates, evenly spaced on a log scale from 1e-3 to 0.1."""
    return np.geomspace(1e-3, 0.1, count)


def vmapped(problem, optimizer: str, count: int, steps: int) -> tuple[float, float, float, np.ndarray]:
    """``(total, compile, run)`` seconds of one sweep over ``count`` rates, and its losses."""
    start = time.perf_counter()
    result = _sweep.sweep(problem, optimizer, {"learning_rate": rates(count)}, steps)
    total = time.perf_counter() - start
    return total, result.compile_seconds, result.run_seconds, result.losses[:, 0]


def separate(problem, optimizer: str, count: int, steps: int) -> tuple[float, float, float, np.ndarray]:
    """``(total, compile, run)`` seconds of ``count`` runs, one compiled program each, and
    their losses."""
    entry = _compare_lineup.choose(optimizer)[0]
    compiling = running = 0.0
    losses = []
    start = time.perf_counter()
    for rate in rates(count):
        began = time.perf_counter()
        result = _compare_run.run(problem, entry, steps, 0, float(rate))
        compiling += result.compile_seconds
        running += time.perf_counter() - began - result.compile_seconds
        losses.append(result.losses)
    return time.perf_counter() - start, compiling, running, np.stack(losses)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="4,16", help="comma-separated N (default 4,16)")
    parser.add_argument("--problem", default="digits-mlp",
                        help=f"one of {', '.join(_problems.BUILT_IN)} (default digits-mlp)")
    parser.add_argument("--optimizer", default="adam", help="a compare lineup name (default adam)")
    parser.add_argument("--steps", type=int, default=300, help="updates per run (default 300)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timings per method and N, alternating; the median is reported "
                        "(default 1)")
    args = parser.parse_args(argv)
    counts = [int(c) for c in common.comma_list(args.counts)]
    if not counts or min(counts) < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("need counts >= 1, steps >= 1 and repeats >= 1")
    problem = _problems.build(args.problem, 0)

    print(f"gradxform sweep: {args.optimizer} on {args.problem}, N learning rates from 1e-3 to "
          f"0.1, {args.steps} full-batch steps each")
    print(f"machine: {common.machine()}")
    print("method: vmapped = one gradxform.compare.sweep.sweep call (one compiled program, "
          "jax.vmap over N states set with gx.set_hyperparams); separate = N calls of compare's "
          "run (one compiled program each); wall and CPU time in one process, compilation included; "
          f"{args.repeats} timing(s) per method and N, alternating, median reported")
    print()
    vmapped(problem, args.optimizer, 2, 3)  # pay JAX's one-time costs first
    separate(problem, args.optimizer, 1, 3)

    rows = []
    for count in counts:
        timings: dict[str, list] = {"separate": [], "vmapped": []}
        for repeat in range(args.repeats):
            order = ("separate", "vmapped") if repeat % 2 == 0 else ("vmapped", "separate")
            for method in order:
                print(f"  {method}, N = {count} ...", file=sys.stderr, flush=True)
                work = separate if method == "separate" else vmapped
                cpu = time.process_time()
                measured = work(problem, args.optimizer, count, args.steps)
                timings[method].append((*measured, time.process_time() - cpu))
        median = {m: [statistics.median(t[i] for t in runs) for i in (0, 1, 2, 4)]
                  for m, runs in timings.items()}
        apart, together = timings["separate"][0][3], timings["vmapped"][0][3]
        finite = np.isfinite(apart) & np.isfinite(together)
        difference = np.max(np.abs(apart - together)[finite] / np.maximum(np.abs(apart[finite]), 1e-30))
        rows.append([
            str(count),
            *(f"{median['separate'][i]:.2f}" for i in range(3)),
            *(f"{median['vmapped'][i]:.2f}" for i in range(3)),
            f"{median['separate'][0] / median['vmapped'][0]:.1f}x",
            f"{median['separate'][3]:.2f}",
            f"{median['vmapped'][3]:.2f}",
            f"{median['separate'][3] / median['vmapped'][3]:.1f}x",
            f"{difference:.1e}",
        ])
    header = ["N", "separate s", "(compile", "run)", "vmapped s", "(compile", "run)",
              "ratio", "separate cpu s", "vmapped cpu s", "cpu ratio", "max rel diff"]
    print("Wall time in seconds, compile + run, and separate / vmapped (above 1: vmapped is "
          "faster); then the process's CPU time (all threads), which other programs on a busy "
          "machine disturb less")
    print(common.render(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
