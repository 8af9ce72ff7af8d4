"""Shared by the benchmark scripts: workloads, the machine's description, memory bandwidth,
interleaved timing, and plain-text tables. Not a benchmark itself."""
from __future__ import annotations

import inspect
import math
import os
import platform
import statistics
import time
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import jaxlib
import optax

import gradxform as gx

# ---------------------------------------------------------------------------------------------
# Workloads: trees of float32 shapes
# ---------------------------------------------------------------------------------------------


def single_tensor() -> dict:
    """One 4096 x 4096 tensor."""
    return {"w": (4096, 4096)}


def many_leaves(count: int = 2000, size: int = 4096) -> dict:
    """Many vectors of the same size (default 2000 vectors of 4096 elements)."""
    return {f"p{i:05d}": (size,) for i in range(count)}


def gpt2(layers: int, d: int = 768, vocab: int = 50257, context: int = 1024) -> dict:
    """GPT-2's parameter shapes: embeddings, ``layers`` blocks of width ``d``, final norm."""

    def dense(n_in, n_out):
        return {"kernel": (n_in, n_out), "bias": (n_out,)}

    def norm():
        return {"scale": (d,), "bias": (d,)}

    block = {
        "ln_1": norm(),
        "attn": {"c_attn": dense(d, 3 * d), "c_proj": dense(d, d)},
        "ln_2": norm(),
        "mlp": {"c_fc": dense(d, 4 * d), "c_proj": dense(4 * d, d)},
    }
    return {
        "wte": (vocab, d),
        "wpe": (context, d),
        "h": {f"{i:02d}": block for i in range(layers)},
        "ln_f": norm(),
    }


def gpt2_124m() -> dict:
    """The parameter shapes of GPT-2 small (12 layers, d=768, vocabulary 50257, context 1024)."""
    return gpt2(layers=12)


def gpt2_25m() -> dict:
    """GPT-2 small's shapes cut to 25M parameters (3 layers, d=768, vocabulary 4096, context 1024)."""
    return gpt2(layers=3, vocab=4096)


def mlp_shapes(sizes: Sequence[int] = (64, 96, 32, 10)) -> dict:
    """A small MLP's weights and biases (default 64-96-32-10: 9,674 parameters, 6 leaves)."""
    return {
        f"layer{i}": {"w": (n_in, n_out), "b": (n_out,)}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
    }


def is_shape(x) -> bool:
    return isinstance(x, tuple)


def shape_leaves(shapes: dict) -> list[tuple]:
    return jax.tree.leaves(shapes, is_leaf=is_shape)


def element_count(shapes: dict) -> int:
    return sum(math.prod(s) for s in shape_leaves(shapes))


def describe(shapes: dict) -> str:
    leaves = shape_leaves(shapes)
    count = f"{len(leaves)} leaf" if len(leaves) == 1 else f"{len(leaves)} leaves"
    return f"{count}, {element_count(shapes):,} float32 elements"


def materialize(shapes: dict, seed: int, std: float) -> dict:
    """Normal random float32 arrays of the given shapes."""
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=is_shape)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    arrays = [std * jax.random.normal(k, s, jnp.float32) for k, s in zip(keys, leaves)]
    return jax.block_until_ready(jax.tree.unflatten(treedef, arrays))


def abstract(shapes: dict) -> dict:
    """``jax.ShapeDtypeStruct`` float32 leaves: enough to lower and compile, nothing allocated."""
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s, jnp.float32), shapes, is_leaf=is_shape)


def adam_variant(variant: str, learning_rate: float, buffer_size: int | None = None):
    """``(optimizer, apply_updates)`` of Adam as a variant runs it: ``"optax"`` (Optax's, per
    leaf), ``"grouped-tree"`` (``gx.flatten(gx.adam)``), ``"grouped-tree-sized"`` (the same with
    ``buffer_size``), or gradxform's plain ``gx.adam`` for ``"per-leaf"`` and the grouped-flat
    variants (whose params are already ``ravel_by_group`` buffers)."""
    if variant == "optax":
        return optax.adam(learning_rate), optax.apply_updates
    if variant == "grouped-tree":
        return gx.flatten(gx.adam(learning_rate)), gx.apply_updates
    if variant == "grouped-tree-sized":
        return gx.flatten(gx.adam(learning_rate), buffer_size=buffer_size), gx.apply_updates
    return gx.adam(learning_rate), gx.apply_updates


