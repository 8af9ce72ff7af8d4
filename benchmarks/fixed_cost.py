"""What a small step pays per scalar buffer: gradxform's alias against Optax's, and Optax's
alias again carrying one or two extra scalars in its state that it hands back untouched, and
``optax.inject_hyperparams`` of the alias (Optax's form whose hyperparameters can be set between
steps without recompiling, as every gradxform optimizer's can).

On a model of ten thousand parameters an update step lasts a few tens of microseconds, and
a fixed cost per buffer at the jit boundary shows. gradxform's SGD, Adagrad and RMSprop carry
one buffer more than Optax's: the hyperparameter table (neither keeps a step count there; Adam
keeps one in both libraries). The rows "Optax + k scalars" measure what k such buffers cost
when nothing computes them, the floor under gradxform's ratio. Every variant runs as
``--copies`` runners on buffers of their own (``common.mean_of_copies``).

    python benchmarks/fixed_cost.py --aliases sgd,adagrad,rmsprop,adam --repeats 41

``--nodes`` measures instead what one pytree node costs per call: a donated, jitted step that
adds 1 to ten 3-element arrays, each wrapped in one node of a kind (a plain tuple, an
``EmptyState`` beside it, a ``NamedTuple``, a ``state_class``), against the same step on the
bare arrays.

    python benchmarks/fixed_cost.py --nodes --repeats 15
"""
from __future__ import annotations

import argparse
import statistics
import sys
from typing import NamedTuple

import common
import jax
import jax.numpy as jnp
import optax
import step_time

import gradxform as gx
from gradxform.core.state_class import state_class

LEARNING_RATE = 1e-3


def with_scalars(inner: optax.GradientTransformation, count: int) -> optax.GradientTransformation:
    """``inner`` whose state also holds ``count`` float32 scalars, returned as they came."""

    def init(params):
        return inner.init(params), tuple(jnp.zeros([], jnp.float32) for _ in range(count))

    def update(updates, state, params=None):
        inner_state, scalars = state
        updates, inner_state = inner.update(updates, inner_state, params)
        return updates, (inner_state, scalars)

    return optax.GradientTransformation(init, update)


def runners(library: step_time.Library, params, grads, copies: int) -> list:
    """``copies`` runners of one compiled, donated update step, each on buffers of its own."""
    compiled, state, _ = step_time.compile_step(library, params, grads)
    runner = common.Runner(library.label, lambda carry: compiled(*carry, grads),
                           [(step_time.copy(params), state)])
    return common.runner_copies(runner, copies)


def measure(alias: str, repeats: int, copies: int) -> list[tuple[str, common.Summary]]:
    """Each variant's time over Optax's, round by round."""
    shapes = common.mlp_shapes()
    params = common.materialize(shapes, seed=0, std=0.02)
    grads = common.materialize(shapes, seed=1, std=1e-3)
    theirs = getattr(optax, alias)
    variants = [
        step_time.Library("Optax", lambda: theirs(LEARNING_RATE), optax.apply_updates),
        step_time.Library("Optax, again (control)", lambda: theirs(LEARNING_RATE), optax.apply_updates),
        step_time.Library("Optax + 1 scalar", lambda: with_scalars(theirs(LEARNING_RATE), 1),
                          optax.apply_updates),
        step_time.Library("Optax + 2 scalars", lambda: with_scalars(theirs(LEARNING_RATE), 2),
                          optax.apply_updates),
        # Optax's own form whose hyperparameters can be set between steps, as gradxform's can
        step_time.Library("Optax inject_hyperparams",
                          lambda: optax.inject_hyperparams(theirs)(learning_rate=LEARNING_RATE),
                          optax.apply_updates),
        step_time.Library("gradxform", lambda: getattr(gx, alias)(LEARNING_RATE), gx.apply_updates),
    ]
    timed = [r for library in variants for r in runners(library, params, grads, copies)]
    samples = common.mean_of_copies(common.interleaved(timed, repeats, step_time.MIN_SAMPLE_SECONDS),
                                    copies)
    return [(library.label, common.ratio_summary(s, samples[0]))
            for library, s in zip(variants[1:], samples[1:])]


NODES = 10  # nodes per state in --nodes, each around one 3-element array


class _Plain(NamedTuple):
    value: jax.Array


@state_class
class _Fast(NamedTuple):
    value: jax.Array


NODE_KINDS = {
    "bare arrays": lambda a: a,
    "plain tuple (a, None)": lambda a: (a, None),
    "(a, EmptyState())": lambda a: (a, gx.EmptyState()),
    "a NamedTuple (JAX calls the class)": _Plain,
    "a state_class (C callables only)": _Fast,
}


def node_runners(wrap, copies: int) -> list:
    """``copies`` runners of a donated, jitted step over :data:`NODES` arrays wrapped by ``wrap``."""
    state = [wrap(jnp.zeros(3, jnp.float32)) for _ in range(NODES)]
    step = jax.jit(lambda s: jax.tree.map(lambda a: a + 1, s), donate_argnums=0)
    return common.runner_copies(common.Runner("node", step, [state]), copies)


def measure_nodes(repeats: int, copies: int) -> list[list[str]]:
    """Per kind of node: its step's time over the bare arrays' and the microseconds per node."""
    kinds = list(NODE_KINDS.items())
    timed = [r for _, wrap in kinds for r in node_runners(wrap, copies)]
    samples = common.mean_of_copies(common.interleaved(timed, repeats, step_time.MIN_SAMPLE_SECONDS), copies)
    bare = samples[0]
    return [[label, common.fmt(common.ratio_summary(s, bare)),
             f"{statistics.median((a - b) / NODES * 1e6 for a, b in zip(s, bare)):.2f}"]
            for (label, _), s in zip(kinds, samples)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aliases", default="sgd,adagrad,rmsprop,adam",
                        help="comma-separated names that both libraries define (default "
                        "sgd,adagrad,rmsprop,adam)")
    parser.add_argument("--repeats", type=int, default=41, help="timed rounds (default 41)")
    parser.add_argument("--copies", type=int, default=3,
                        help="runners per variant, each on buffers of its own (default 3)")
    parser.add_argument("--nodes", action="store_true",
                        help=f"measure instead what one pytree node of each kind costs per call "
                        f"({NODES} nodes per state)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.copies < 1:
        parser.error("--repeats and --copies must be at least 1")
    if args.nodes:
        print(f"Cost of a pytree node per jitted, donated call: {NODES} nodes around 3-element arrays")
        print(f"machine: {common.machine()}")
        print(common.render(["node around each array", "time / bare arrays'", "µs per node"],
                            measure_nodes(args.repeats, args.copies)))
        return 0
    aliases = common.comma_list(args.aliases)
    for alias in aliases:
        if not (callable(getattr(gx, alias, None)) and callable(getattr(optax, alias, None))):
            parser.error(f"--aliases: {alias!r} is not an optimizer of both gradxform and Optax")

    print("Fixed cost per scalar buffer: the 10k-parameter MLP's update step")
    print(f"machine: {common.machine()}")
    print(f"method: learning rate {LEARNING_RATE:g}; jitted update + apply_updates, params and "
          f"state donated; {args.repeats} interleaved rounds, {args.copies} runners per variant")
    rows = []
    for alias in aliases:
        print(f"  timing {alias} ...", file=sys.stderr, flush=True)
        rows += [[alias, label, common.fmt(ratio)] for label, ratio in measure(alias, args.repeats, args.copies)]
    print(common.render(["alias", "variant", "time / Optax's"], rows, text_columns=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
