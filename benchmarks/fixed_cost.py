"""What a small step pays per scalar buffer: gradxform's alias against Optax's, and Optax's
alias again carrying one or two extra scalars in its state that it hands back untouched.

On a model of ten thousand parameters an update step lasts a few tens of microseconds, and
a fixed cost per buffer at the jit boundary shows. gradxform's chain carries two scalar
buffers more than Optax's SGD, Adagrad or RMSprop (which keep no step count): the step count
and the hyperparameter bank. The rows "Optax + k scalars" measure what k such buffers cost
when nothing computes them, the floor under gradxform's ratio. Every variant runs as
``--copies`` runners on buffers of their own (``common.mean_of_copies``).

    python benchmarks/fixed_cost.py --aliases sgd,adagrad,rmsprop,adam --repeats 41
"""
from __future__ import annotations

import argparse
import sys

import common
import jax.numpy as jnp
import optax
import step_time

import gradxform as gx

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
        step_time.Library("gradxform", lambda: getattr(gx, alias)(LEARNING_RATE), gx.apply_updates),
    ]
    timed = [r for library in variants for r in runners(library, params, grads, copies)]
    samples = common.mean_of_copies(common.interleaved(timed, repeats, step_time.MIN_SAMPLE_SECONDS),
                                    copies)
    return [(library.label, common.ratio_summary(s, samples[0]))
            for library, s in zip(variants[1:], samples[1:])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aliases", default="sgd,adagrad,rmsprop,adam",
                        help="comma-separated names that both libraries define (default "
                        "sgd,adagrad,rmsprop,adam)")
    parser.add_argument("--repeats", type=int, default=41, help="timed rounds (default 41)")
    parser.add_argument("--copies", type=int, default=3,
                        help="runners per variant, each on buffers of its own (default 3)")
    args = parser.parse_args(argv)
    aliases = common.comma_list(args.aliases)
    for alias in aliases:
        if not (callable(getattr(gx, alias, None)) and callable(getattr(optax, alias, None))):
            parser.error(f"--aliases: {alias!r} is not an optimizer of both gradxform and Optax")
    if args.repeats < 1 or args.copies < 1:
        parser.error("--repeats and --copies must be at least 1")

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