_VARIANT_LABELS = {
    "optax": "Optax, per leaf",
    "per-leaf": "gradxform, per leaf",
    "grouped-tree": "gradxform, grouped (flatten), tree params",
    "grouped-tree-sized": "gradxform, grouped (flatten), tree params",
    "grouped-flat": "gradxform, grouped, flat params (ravel_by_group)",
    "grouped-flat-sized": "gradxform, grouped, flat params",
}
_VARIANT_NEEDS = {  # the gradxform function a variant needs, and whether with buffer_size
    "grouped-tree": ("flatten", False),
    "grouped-tree-sized": ("flatten", True),
    "grouped-flat": ("ravel_by_group", False),
    "grouped-flat-sized": ("ravel_by_group", True),
}


def variant_label(variant: str, buffer_size: int | None = None) -> str:
    """How the tables name an :func:`adam_variant`; the ``-sized`` ones with their ``buffer_size``."""
    sized = f", buffer_size={buffer_size:,}" if variant.endswith("-sized") else ""
    return _VARIANT_LABELS[variant] + sized


def variant_unavailable(variant: str) -> str:
    """Why this gradxform cannot run an :func:`adam_variant`, or "" if it can."""
    if variant not in _VARIANT_NEEDS:
        return ""
    name, sized = _VARIANT_NEEDS[variant]
    if not hasattr(gx, name):
        return f"this gradxform has no {name}"
    if sized and "buffer_size" not in inspect.signature(getattr(gx, name)).parameters:
        return f"this gradxform's {name} has no buffer_size"
    return ""


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def machine() -> str:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    device = jax.devices()[0]
    flags = os.environ.get("XLA_FLAGS", "")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({usable} usable); "
        f"Python {platform.python_version()}; JAX {jax.__version__}, jaxlib {jaxlib.__version__}, "
        f"Optax {optax.__version__}, gradxform {gx.__version__}; backend {jax.default_backend()} "
        f"({jax.device_count()} x {device.device_kind})" + (f"; XLA_FLAGS={flags}" if flags else "")
    )


class Bandwidth(NamedTuple):
    best: float  # bytes per second of the fastest sample
    median: float  # bytes per second, median over samples
    elements: int  # size of each of the three arrays


def _triad():
    """``y <- a * x + y`` jitted, ``y`` donated so that it is updated in place, as an optimizer
    step updates its params and state."""
    return jax.jit(lambda x, y: 1.0001 * x + y, donate_argnums=1)


def triad_bytes(elements: int) -> int:
    """Bytes one triad step moves: reads ``x`` and ``y``, writes ``y`` (float32)."""
    return 3 * 4 * elements


def measure_bandwidth(elements: int = 1 << 26, samples: int = 15) -> Bandwidth:
    """The memory bandwidth a jitted triad ``y <- a * x + y`` reaches (reads 2 arrays, writes 1).

    The default arrays are 256 MiB each, far beyond any cache.
    """
    triad = _triad()
    x = jnp.ones(elements, jnp.float32)
    y = jnp.zeros(elements, jnp.float32)
    y = jax.block_until_ready(triad(x, y))  # compile and touch every page
    rates = []
    for _ in range(samples):
        start = time.perf_counter()
        y = jax.block_until_ready(triad(x, y))
        rates.append(triad_bytes(elements) / (time.perf_counter() - start))
    return Bandwidth(best=max(rates), median=statistics.median(rates), elements=elements)


def triad_runner(elements: int = 1 << 26) -> "Runner":
    """The triad of :func:`measure_bandwidth` as a runner of :func:`interleaved`: timed in the
    same rounds as the steps, it gives each round's bandwidth (``triad_bytes / seconds``), so that
    a step's fraction of the bandwidth bound is taken round by round, like the ratios. (On a
    shared VM the best of 15 triads, taken before the steps, has ranged from 47 to 81 GB/s from
    one process to the next.)"""
    triad = _triad()
    x = jnp.ones(elements, jnp.float32)
    y = jax.block_until_ready(triad(x, jnp.zeros(elements, jnp.float32)))
    return Runner("memory triad", lambda y: triad(x, y), [y], own_pace=True)


def adam_bytes(elements: int, bytes_per_element: int = 4) -> int:
    """Bytes an ideal one-pass Adam step moves: read p, g, m, v and write p, m, v once each."""
    return 7 * bytes_per_element * elements


