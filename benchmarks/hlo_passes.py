"""Passes over memory of a compiled Adam step, read from XLA's optimized HLO.

An optimizer step on a large tensor is bound by memory traffic. Ideally Adam reads the params,
the gradient and both moments once and writes the params and both moments once: 7 arrays, one
pass. This script compiles the donated ``update`` + ``apply_updates`` step of gradxform's and
Optax's Adam on one 4096 x 4096 float32 tensor (lowered on ``jax.ShapeDtypeStruct``, so nothing
is allocated unless ``--time`` is given), and counts, in the optimized HLO's entry computation,
the kernels (fusions, copies, any other op) that read or write a params-sized buffer, and the
bytes they move.

It also compiles a one-pass formulation of the same step, which any optimizer can use::

    _, state_out = opt.update(grads, state, params)             # the new state
    g, s, p = optimization_barrier((grads, state, params))      # the same arrays, hidden from CSE
    updates, _ = opt.update(g, s, p)                            # recomputed for the params
    params_out = apply_updates(params, updates)

With XLA's CPU multi-output fusion switched on (``--multi-output-fusion``, which sets
``XLA_FLAGS=--xla_backend_extra_options=xla_cpu_use_multi_output_fusion``), the state's kernel
and the params' kernel read the same buffers and XLA merges them into one kernel with three
outputs: one pass. Without that option XLA copies the moments first and the formulation is
several times slower. See RESULTS.md, "Passes over memory".

    python benchmarks/hlo_passes.py                       # counts only; a few seconds
    python benchmarks/hlo_passes.py --multi-output-fusion --time
    python benchmarks/hlo_passes.py --show                # also list each kernel
"""
from __future__ import annotations

import os
import re
import sys

MULTI_OUTPUT_FUSION = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
if __name__ == "__main__" and "--multi-output-fusion" in sys.argv:
    # XLA reads its flags once, when the backend starts: set them before importing JAX.
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {MULTI_OUTPUT_FUSION}".strip()

import argparse  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
    "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16,
}
FREE = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}  # no kernel, no traffic
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%(?P<name>[^\s=]+)\s*=\s*(?P<rest>.*)$")
_ARRAY = re.compile(r"\b(?P<dtype>[a-z]+\d*)\[(?P<dims>[\d,]*)\]")


class Kernel(NamedTuple):
    name: str
    opcode: str
    reads: int  # bytes of the large buffers it reads
    writes: int  # bytes of the large buffers it writes


class Passes(NamedTuple):
    kernels: tuple  # the Kernels that touch a large buffer, in program order
    bytes: int  # bytes they read and write in all

    @property
    def count(self) -> int:
        return len(self.kernels)


def _arrays(type_text: str) -> list[tuple[int, int]]:
    """(elements, bytes) of each array in an HLO type such as ``(f32[4,4]{1,0}, s32[])``."""
    out = []
    for m in _ARRAY.finditer(type_text):
        if m.group("dtype") not in BYTES:
            continue
        elements = 1
        for d in filter(None, m.group("dims").split(",")):
            elements *= int(d)
        out.append((elements, elements * BYTES[m.group("dtype")]))
    return out


def _split_type(rest: str) -> tuple[str, str]:
    """Split ``TYPE opcode(operands), attributes`` into the type and the remainder."""
    if rest.startswith("("):
        depth = 0
        for i, c in enumerate(rest):
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                return rest[: i + 1], rest[i + 1:].strip()
    head, _, tail = rest.partition(" ")
    return head, tail.strip()


def count_passes(hlo_text: str, min_elements: int) -> Passes:
    """The kernels of the entry computation that read or write an array of at least
    ``min_elements`` elements, and the bytes of such arrays they move.

    ``hlo_text`` is ``compiled.as_text()``: optimized HLO, where each fusion is one kernel. A
    kernel's traffic is the size of each large operand it reads plus each large array it
    writes; parameters, constants, tuples and bitcasts are free. Ops inside called computations
    (a while loop's body) are not counted separately.
    """
    lines = hlo_text[hlo_text.index("\nENTRY"):].splitlines()[1:]
    types: dict[str, str] = {}
    kernels = []
    for line in lines:
        if line.strip() == "}":
            break
        m = _INSTRUCTION.match(line)
        if not m:
            continue
        type_text, rest = _split_type(m.group("rest"))
        types[m.group("name")] = type_text
        opcode = rest.split("(", 1)[0]
        if opcode in FREE:
            continue
        operands = re.findall(r"%([^\s,()]+)", rest.split("(", 1)[1].split("),", 1)[0]) if "(" in rest else []
        reads = sum(b for op in dict.fromkeys(operands) for e, b in _arrays(types.get(op, "")) if e >= min_elements)
        writes = sum(b for e, b in _arrays(type_text) if e >= min_elements)
        if reads or writes:
            kernels.append(Kernel(m.group("name"), opcode, reads, writes))
    return Passes(tuple(kernels), sum(k.reads + k.writes for k in kernels))


# ---------------------------------------------------------------------------------------------
# The steps compared
# ---------------------------------------------------------------------------------------------


def plain_step(optimizer, apply_updates) -> Callable:
    """``update`` then ``apply_updates``: the step every benchmark here times."""

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return apply_updates(params, updates), state

    return step


