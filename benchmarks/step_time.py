"""Step and compile time of each gradxform optimizer against Optax's optimizer of the same name.

Both libraries run in this one process on the same parameters and gradients. For each optimizer
and workload, each library's step -- ``update`` then ``apply_updates``, jit-compiled with the
parameters and state donated -- is compiled, then timed in interleaved rounds whose order
rotates, so that drift in the machine's load affects both alike. The tables report ratios,
gradxform / Optax: below 1 means gradxform is faster. A control runs Optax's step a second
time, on buffers of its own: the ratio of two identical steps is what this machine's noise
alone makes of a comparison, the yardstick for reading gradxform's.

    python benchmarks/step_time.py                                   # everything
    python benchmarks/step_time.py --aliases adam,sgd --workloads single,leaves --repeats 11
"""
from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from typing import Any, Callable, NamedTuple, Sequence

import common
import jax
import jax.numpy as jnp
import optax
from common import comma_list, machine, render

import gradxform as gx

LEARNING_RATE = 1e-3  # passed explicitly to both libraries (Optax's adadelta has no default)
MIN_SAMPLE_SECONDS = 0.05  # each sample runs enough steps for the fastest step to last this long


class Alias(NamedTuple):
    name: str  # gradxform's name
    optax_name: str | None  # Optax 0.2.8's name for the same optimizer (in optax, or "contrib.<name>"); None if none
    options: dict  # keyword arguments given to both, besides the learning rate
    # A wrapper of other optimizers: (gradxform's, Optax's) builders, each () -> an optimizer
    builders: tuple[Callable[[], Any], Callable[[], Any]] | None = None
    examples: int = 0  # > 0: its gradients are per example, this many stacked on a leading axis


def _sam(lib, contrib):
    """SAM as the paper runs it: SGD, and one ascent by the normalized gradient (rho 0.05)."""
    return contrib.sam(lib.sgd(LEARNING_RATE), lib.chain(contrib.normalize(), lib.sgd(0.05)))


def _with_extra_args(transform: Any, **extra: Any) -> Any:
    """``transform`` whose ``update`` is always given ``extra`` (a loss value, an objective)."""

    def update(updates, state, params=None):
        return transform.update(updates, state, params, **extra)

    return type(transform)(transform.init, update)


def _half_squared_norm(params: Any) -> Any:
    """The objective Sophia's Hessian estimate differentiates: 0.5 ||params||^2."""
    return 0.5 * sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(params))


