"""Adam's step time, gradxform against Optax, per leaf and in the grouped multi-tensor mode.

One process, the same parameters and gradients, the variants timed in interleaved rounds. Each
step is ``update`` then ``apply_updates`` (for the MLP, the loss's gradient too), jit-compiled
with the parameters and state donated. A memory triad (``y <- a x + y`` on 256 MiB arrays) is
timed in the same rounds, and each step's time is set, round by round, against the time an ideal
one-pass Adam step would take at that round's bandwidth (read params, gradients and both
moments, write params and both moments: 28 bytes per float32 element). With ``--pytorch``,
PyTorch's ``torch.optim.Adam`` runs beside them (``pytorch_adam.py``).

    python benchmarks/adam_speed.py                                   # every workload and mode
    python benchmarks/adam_speed.py --workloads single,mlp --repeats 21
    python benchmarks/adam_speed.py --workloads single --pytorch fused   # PyTorch's Adam beside them
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NamedTuple

MULTI_OUTPUT_FUSION = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
if __name__ == "__main__" and "--one-pass" in sys.argv:
    # XLA reads its flags once, when the backend starts: set them before importing JAX.
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {MULTI_OUTPUT_FUSION}".strip()

import common  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytorch_adam  # noqa: E402

import gradxform as gx  # noqa: E402

LEARNING_RATE = 1e-3


class Workload(NamedTuple):
    shapes: Callable[[], dict]
    train: bool  # True: the step computes the gradients of an MLP loss; False: given gradients


WORKLOADS = {
    "single": Workload(common.single_tensor, train=False),
    "leaves": Workload(common.many_leaves, train=False),
    "gpt2-25m": Workload(common.gpt2_25m, train=False),
    "gpt2-124m": Workload(common.gpt2_124m, train=False),
    "mlp": Workload(common.mlp_shapes, train=True),
    # the optimizer step alone on the MLP's 6 leaves, as the issue measured Optax (76 us)
    "mlp-update": Workload(common.mlp_shapes, train=False),
}
DEFAULT_WORKLOADS = "single,leaves,gpt2-25m,mlp,mlp-update"
# --smoke: the same workloads, tiny, to check that the script runs (the figures mean nothing).
SMOKE_WORKLOADS = {
    "single": Workload(lambda: {"w": (256, 256)}, train=False),
    "leaves": Workload(lambda: common.many_leaves(count=20, size=256), train=False),
    "gpt2-25m": Workload(lambda: common.gpt2(layers=1, d=64, vocab=512, context=64), train=False),
    "gpt2-124m": Workload(lambda: common.gpt2(layers=2, d=64, vocab=512, context=64), train=False),
    "mlp": Workload(common.mlp_shapes, train=True),
    "mlp-update": Workload(common.mlp_shapes, train=False),
}

# The variants: (label, mode). "per-leaf" runs on the params tree as it is; "grouped-tree" wraps
# gx.adam in gx.flatten (the params stay a tree, the state is a few buffers); "grouped-tree-sized"
# too, with flatten's buffers cut at --buffer-size elements; "grouped-flat" keeps the params
# themselves as gx.ravel_by_group buffers between steps; "grouped-flat-sized" too, with the
# buffers cut at --buffer-size elements (ravel_by_group's buffer_size).
MODES = ("per-leaf", "grouped-tree", "grouped-tree-sized", "grouped-flat", "grouped-flat-sized")
DEFAULT_BUFFER_SIZE = 1 << 20  # the best of benchmarks/buffer_size.py's sweep here
MLP_BATCH = 128


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------


def mlp_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    h = x
    layers = [params[k] for k in sorted(params)]
    for i, layer in enumerate(layers):
        h = h @ layer["w"] + layer["b"]
        if i < len(layers) - 1:
            h = jax.nn.relu(h)
    log_p = jax.nn.log_softmax(h)
    return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


def mlp_data(shapes: dict):
    n_in = shapes["layer0"]["w"][0]
    n_out = shapes[sorted(shapes)[-1]]["w"][1]
    x = jax.random.normal(jax.random.key(2), (MLP_BATCH, n_in), jnp.float32)
    y = jax.random.randint(jax.random.key(3), (MLP_BATCH,), 0, n_out)
    return x, y


def make_runner(label: str, library: str, mode: str, workload: Workload, params0, grads, data,
                buffer_size: int | None = None, one_pass: bool = False,
                compiler_options: dict | None = None):
    """Compile one variant's donated step and return a :class:`common.Runner` and a function
    giving its current params as a tree. ``one_pass`` wraps gradxform's optimizer in
    ``gx.one_pass`` (the process must have XLA's multi-output fusion on); ``compiler_options``
    are passed to ``jax.jit``, for this step alone."""
    optimizer, apply = common.adam_variant("optax" if library == "optax" else mode, LEARNING_RATE,
                                           buffer_size)
    if one_pass and library != "optax":
        optimizer = gx.one_pass(optimizer)

    params, to_tree, loss = params0, (lambda p: p), mlp_loss
    if mode in ("grouped-flat", "grouped-flat-sized"):
        sized = {"buffer_size": buffer_size} if mode == "grouped-flat-sized" else {}
        params, unravel = gx.ravel_by_group(params0, **sized)
        grads = None if grads is None else gx.ravel_by_group(grads, **sized)[0]
        to_tree = unravel

        def loss(flat, x, y):
            return mlp_loss(unravel(flat), x, y)

    params = jax.tree.map(jnp.copy, params)  # donated below: keep params0 intact
    state = optimizer.init(params)

    if workload.train:
        x, y = data

        def step(params, state):
            g = jax.grad(loss)(params, x, y)
            updates, state = optimizer.update(g, state, params)
            return apply(params, updates), state
    else:

        def step(params, state, grads):
            updates, state = optimizer.update(grads, state, params)
            return apply(params, updates), state

    if workload.train:
        compiled = jax.jit(step, donate_argnums=(0, 1),
                           compiler_options=compiler_options).lower(params, state).compile()
        runner = common.Runner(label, lambda c: compiled(*c), [(params, state)])
    else:
        compiled = jax.jit(step, donate_argnums=(0, 1),
                           compiler_options=compiler_options).lower(params, state, grads).compile()
        runner = common.Runner(label, lambda c: compiled(c[0], c[1], grads), [(params, state)])
    return runner, lambda: to_tree(runner.carry[0][0])


class Row(NamedTuple):
    label: str
    mode: str
    seconds: common.Summary
    vs_optax: common.Summary | None  # gradxform / Optax time, per round
    speedup: common.Summary | None  # Optax / gradxform time, per round (grouped modes)
    agreement: float | None  # max |params - Optax params| / max |Optax params|
    vs_pytorch: common.Summary | None  # gradxform / PyTorch time, per round (with --pytorch)
    of_bound: common.Summary | None  # the round's bandwidth-bound time / the step's, per round


class Measured(NamedTuple):
    rows: list[Row]
    bandwidth: common.Summary | None  # bytes per second of the triad timed in the same rounds


def measure(name: str, modes: list[str], repeats: int, min_sample: float, control: bool,
            buffer_size: int, one_pass: bool = False, pytorch: tuple[str, ...] = (),
            triad_elements: int = 1 << 26, copies: int = 1,
            compiler_options: dict | None = None) -> Measured:
    """Time Optax per leaf, then each gradxform mode (after a second Optax runner, with
    ``control``, and PyTorch's Adam in each of the ``pytorch`` variants, on workloads with given
    gradients), interleaved; every ratio is per round against the first Optax runner, and
    ``vs_pytorch`` against the first PyTorch runner. On workloads with given gradients a memory
    triad of ``triad_elements`` runs in the same rounds: each round's bandwidth gives that
    round's bound, and each step's fraction of it. With ``copies`` > 1 every variant runs as
    that many runners on buffers of their own, and a round's time is their mean
    (:func:`common.mean_of_copies`). ``compiler_options`` go to every JAX step's ``jax.jit``."""
    workload = WORKLOADS[name]
    shapes = workload.shapes()
    params0 = common.materialize(shapes, seed=0, std=0.1 if workload.train else 0.02)
    grads = None if workload.train else common.materialize(shapes, seed=1, std=1e-3)
    data = mlp_data(shapes) if workload.train else None

    variants = [("Optax, per leaf", "optax", "per-leaf")]
    if control:  # the same step on buffers of its own: what noise alone makes of a ratio
        variants.append(("Optax, per leaf, again (control)", "optax", "per-leaf"))
    suffix = ", one_pass" if one_pass else ""
    if not workload.train:  # PyTorch runs the optimizer step alone, on given gradients
        variants += [(f"PyTorch Adam, {v}", "pytorch", v) for v in pytorch]
    variants += [(common.variant_label(m, buffer_size) + suffix, "gradxform", m) for m in modes]
    runners, trees = [], []
    for label, library, mode in variants:
        if library == "pytorch":  # its tensors live in the runner's closure: build each copy
            made = [pytorch_adam.runner(label, mode, params0, grads, LEARNING_RATE)
                    for _ in range(copies)]
            runners += [runner for runner, _ in made]
            trees.append(made[0][1])
        else:
            runner, tree = make_runner(label, library, mode, workload, params0, grads, data,
                                       buffer_size, one_pass, compiler_options)
            runners += common.runner_copies(runner, copies)
            trees.append(tree)  # the first copy's: all copies take the same steps
    del params0
    if not workload.train:
        runners.append(common.triad_runner(triad_elements))
    samples = common.interleaved(runners, repeats, min_sample)
    bound_seconds = None
    if not workload.train:
        rates = [common.triad_bytes(triad_elements) / t for t in samples.pop()]
        bound_seconds = [common.adam_bytes(common.element_count(shapes)) / r for r in rates]
    samples = common.mean_of_copies(samples, copies)

    reference = jax.tree.leaves(trees[0]())
    scale = max(float(jnp.max(jnp.abs(b))) for b in reference)
    first_pytorch = next((s for (_, library, _), s in zip(variants, samples) if library == "pytorch"),
                         None)
    rows = []
    for i, ((label, library, mode), seconds, tree) in enumerate(zip(variants, samples, trees)):
        vs_pytorch = (common.ratio_summary(seconds, first_pytorch)
                      if library == "gradxform" and first_pytorch is not None else None)
        of_bound = None if bound_seconds is None else common.ratio_summary(bound_seconds, seconds)
        if i == 0:
            rows.append(Row(label, mode, common.summarize(seconds), None, None, None, None, of_bound))
            continue
        difference = max(
            float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(tree()), reference)
        )
        shows_speedup = mode != "per-leaf" or library != "gradxform"  # grouped, control, PyTorch
        rows.append(Row(
            label, mode, common.summarize(seconds),
            common.ratio_summary(seconds, samples[0]),
            common.ratio_summary(samples[0], seconds) if shows_speedup else None,
            difference / scale,
            vs_pytorch,
            of_bound,
        ))
    return Measured(rows, None if bound_seconds is None else common.summarize(rates))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                        help=f"comma-separated, from {', '.join(WORKLOADS)} (default: {DEFAULT_WORKLOADS})")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"gradxform modes, comma-separated, from {', '.join(MODES)} (default: all)")
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--min-sample", type=float, default=0.05,
                        help="seconds each timing sample lasts at least (default 0.05)")
    parser.add_argument("--bandwidth-elements", type=int, default=1 << 26,
                        help="float32 elements per array of the bandwidth triad (default 2**26)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny workloads, to check that the script runs; the figures mean nothing")
    parser.add_argument("--buffer-size", type=int, default=DEFAULT_BUFFER_SIZE,
                        help=f"elements per buffer in the -sized modes (default {DEFAULT_BUFFER_SIZE})")
    parser.add_argument("--one-pass", action="store_true",
                        help=f"wrap every gradxform variant in gx.one_pass and run the process with "
                        f"XLA's CPU multi-output fusion ({MULTI_OUTPUT_FUSION}); Optax runs with it too")
    parser.add_argument("--pytorch", default="",
                        help="time PyTorch's torch.optim.Adam beside them, in these variants, "
                        f"comma-separated, from {', '.join(pytorch_adam.VARIANTS)} (e.g. fused); "
                        "only on the workloads with given gradients (not mlp)")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the control: by default a second Optax runner, on its own "
                        "buffers, shows how far apart two identical steps measure")
    parser.add_argument("--copies", type=int, default=1,
                        help="runners per variant, each on buffers of its own; a round's time is "
                        "their mean (default 1; 3 steadies steps of tens of microseconds, whose "
                        "runners can differ by 5-15%% for a whole run)")
    parser.add_argument("--vector-width", type=int, default=None,
                        help="compile every JAX step (both libraries; not the triad) with "
                        "jax.jit(..., compiler_options={'xla_cpu_prefer_vector_width': N}), N in "
                        "bits: 512 on a CPU with AVX-512 (XLA's CPU default is 256)")
    args = parser.parse_args(argv)
    if args.smoke:
        WORKLOADS.update(SMOKE_WORKLOADS)
        for name, workload in SMOKE_WORKLOADS.items():
            workload.shapes.__doc__ = f"(smoke) {name}, shrunk."

    workloads, modes = common.comma_list(args.workloads), common.comma_list(args.modes)
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for m in modes:
        if m not in MODES:
            parser.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    if not workloads or args.repeats < 1:
        parser.error("need at least one workload and repeats >= 1")
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got {args.copies}")
    if args.vector_width not in (None, 128, 256, 512):
        parser.error(f"--vector-width must be 128, 256 or 512 bits, got {args.vector_width}")
    compiler_options = ({"xla_cpu_prefer_vector_width": args.vector_width}
                        if args.vector_width else None)
    pytorch = tuple(common.comma_list(args.pytorch))
    for v in pytorch:
        if v not in pytorch_adam.VARIANTS:
            parser.error(f"unknown --pytorch variant {v!r}; choose from {', '.join(pytorch_adam.VARIANTS)}")
    if pytorch and pytorch_adam.unavailable():
        parser.error(f"--pytorch: {pytorch_adam.unavailable()}")
    if args.buffer_size < 1:
        parser.error(f"--buffer-size must be a positive number of elements, got {args.buffer_size}")
    reasons = {m: common.variant_unavailable(m) for m in MODES}
    skipped = [f"{m} ({reasons[m]})" for m in modes if reasons[m]]
    modes = [m for m in modes if not reasons[m]]

    print("Adam: gradxform vs Optax, step time")
    print(f"machine: {common.machine()}" + (f"; {pytorch_adam.version()}" if pytorch else ""))
    print(
        f"method: adam(learning_rate={LEARNING_RATE:g}) in both; jitted update + apply_updates "
        f"(mlp: + the loss's gradient) with params and state donated; {args.repeats} timed rounds, "
        f"the variants interleaved in rotating order, each sample >= {args.min_sample:g} s of "
        f"consecutive steps"
        + (f"; {args.copies} runners per variant, a round's time their mean" if args.copies > 1 else "")
        + (f"; every step compiled with compiler_options={compiler_options}" if compiler_options else "")
        + (f"; gradxform's optimizers wrapped in gx.one_pass, XLA_FLAGS={os.environ.get('XLA_FLAGS')}"
           if args.one_pass else "")
    )
    for w in workloads:
        shapes = WORKLOADS[w].shapes()
        doc = WORKLOADS[w].shapes.__doc__.splitlines()[0].rstrip(".")
        extra = f"; batch {MLP_BATCH}, softmax cross-entropy" if WORKLOADS[w].train else ""
        print(f"workload {w}: {doc} ({common.describe(shapes)}{extra})")
    if skipped:
        print(f"skipped modes: {'; '.join(skipped)}")

    bandwidth = common.measure_bandwidth(args.bandwidth_elements)
    mib = args.bandwidth_elements * 4 / 2**20
    print(
        f"memory bandwidth (jitted triad y <- a x + y, 3 arrays of {mib:.0f} MiB): "
        f"best {bandwidth.best / 1e9:.1f} GB/s, median {bandwidth.median / 1e9:.1f} GB/s before "
        f"the steps; the bound below uses the same triad, timed in every round beside the steps"
    )
    print()
    # Pay JAX's one-time costs before measuring anything.
    common.interleaved([make_runner("warm-up", "gradxform", "per-leaf", WORKLOADS["single"],
                                    {"w": jnp.ones(8)}, {"w": jnp.ones(8)}, None)[0]], 1, 0.0)

    header = ["workload", "variant", "ms/step [quartiles]", "bound ms", "of bound",
              "gx/optax time", "speedup optax/gx", "agreement"] + (["gx/pytorch time"] if pytorch else [])
    rows, bandwidths = [], []
    for w in workloads:
        print(f"  timing {w} ...", file=sys.stderr, flush=True)
        n = common.element_count(WORKLOADS[w].shapes())
        measured = measure(w, modes, args.repeats, args.min_sample, args.control, args.buffer_size,
                           args.one_pass, pytorch, args.bandwidth_elements, args.copies,
                           compiler_options)
        if measured.bandwidth:
            gbs = common.Summary(*(r / 1e9 for r in measured.bandwidth))
            bandwidths.append(f"{w} {common.fmt(gbs, 1)}")
            bound_ms = f"{common.adam_bytes(n) / measured.bandwidth.median * 1e3:.2f}"
        for row in measured.rows:
            ms = common.Summary(*(1e3 * s for s in row.seconds))
            rows.append([
                w, row.label, common.fmt(ms, 3 if ms.median < 1 else 2),
                bound_ms if row.of_bound else "n/a",
                common.fmt(row.of_bound) if row.of_bound else "n/a",
                common.fmt(row.vs_optax) if row.vs_optax else "-",
                common.fmt(row.speedup) if row.speedup else "-",
                "-" if row.agreement is None else f"{row.agreement:.1e}",
            ] + ([common.fmt(row.vs_pytorch) if row.vs_pytorch else "-"] if pytorch else []))
    print(common.render(header, rows, text_columns=2))
    print()
    if bandwidths:
        print(f"triad bandwidth in the timed rounds, GB/s, median [quartiles]: {'; '.join(bandwidths)}")
    print(
        "bound ms: 28 bytes per float32 element (read p, g, m, v; write p, m, v) over the median "
        "bandwidth of the triad timed in the same rounds; of bound: per round, the round's bound "
        "over the step's time (1 = at the bandwidth bound). "
        "mlp: the step includes forward and backward passes, so no bound is given. "
        "gx/optax time: per-round ratio, below 1 = gradxform faster; speedup: Optax's time over "
        "gradxform's. agreement: max |params - Optax params| / max |Optax params| after the run "
        "(all variants took the same number of steps). The control runs Optax's step a second time "
        "on buffers of its own: its ratios are those of two identical steps, this machine's noise."
        + (" gx/pytorch time: per-round ratio to the first PyTorch variant (speedup column: Optax's "
           "time over PyTorch's, on its rows)." if pytorch else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
