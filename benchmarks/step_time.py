"""Step and compile time of each gradxform optimizer against Optax's optimizer of the same name.

Both libraries run in this one process on the same parameters and gradients. For each optimizer
and workload, each library's step -- ``update`` then ``apply_updates``, jit-compiled with the
parameters and state donated -- is compiled, then timed in rounds that alternate the two
libraries (the first to run alternates too), so that drift in the machine's load affects both
alike. The tables report ratios, gradxform / Optax: below 1 means gradxform is faster.

    python benchmarks/step_time.py                                   # everything
    python benchmarks/step_time.py --aliases adam,sgd --workloads single,leaves --repeats 11
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

import gradxform as gx

import common
from common import comma_list, machine, render

LEARNING_RATE = 1e-3  # passed explicitly to both libraries (Optax's adadelta has no default)
MIN_SAMPLE_SECONDS = 0.05  # each timing sample runs enough steps to last at least this long


class Alias(NamedTuple):
    name: str  # gradxform's name
    optax_name: str | None  # Optax 0.2.8's name for the same optimizer; None if it has none
    options: dict  # keyword arguments given to both, besides the learning rate


ALIASES: tuple[Alias, ...] = (
    Alias("sgd", "sgd", {"momentum": 0.9}),
    Alias("noisy_sgd", "noisy_sgd", {"key": 0}),
    Alias("aggmo", None, {}),
    Alias("lars", "lars", {}),
    Alias("adagrad", "adagrad", {}),
    Alias("adadelta", "adadelta", {}),
    Alias("rmsprop", "rmsprop", {}),
    Alias("adam", "adam", {}),
    Alias("adamw", "adamw", {}),
    Alias("adamax", "adamax", {}),
    Alias("nadam", "nadam", {}),
    Alias("amsgrad", "amsgrad", {}),
    Alias("radam", "radam", {}),
    Alias("qhadam", None, {}),
    Alias("swats", None, {}),
    Alias("lamb", "lamb", {}),
    Alias("lion", "lion", {}),
)


WORKLOADS: dict[str, Callable[[], dict]] = {
    "single": common.single_tensor,
    "leaves": common.many_leaves,
    "gpt2-124m": common.gpt2_124m,
    "gpt2-25m": common.gpt2_25m,
}
materialize, describe = common.materialize, common.describe


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


class Library(NamedTuple):
    label: str
    make: Callable[[], object]  # () -> a fresh optimizer
    apply_updates: Callable


def compile_step(library: Library, params, grads):
    """Build the optimizer and its donated, jitted step; return (compiled step, state, seconds)."""
    optimizer = library.make()
    state = jax.block_until_ready(optimizer.init(params))

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return library.apply_updates(params, updates), state

    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
    return compiled, state, time.perf_counter() - start


def copy(tree):
    return jax.block_until_ready(jax.tree.map(jnp.copy, tree))


class Measurement(NamedTuple):
    step_ratio: float  # median over rounds of (gradxform's step time / Optax's)
    step_ratio_quartiles: tuple[float, float]
    compile_seconds: tuple[float, float]  # medians: gradxform, Optax
    agreement: float  # max |gradxform params - Optax params| / max |Optax params| after the run


def measure(
    libraries: tuple[Library, Library], shapes: dict, repeats: int, compile_repeats: int
) -> Measurement:
    params0 = materialize(shapes, seed=0, std=0.02)
    grads = materialize(shapes, seed=1, std=1e-3)

    # Each library compiles its step `compile_repeats` times, alternating; the last compilation
    # is the one timed.
    compile_seconds, runs = ([], []), [None, None]  # runs[i]: [compiled step, params, state]
    for r in range(compile_repeats):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            compiled, state, seconds = compile_step(libraries[i], params0, grads)
            compile_seconds[i].append(seconds)
            runs[i] = [compiled, None, state]
    for run in runs:
        compiled, _, state = run
        run[1:] = compiled(copy(params0), state, grads)  # the first call is not timed
    del params0, compiled, state
    jax.block_until_ready([run[1:] for run in runs])

    start = time.perf_counter()
    compiled, params, state = runs[0]
    runs[0][1:] = jax.block_until_ready(compiled(params, state, grads))
    steps = max(1, math.ceil(MIN_SAMPLE_SECONDS / (time.perf_counter() - start)))
    compiled, params, state = runs[1]  # keep both libraries at the same number of steps
    runs[1][1:] = jax.block_until_ready(compiled(params, state, grads))

    seconds = ([], [])
    for r in range(repeats):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            compiled, params, state = runs[i]
            start = time.perf_counter()
            for _ in range(steps):
                params, state = compiled(params, state, grads)
            jax.block_until_ready((params, state))
            seconds[i].append((time.perf_counter() - start) / steps)
            runs[i][1:] = params, state
            del params, state

    ratios = sorted(a / b for a, b in zip(*seconds))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    ours, theirs = (jax.tree.leaves(run[1]) for run in runs)
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(ours, theirs))
    scale = max(float(jnp.max(jnp.abs(b))) for b in theirs)
    return Measurement(
        step_ratio=statistics.median(ratios),
        step_ratio_quartiles=(quartiles[0], quartiles[2]),
        compile_seconds=tuple(statistics.median(s) for s in compile_seconds),
        agreement=difference / scale,
    )


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def libraries_for(alias: Alias) -> tuple[Library, Library]:
    def ours():
        return getattr(gx, alias.name)(LEARNING_RATE, **alias.options)

    def theirs():
        return getattr(optax, alias.optax_name)(LEARNING_RATE, **alias.options)

    return (
        Library("gradxform", ours, gx.apply_updates),
        Library("optax", theirs, optax.apply_updates),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--aliases", default=",".join(a.name for a in ALIASES),
        help="comma-separated gradxform optimizer names (default: all)",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS),
        help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=11, help="timed rounds per library (default 11)"
    )
    parser.add_argument(
        "--compile-repeats", type=int, default=3, help="compilations per library (default 3)"
    )
    args = parser.parse_args(argv)

    known = {a.name: a for a in ALIASES}
    names, workloads = comma_list(args.aliases), comma_list(args.workloads)
    for name in names:
        if name not in known:
            parser.error(f"unknown alias {name!r}; choose from {', '.join(known)}")
    for workload in workloads:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    if not names or not workloads or args.repeats < 1 or args.compile_repeats < 1:
        parser.error("need at least one alias, one workload, and repeats >= 1")

    print("gradxform vs Optax: step time and compile time")
    print(f"machine: {machine()}")
    print(
        f"method: learning rate {LEARNING_RATE:g} for both; jitted update + apply_updates with "
        f"params and state donated; {args.repeats} timed rounds alternating the libraries, each "
        f"a sample of enough steps to last >= {MIN_SAMPLE_SECONDS:g} s; "
        f"{args.compile_repeats} compilation(s) each, the last one timed"
    )
    for workload in workloads:
        summary = WORKLOADS[workload].__doc__.splitlines()[0].rstrip(".")
        print(f"workload {workload}: {summary} ({describe(WORKLOADS[workload]())})")

    chosen, skipped = [], []
    for name in names:
        alias = known[name]
        if alias.optax_name is None:
            skipped.append(f"{name} (Optax has no counterpart)")
        elif not callable(getattr(gx, name, None)):
            skipped.append(f"{name} (not defined in this gradxform)")
        else:
            chosen.append(alias)
    if skipped:
        print(f"skipped: {'; '.join(skipped)}")
    print()

    if not chosen:
        print("nothing to time")
        return 0
    # Pay JAX's one-time costs (backend start-up, first lowerings) before measuring anything.
    measure(libraries_for(chosen[0]), {"w": (8,)}, repeats=1, compile_repeats=1)

    results: dict[tuple[str, str], Measurement] = {}
    for alias in chosen:
        libraries = libraries_for(alias)
        for workload in workloads:
            print(f"  timing {alias.name} on {workload} ...", file=sys.stderr, flush=True)
            results[alias.name, workload] = measure(
                libraries, WORKLOADS[workload](), args.repeats, args.compile_repeats
            )
    print(
        "Step time, gradxform / Optax: median over rounds [quartiles]; "
        "below 1 = gradxform faster"
    )
    rows = []
    for alias in chosen:
        row = [alias.name]
        for workload in workloads:
            m = results[alias.name, workload]
            low, high = m.step_ratio_quartiles
            row.append(f"{m.step_ratio:.2f} [{low:.2f}-{high:.2f}]")
        rows.append(row)
    print(render(["alias", *workloads], rows))
    print()

    print("Compile time in seconds (median): gradxform, Optax, and their ratio")
    header = ["alias"] + [f"{w} {part}" for w in workloads for part in ("gx", "optax", "ratio")]
    rows = []
    for alias in chosen:
        row = [alias.name]
        for workload in workloads:
            ours, theirs = results[alias.name, workload].compile_seconds
            row += [f"{ours:.2f}", f"{theirs:.2f}", f"{ours / theirs:.2f}"]
        rows.append(row)
    print(render(header, rows))
    print()

    print("Agreement after the run: max |params_gx - params_optax| / max |params_optax|")
    rows = [[a.name] + [f"{results[a.name, w].agreement:.1e}" for w in workloads] for a in chosen]
    print(render(["alias", *workloads], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
