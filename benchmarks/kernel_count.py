"""Kernels and state buffers of every alias's compiled step, beside Optax's same-named one.

Each buffer of the state is passed into and out of every jitted step, and each kernel is one
launch: on small models those fixed costs are most of a step. This compiles the donated
``update`` + ``apply_updates`` step of each alias on the shapes of the benchmarks' MLP (6 leaves)
for gradxform and for Optax 0.2.8, lowered on ``jax.ShapeDtypeStruct`` (nothing is run), and
prints, for each library, the kernels of the optimized HLO's entry computation (fusions, copies
and any other op that is not free) and the arrays of the state.

    python benchmarks/kernel_count.py
    python benchmarks/kernel_count.py --aliases adam,sgd --workload gpt2-25m
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
import step_time  # noqa: E402

import gradxform as gx  # noqa: E402

FREE = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
_OPCODE = re.compile(r"^\s*(?:ROOT\s+)?%\S+\s*=\s*\S+(?:\[[^\]]*\])?(?:\{[^}]*\})?\s+([a-z-]+)\(")


def kernels_and_buffers(make, apply_updates, shapes: dict, examples: int = 0) -> tuple[int, int]:
    """(kernels in the step's entry computation, arrays in the optimizer's state); ``examples``
    > 0: the gradients are per example, that many stacked on a leading axis."""
    params = common.abstract(shapes)
    grads = jax.eval_shape(lambda p: step_time.per_example(p, examples), params) if examples else params
    optimizer = make()
    state = jax.eval_shape(optimizer.init, params)

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return apply_updates(params, updates), state

    text = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile().as_text()
    entry = text[text.index("ENTRY"):]
    entry = entry[: entry.index("\n}")]
    opcodes = [m.group(1) for line in entry.splitlines() if (m := _OPCODE.match(line))]
    return sum(op not in FREE for op in opcodes), len(jax.tree.leaves(state))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aliases", default=",".join(a.name for a in step_time.ALIASES if a.optax_name))
    parser.add_argument("--workload", default="mlp", choices=sorted(step_time.WORKLOADS))
    args = parser.parse_args(argv)
    shapes = step_time.WORKLOADS[args.workload]()
    by_name = {a.name: a for a in step_time.ALIASES}
    rows = []
    for name in common.comma_list(args.aliases):
        alias = by_name[name]
        gx_library, optax_library = step_time.libraries_for(alias, control=False)
        ours = kernels_and_buffers(gx_library.make, gx.apply_updates, shapes, alias.examples)
        with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
            theirs = kernels_and_buffers(optax_library.make, optax.apply_updates, shapes, alias.examples)
        rows.append([name, str(ours[0]), str(theirs[0]), str(ours[1]), str(theirs[1])])
    print(f"{args.workload}: {common.describe(shapes)}; JAX {jax.__version__}, Optax {optax.__version__}")
    print(common.render(["alias", "kernels gx", "kernels optax", "state arrays gx", "state arrays optax"], rows))
    return 0


if __name__ == "__main__":
    jnp.zeros(())  # start the backend before timing-free compilation
    sys.exit(main())
