"""Adam on params kept flat, for several buffer sizes: which ``buffer_size`` suits this machine.

``gx.ravel_by_group(params, buffer_size=N)`` cuts each group of leaves, between leaves, into
buffers of at most ``N`` elements. The results do not depend on ``N``; the step time can,
because each buffer's three passes (first moment, second moment, params) reuse the cache
better when a buffer is small, while each buffer costs a few kernels more. This script times
``gx.adam``'s donated step on the flat params for each size, with Optax's per-leaf step as the
baseline and, as a control, Optax's step a second time, all in one process, interleaved.

    python benchmarks/buffer_size.py                                  # leaves and gpt2-25m
    python benchmarks/buffer_size.py --workloads gpt2-25m --sizes 262144,4194304 --repeats 21
"""
from __future__ import annotations

import argparse
import sys

import common
from adam_speed import SMOKE_WORKLOADS, WORKLOADS, make_runner

DEFAULT_SIZES = "none,262144,1048576,4194304"  # none: one buffer per group


def parse_sizes(text: str) -> list[int | None]:
    """``"none,262144"`` -> ``[None, 262144]``; raises ValueError on anything else."""
    sizes = []
    for item in common.comma_list(text):
        size = None if item == "none" else int(item)
        if size is not None and size < 1:
            raise ValueError(f"a buffer size must be a positive number of elements, got {item}")
        sizes.append(size)
    return sizes


def measure(name: str, sizes: list[int | None], repeats: int, min_sample: float) -> list[list[str]]:
    """One table row per runner: Optax, the control, then each buffer size."""
    workload = WORKLOADS[name]
    shapes = workload.shapes()
    params0 = common.materialize(shapes, seed=0, std=0.02)
    grads = common.materialize(shapes, seed=1, std=1e-3)
    variants = [("Optax, per leaf", "optax", "per-leaf", None),
                ("Optax, per leaf, again (control)", "optax", "per-leaf", None)]
    variants += [("one buffer per group" if size is None else f"buffer_size={size:,}",
                  "gradxform", "grouped-flat" if size is None else "grouped-flat-sized", size)
                 for size in sizes]
    runners = [make_runner(label, library, mode, workload, params0, grads, None, size)[0]
               for label, library, mode, size in variants]
    del params0
    samples = common.interleaved(runners, repeats, min_sample)
    rows = []
    for (label, _, _, size), runner, seconds in zip(variants, runners, samples):
        ms = common.Summary(*(1e3 * s for s in common.summarize(seconds)))
        buffers = "-" if label.startswith("Optax") else str(len(runner.carry[0][0]))
        speedup = "-" if runner is runners[0] else common.fmt(common.ratio_summary(samples[0], seconds))
        rows.append([name, label, buffers, common.fmt(ms, 3 if ms.median < 1 else 2), speedup])
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="leaves,gpt2-25m",
                        help="comma-separated, from single, leaves, gpt2-25m, gpt2-124m (default: leaves,gpt2-25m)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help="comma-separated buffer sizes in elements, 'none' for one buffer per group "
                             f"(default {DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--min-sample", type=float, default=0.05,
                        help="seconds the fastest runner's sample lasts at least (default 0.05)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny workloads, to check that the script runs; the figures mean nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        WORKLOADS.update(SMOKE_WORKLOADS)
    workloads = common.comma_list(args.workloads)
    for w in workloads:
        if w not in WORKLOADS or WORKLOADS[w].train:
            parser.error(f"unknown workload {w!r}; choose from single, leaves, gpt2-25m, gpt2-124m")
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as error:
        parser.error(f"--sizes: {error}")
    if not workloads or not sizes or args.repeats < 1:
        parser.error("need at least one workload, one size, and repeats >= 1")

    print("Adam on params kept flat (gx.ravel_by_group), by buffer size, against Optax per leaf")
    print(f"machine: {common.machine()}")
    print(f"method: adam(1e-3), jitted update + apply_updates, params and state donated; "
          f"{args.repeats} rounds interleaved in rotating order, each sample >= {args.min_sample:g} s "
          f"for the fastest runner")
    for w in workloads:
        print(f"workload {w}: {common.describe(WORKLOADS[w].shapes())}")
    print()
    rows = []
    for w in workloads:
        print(f"  timing {w} ...", file=sys.stderr, flush=True)
        rows += measure(w, sizes, args.repeats, args.min_sample)
    print(common.render(["workload", "variant", "buffers", "ms/step [quartiles]", "speedup optax/x"],
                        rows, text_columns=2))
    print()
    print("speedup: per round, Optax's per-leaf time over this runner's (the control's spread is "
          "what noise alone gives two identical steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