def one_pass_step(optimizer, apply_updates) -> Callable:
    """The same step, with the update recomputed for the params from barrier-hidden inputs.

    ``gx.one_pass``'s formulation (``gradxform.grouped.one_pass``), with its check of XLA's options
    off so that it can be counted and timed without multi-output fusion too. Common-subexpression
    elimination would merge two identical updates; behind the barrier they stay two computations
    reading the same buffers, which XLA's CPU multi-output fusion (when switched on) merges into
    a single kernel writing params and state together.
    """
    import gradxform as gx

    return plain_step(gx.one_pass(optimizer, require_fusion=False), apply_updates)


def configurations() -> list[tuple[str, Callable, Callable, str]]:
    """(label, make optimizer, apply_updates, step builder name)."""
    import optax

    import gradxform as gx

    bf16 = jnp.bfloat16
    return [
        ("gradxform adam", lambda: gx.adam(1e-3), gx.apply_updates, "plain"),
        ("optax adam", lambda: optax.adam(1e-3), optax.apply_updates, "plain"),
        ("gradxform adam, one-pass formulation", lambda: gx.adam(1e-3), gx.apply_updates, "one-pass"),
        ("optax adam, one-pass formulation", lambda: optax.adam(1e-3), optax.apply_updates, "one-pass"),
        ("gradxform adam, bfloat16 mu",
         lambda: gx.adam(1e-3, mu_dtype=bf16), gx.apply_updates, "plain"),
        ("optax adam, bfloat16 mu", lambda: optax.adam(1e-3, mu_dtype=bf16), optax.apply_updates, "plain"),
        ("gradxform adam, bfloat16 mu and nu",
         lambda: gx.adam(1e-3, mu_dtype=bf16, nu_dtype=bf16), gx.apply_updates, "plain"),
        ("gradxform adam, bfloat16 mu and nu, one-pass formulation",
         lambda: gx.adam(1e-3, mu_dtype=bf16, nu_dtype=bf16), gx.apply_updates, "one-pass"),
    ]


STEPS = {"plain": plain_step, "one-pass": one_pass_step}


def compile_step(make, apply_updates, kind: str, shape: tuple):
    """Compile the donated step on a float32 tensor of ``shape``; return (compiled, optimizer)."""
    optimizer = make()
    params = {"w": jax.ShapeDtypeStruct(shape, jnp.float32)}
    state = jax.eval_shape(optimizer.init, params)
    step = STEPS[kind](optimizer, apply_updates)
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile()
    return compiled, optimizer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="the tensor is size x size (default 4096)")
    parser.add_argument("--multi-output-fusion", action="store_true",
                        help=f"switch on XLA's CPU multi-output fusion ({MULTI_OUTPUT_FUSION})")
    parser.add_argument("--show", action="store_true", help="list each kernel and its traffic")
    parser.add_argument("--time", action="store_true", help="also time each step (allocates the arrays)")
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds with --time (default 11)")
    args = parser.parse_args(argv)

    import common

    shape = (args.size, args.size)
    n = args.size * args.size
    unit = 4 * n  # one float32 params-sized array
    print("Passes over memory of the compiled Adam step (update + apply_updates, donated)")
    print(f"machine: {common.machine()}")
    print(f"tensor: {args.size} x {args.size} float32 ({n:,} elements, {unit / 2**20:.0f} MiB); "
          f"a kernel is counted if it reads or writes an array of >= {n:,} elements")
    print()
    rows, compiled_steps = [], []
    for label, make, apply_updates, kind in configurations():
        compiled, optimizer = compile_step(make, apply_updates, kind, shape)
        passes = count_passes(compiled.as_text(), n)
        compiled_steps.append((label, compiled, optimizer))
        kinds = ", ".join(f"{k.opcode}" for k in passes.kernels)
        rows.append([label, str(passes.count), f"{passes.bytes / unit:.1f}", f"{passes.bytes / 1e6:.0f}", kinds])
        if args.show:
            for k in passes.kernels:
                print(f"  {label}: {k.opcode} %{k.name}: "
                      f"reads {k.reads / unit:.1f}, writes {k.writes / unit:.1f} arrays")
    if args.show:
        print()
    print(common.render(["step", "kernels", "arrays moved", "MB moved", "kernel kinds"], rows,
                        text_columns=1))
    print()
    print("arrays moved: bytes read + written by those kernels, in units of one float32 params "
          "array; the ideal Adam step moves 7 (5 with bfloat16 moments: 2 + 2 x 0.5 read, "
          "1 + 2 x 0.5 written) in 1 kernel.")

    if args.time:
        runners = []
        grads = jnp.full(shape, 1e-3, jnp.float32)
        for label, compiled, optimizer in compiled_steps:
            params = {"w": jnp.zeros(shape, jnp.float32)}
            state = optimizer.init(params)
            runners.append(common.Runner(
                label, lambda c, f=compiled: f(c[0], c[1], {"w": grads}), [(params, state)]))
        samples = common.interleaved(runners, args.repeats, 0.2)
        print()
        print(f"Step time, ms: median [quartiles] over {args.repeats} interleaved rounds, and each "
              f"step's ratio to '{compiled_steps[0][0]}' per round")
        rows = [[label, common.fmt(common.Summary(*(1e3 * x for x in common.summarize(s))), 1),
                 common.fmt(common.ratio_summary(s, samples[0]))]
                for (label, _, _), s in zip(compiled_steps, samples)]
        print(common.render(["step", "ms [quartiles]", "ratio"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