# ---------------------------------------------------------------------------------------------
# Interleaved timing
# ---------------------------------------------------------------------------------------------


class Runner(NamedTuple):
    """A compiled step and the arrays it carries from one call to the next."""

    label: str
    step: Callable  # carry -> carry (the carry includes the donated params and state)
    carry: list  # a one-element list holding the current carry
    own_pace: bool = False  # True: its samples take as many steps as it needs, not the others'


def run_steps(runner: Runner, steps: int) -> float:
    """Run ``steps`` consecutive steps and return the seconds per step."""
    carry = runner.carry[0]
    start = time.perf_counter()
    for _ in range(steps):
        carry = runner.step(carry)
    jax.block_until_ready(carry)
    seconds = (time.perf_counter() - start) / steps
    runner.carry[0] = carry
    return seconds


def interleaved(runners: Sequence[Runner], repeats: int, min_sample_seconds: float) -> list[list[float]]:
    """Seconds per step of each runner, one sample per round; the order rotates every round.

    Every runner takes the same number of steps per sample, enough for the fastest runner's
    sample to last ``min_sample_seconds``, so that every sample is a run of consecutive steps
    (a lone step after another runner's pays the CPU backend's thread wake-up: a 6 ms step
    measures 10-12 ms) and after the run all runners have taken the same number of steps.
    A runner with ``own_pace`` (a reference such as the memory triad, not a step being compared)
    takes instead enough steps for its own sample to last ``min_sample_seconds``. A warm-up step
    per runner is not timed.
    """
    for runner in runners:
        run_steps(runner, 1)
    seconds = [run_steps(runner, 1) for runner in runners]
    fastest = min(s for s, runner in zip(seconds, runners) if not runner.own_pace)
    steps = [max(1, math.ceil(min_sample_seconds / (s if runner.own_pace else fastest)))
             for s, runner in zip(seconds, runners)]
    samples = [[] for _ in runners]
    order = list(range(len(runners)))
    for r in range(repeats):
        rotated = order[r % len(order):] + order[:r % len(order)]
        if r % 2:
            rotated.reverse()
        for i in rotated:
            samples[i].append(run_steps(runners[i], steps[i]))
    return samples


def runner_copies(runner: Runner, copies: int) -> list[Runner]:
    """``runner`` and ``copies - 1`` more of the same compiled step, each carrying its own copy of
    the arrays (the step donates them, so no two runners may share one)."""
    return [runner] + [
        runner._replace(carry=[jax.block_until_ready(jax.tree.map(jnp.copy, runner.carry[0]))])
        for _ in range(copies - 1)
    ]


def mean_of_copies(samples: Sequence[Sequence[float]], copies: int) -> list[list[float]]:
    """Each variant's seconds per round, averaged over its ``copies`` runners.

    ``samples`` is :func:`interleaved`'s result for runners laid out variant by variant, each
    variant as ``copies`` consecutive runners: the same step compiled and run on buffers of its
    own. On steps of tens of microseconds a runner's own buffers can keep it 5-15% faster or
    slower than an identical runner for a whole run (``benchmarks/RESULTS.md``); the mean over
    copies averages that out, where one runner per variant would report it as a difference.
    """
    if copies < 1 or len(samples) % copies:
        raise ValueError(f"mean_of_copies: {len(samples)} runners do not form groups of "
                         f"copies={copies}")
    return [
        [statistics.fmean(round_) for round_ in zip(*samples[start:start + copies])]
        for start in range(0, len(samples), copies)
    ]


class Summary(NamedTuple):
    median: float
    low: float  # lower quartile
    high: float  # upper quartile


def summarize(values: Sequence[float]) -> Summary:
    values = sorted(values)
    if len(values) == 1:
        return Summary(values[0], values[0], values[0])
    q = statistics.quantiles(values, n=4)
    return Summary(statistics.median(values), q[0], q[2])


def ratio_summary(numerators: Sequence[float], denominators: Sequence[float]) -> Summary:
    """Per-round ratios (same round, so the same machine load), summarized."""
    return summarize([a / b for a, b in zip(numerators, denominators)])


def fmt(summary: Summary, digits: int = 2) -> str:
    return f"{summary.median:.{digits}f} [{summary.low:.{digits}f}-{summary.high:.{digits}f}]"


def render(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A plain-text table; the first ``text_columns`` columns left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i < text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def comma_list(text: str) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