def _given(name: str, **extra: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(gradxform's, Optax's) builders of the alias ``name``, each update given ``extra``."""
    contrib = functools.partial(getattr, optax.contrib)
    return (lambda: _with_extra_args(getattr(gx, name)(LEARNING_RATE), **extra),
            lambda: _with_extra_args(contrib(name)(LEARNING_RATE), **extra))


EXAMPLES = 4  # per-example gradients per step, for an optimizer that takes them (dpsgd)


def per_example(grads: Any, examples: int) -> Any:
    """``examples`` gradients per leaf, stacked on a new leading axis: ``grads`` scaled by
    1, 2, ..., so that no two are equal (each is clipped on its own)."""
    scales = jnp.arange(1, examples + 1, dtype=jnp.float32)
    return jax.tree.map(lambda g: scales.reshape((-1,) + (1,) * g.ndim).astype(g.dtype) * g, grads)


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
    # Optax's optimizers added for the drop-in (issue 16)
    Alias("adabelief", "adabelief", {}),
    Alias("adafactor", "adafactor", {}),
    Alias("adamaxw", "adamaxw", {}),
    Alias("adan", "adan", {}),
    Alias("fromage", "fromage", {}),
    Alias("novograd", "novograd", {}),
    Alias("optimistic_adam_v2", "optimistic_adam_v2", {}),
    Alias("optimistic_gradient_descent", "optimistic_gradient_descent", {}),
    Alias("rprop", "rprop", {}),
    Alias("sign_sgd", "sign_sgd", {}),
    Alias("signum", "signum", {}),
    Alias("sm3", "sm3", {}),
    Alias("yogi", "yogi", {}),
    # optax.contrib's, and the matrix-aware optimizers Optax lacks (issue 17)
    Alias("muon", "contrib.muon", {}),
    Alias("adopt", "contrib.adopt", {}),
    Alias("ademamix", "contrib.ademamix", {}),
    Alias("simplified_ademamix", "contrib.simplified_ademamix", {}),
    Alias("acprop", "contrib.acprop", {}),
    Alias("madgrad", "contrib.madgrad", {}),
    Alias("prodigy", "contrib.prodigy", {}),
    Alias("dadapt_adamw", "contrib.dadapt_adamw", {}),
    Alias("cocob", "contrib.cocob", {}),
    Alias("dog", "contrib.dog", {}),
    Alias("dowg", "contrib.dowg", {}),
    Alias("schedule_free_adamw", "contrib.schedule_free_adamw", {}),
    Alias("galore", "contrib.galore", {}),
    Alias("sam", "contrib.sam", {}, (lambda: _sam(gx, gx), lambda: _sam(optax, optax.contrib))),
    Alias("mechanize", "contrib.mechanize", {},
          (lambda: gx.mechanize(gx.adamw(LEARNING_RATE)), lambda: optax.contrib.mechanize(optax.adamw(LEARNING_RATE)))),
    # a loss value (a constant here) or an objective, passed to each update
    Alias("momo", "contrib.momo", {}, _given("momo", value=jnp.asarray(0.5, jnp.float32))),
    Alias("momo_adam", "contrib.momo_adam", {}, _given("momo_adam", value=jnp.asarray(0.5, jnp.float32))),
    Alias("sophia", "contrib.sophia", {}, _given("sophia", obj_fn=_half_squared_norm)),
    # per-example gradients (EXAMPLES of them, stacked), clipped and noised: DP-SGD
    Alias("dpsgd", "contrib.dpsgd", {"l2_norm_clip": 1.0, "noise_multiplier": 1.1, "seed": 0},
          examples=EXAMPLES),
    Alias("shampoo", None, {}),
    Alias("soap", None, {}),
)


WORKLOADS: dict[str, Callable[[], dict]] = {
    "single": common.single_tensor,
    "leaves": common.many_leaves,
    "gpt2-124m": common.gpt2_124m,
    "gpt2-25m": common.gpt2_25m,
    "mlp": common.mlp_shapes,
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
    # A copy: a state may hold the params' own buffers (optax.contrib.madgrad's initial point),
    # which the donated step would delete.
    state = copy(optimizer.init(params))

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return library.apply_updates(params, updates), state

    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
    return compiled, state, time.perf_counter() - start


def copy(tree):
    return jax.block_until_ready(jax.tree.map(jnp.copy, tree))


class Measurement(NamedTuple):
    step_ratio: common.Summary  # per round: gradxform's step time / Optax's
    control_ratio: common.Summary | None  # per round: a second Optax step's time / the first's
    compile_seconds: tuple[float, float]  # medians: gradxform, Optax
    agreement: float  # max |gradxform params - Optax params| / max |Optax params| after the run


def measure(
    libraries: Sequence[Library], shapes: dict, repeats: int, compile_repeats: int,
    copies: int = 1, examples: int = 0,
) -> Measurement:
    """Time ``libraries`` -- gradxform, Optax, and optionally Optax again as a control -- on
    ``shapes``: each compiles its step ``compile_repeats`` times (the order rotating; the last
    compilation is the one timed), then all run in interleaved rounds, each library as
    ``copies`` runners on buffers of their own whose mean is a round's time
    (:func:`common.mean_of_copies`). ``examples > 0`` gives each step that many per-example
    gradients (:func:`per_example`)."""
    params0 = materialize(shapes, seed=0, std=0.02)
    grads = materialize(shapes, seed=1, std=1e-3)
    if examples:
        grads = per_example(grads, examples)

    compile_seconds = [[] for _ in libraries]
    compiled = [None] * len(libraries)  # (compiled step, state)
    order = list(range(len(libraries)))
    for r in range(compile_repeats):
        for i in order[r % len(order):] + order[:r % len(order)]:
            step, state, seconds = compile_step(libraries[i], params0, grads)
            compile_seconds[i].append(seconds)
            compiled[i] = step, state
    runners = [
        copy_
        for library, (step, state) in zip(libraries, compiled)
        for copy_ in common.runner_copies(
            common.Runner(library.label, lambda carry, step=step: step(*carry, grads),
                          [(copy(params0), state)]),
            copies)
    ]
    del params0, compiled
    seconds = common.mean_of_copies(common.interleaved(runners, repeats, MIN_SAMPLE_SECONDS),
                                    copies)

    ours, theirs = (jax.tree.leaves(runner.carry[0][0]) for runner in runners[:2 * copies:copies])
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(ours, theirs))
    scale = max(float(jnp.max(jnp.abs(b))) for b in theirs)
    return Measurement(
        step_ratio=common.ratio_summary(seconds[0], seconds[1]),
        control_ratio=common.ratio_summary(seconds[2], seconds[1]) if len(seconds) > 2 else None,
        compile_seconds=(statistics.median(compile_seconds[0]),
                         statistics.median(compile_seconds[1])),
        agreement=difference / scale,
    )


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def libraries_for(alias: Alias, control: bool) -> tuple[Library, ...]:
    """gradxform's and Optax's optimizer of this name; with ``control``, Optax's a second time."""

    def ours():
        if alias.builders:
            return alias.builders[0]()
        return getattr(gx, alias.name)(LEARNING_RATE, **alias.options)

    def theirs():  # "contrib.muon" is optax.contrib.muon
        if alias.builders:
            return alias.builders[1]()
        return functools.reduce(getattr, alias.optax_name.split("."), optax)(LEARNING_RATE, **alias.options)

    libraries = [
        Library("gradxform", ours, gx.apply_updates),
        Library("optax", theirs, optax.apply_updates),
    ]
    if control:
        libraries.append(Library("optax, again", theirs, optax.apply_updates))
    return tuple(libraries)


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
    parser.add_argument(
        "--no-control", dest="control", action="store_false",
        help="skip the control: by default Optax's step runs a second time, on its own buffers, "
        "and its ratio to the first shows how far apart two identical steps measure",
    )
    parser.add_argument(
        "--copies", type=int, default=1,
        help="runners per library, each on buffers of its own; a round's time is their mean "
        "(default 1; 3 steadies steps of tens of microseconds, as on mlp)",
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
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got {args.copies}")

    print("gradxform vs Optax: step time and compile time")
    print(f"machine: {machine()}")
    print(
        f"method: learning rate {LEARNING_RATE:g} for both; jitted update + apply_updates with "
        f"params and state donated; {args.repeats} timed rounds interleaving the libraries in "
        f"rotating order, each sample enough steps for the fastest to last >= "
        f"{MIN_SAMPLE_SECONDS:g} s; "
        f"{args.compile_repeats} compilation(s) each, the last one timed"
        + ("; control: Optax's step a second time, on its own buffers" if args.control else "")
        + (f"; each library as {args.copies} runners, a round's time their mean"
           if args.copies > 1 else "")
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
    measure(libraries_for(chosen[0], False), {"w": (8,)}, repeats=1, compile_repeats=1,
            examples=chosen[0].examples)

    results: dict[tuple[str, str], Measurement] = {}
    for alias in chosen:
        libraries = libraries_for(alias, args.control)
        for workload in workloads:
            print(f"  timing {alias.name} on {workload} ...", file=sys.stderr, flush=True)
            results[alias.name, workload] = measure(
                libraries, WORKLOADS[workload](), args.repeats, args.compile_repeats, args.copies,
                alias.examples,
            )
    print(
        "Step time, gradxform / Optax: median over rounds [quartiles]; "
        "below 1 = gradxform faster"
        + ("; control = Optax's same step run again / Optax" if args.control else "")
    )
    header, rows = ["alias"], []
    for workload in workloads:
        header += [workload, f"{workload} control"] if args.control else [workload]
    for alias in chosen:
        row = [alias.name]
        for workload in workloads:
            m = results[alias.name, workload]
            row.append(common.fmt(m.step_ratio))
            if args.control:
                row.append(common.fmt(m.control_ratio))
        rows.append(row)
    print(render(header, rows))
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
