"""Compile time of Adam's step against the number of leaves, gradxform against Optax.

For each leaf count, the donated ``update`` + ``apply_updates`` step of each variant is traced,
lowered and compiled (``jax.jit(step).lower(...).compile()``, timed together) on
``jax.ShapeDtypeStruct`` leaves, so nothing is allocated. The variants alternate, and which one
goes first alternates too. Optax and gradxform run per leaf; gradxform also in the grouped
multi-tensor mode, with the params a tree (``gx.flatten(gx.adam)``) or kept flat
(``gx.ravel_by_group``), where the compiled step no longer grows with the number of leaves.

    python benchmarks/compile_time.py                            # 10, 100, 1000, 3000 leaves
    python benchmarks/compile_time.py --leaves 10,100 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common
import jax

import gradxform as gx

LEARNING_RATE = 1e-3
VARIANTS = ("optax", "per-leaf", "grouped-tree", "grouped-tree-sized", "grouped-flat",
            "grouped-flat-sized")
BUFFER_SIZE = 1 << 20  # the -sized variants' default buffer_size, as in adam_speed.py


def compile_seconds(variant: str, count: int, size: int, buffer_size: int = BUFFER_SIZE) -> float:
    """Seconds to trace, lower and compile one variant's step on ``count`` leaves of ``size``."""
    params = common.abstract(common.many_leaves(count, size))
    optimizer, apply = common.adam_variant(variant, LEARNING_RATE, buffer_size)
    if variant in ("grouped-flat", "grouped-flat-sized"):
        # The buffers' shapes, from ravel_by_group traced on the abstract leaves.
        sized = {"buffer_size": buffer_size} if variant == "grouped-flat-sized" else {}
        params = jax.eval_shape(lambda tree: gx.ravel_by_group(tree, **sized)[0], params)
    state = jax.eval_shape(optimizer.init, params)

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return apply(params, updates), state

    start = time.perf_counter()
    jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", default="10,100,1000,3000",
                        help="comma-separated leaf counts (default 10,100,1000,3000)")
    parser.add_argument("--leaf-size", type=int, default=4096,
                        help="float32 elements per leaf (default 4096)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--buffer-size", type=int, default=BUFFER_SIZE,
                        help=f"elements per buffer in the -sized variants (default {BUFFER_SIZE})")
    parser.add_argument("--repeats", type=int, default=1,
                        help="compilations per variant and leaf count; the median is reported (default 1)")
    args = parser.parse_args(argv)

    counts = [int(c) for c in common.comma_list(args.leaves)]
    variants = common.comma_list(args.variants)
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    if not counts or min(counts) < 1 or args.repeats < 1 or "optax" not in variants:
        parser.error("need leaf counts >= 1, repeats >= 1, and the optax variant (the baseline)")
    if args.buffer_size < 1:
        parser.error(f"--buffer-size must be a positive number of elements, got {args.buffer_size}")
    skipped = [f"{v} ({common.variant_unavailable(v)})" for v in variants if common.variant_unavailable(v)]
    variants = [v for v in variants if not common.variant_unavailable(v)]

    print("Adam: gradxform vs Optax, compile time against the number of leaves")
    print(f"machine: {common.machine()}")
    print(f"method: leaves of {args.leaf_size} float32 elements; jax.jit(update + apply_updates, "
          f"donated).lower(...).compile() on ShapeDtypeStruct leaves, timed from tracing to the "
          f"compiled executable; {args.repeats} compilation(s) per variant and count, the "
          f"variants alternating; median reported")
    if skipped:
        print(f"skipped: {'; '.join(skipped)}")
    print()
    compile_seconds("per-leaf", 2, 8)  # pay JAX's one-time costs first

    seconds = {(v, c): [] for v in variants for c in counts}
    for count in counts:
        for r in range(args.repeats):
            order = variants if r % 2 == 0 else variants[::-1]
            for v in order:
                print(f"  compiling {v} on {count} leaves ...", file=sys.stderr, flush=True)
                seconds[v, count].append(compile_seconds(v, count, args.leaf_size, args.buffer_size))

    header = ["variant"] + [f"{c} leaves" for c in counts]
    rows = [[common.variant_label(v, args.buffer_size)] + [f"{statistics.median(seconds[v, c]):.2f}" for c in counts]
            for v in variants]
    print("Compile time in seconds (median)")
    print(common.render(header, rows))
    print()
    print("Ratio to Optax (below 1 = gradxform compiles faster)")
    rows = [[common.variant_label(v, args.buffer_size)] + [
        f"{statistics.median(seconds[v, c]) / statistics.median(seconds['optax', c]):.2f}" for c in counts
    ] for v in variants if v != "optax"]
    print(common.render(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
