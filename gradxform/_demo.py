"""The demo behind ``python -m gradxform``: several optimizers train one small MLP.

Everything is generated from a seed with NumPy (no downloads): a two-spirals classification
set, a held-out set drawn from the same distribution, and the MLP's initial weights, which
every optimizer starts from. Each optimizer's whole training run is one jit-compiled
:func:`jax.lax.scan` over full-batch steps.
"""
from __future__ import annotations

import math
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradxform

HIDDEN = 32  # the MLP is 2 -> HIDDEN -> 2 with a tanh hidden layer
POINTS = 512  # in the training set, and again in the held-out set
TIMING_RUNS = 3  # the compiled run is repeated this many times; ms/step is the fastest


class Candidate(NamedTuple):
    name: str  # a public name in gradxform
    learning_rate: float  # default for this problem; --learning-rate overrides it
    options: dict  # other keyword arguments, passed as given


# The lineup, in display order. Names that the installed gradxform does not define are left out
# of the default run (and rejected when asked for by name).
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("sgd", 0.3, {"momentum": 0.9}),
    Candidate("noisy_sgd", 0.3, {}),
    Candidate("aggmo", 0.3, {}),
    Candidate("lars", 3.0, {}),
    Candidate("adagrad", 0.3, {}),
    Candidate("adadelta", 1.0, {}),
    Candidate("rmsprop", 0.01, {}),
    Candidate("adam", 0.03, {}),
    Candidate("adamw", 0.03, {"weight_decay": 0.01}),
    Candidate("adamax", 0.1, {}),
    Candidate("nadam", 0.03, {}),
    Candidate("amsgrad", 0.03, {}),
    Candidate("radam", 0.03, {}),
    Candidate("qhadam", 0.03, {}),
    Candidate("swats", 0.03, {}),
    Candidate("lamb", 0.03, {}),
    Candidate("lion", 0.01, {}),
)


def available(module=gradxform) -> list[str]:
    """The lineup's names that ``module`` defines, in display order."""
    return [c.name for c in CANDIDATES if callable(getattr(module, c.name, None))]


def two_spirals(points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved noisy spirals of 1.5 turns: inputs ``(points, 2)`` float32, labels int32."""
    rng = np.random.default_rng(seed)
    turns = 1.5
    angle = np.sqrt(rng.uniform(size=points)) * turns * 2 * np.pi  # denser towards the centre
    label = rng.integers(0, 2, size=points)
    radius = 2 * angle / (turns * 2 * np.pi)
    phase = angle + np.pi * label
    x = np.stack([radius * np.cos(phase), radius * np.sin(phase)], axis=1)
    x = x + 0.1 * rng.normal(size=x.shape)
    return x.astype(np.float32), label.astype(np.int32)


def init_mlp(seed: int) -> dict:
    """Weights scaled by 1/sqrt(fan-in), zero biases, all float32."""
    rng = np.random.default_rng(seed)
    return {
        "w1": jnp.asarray(rng.normal(size=(2, HIDDEN)) / math.sqrt(2), jnp.float32),
        "b1": jnp.zeros([HIDDEN], jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(HIDDEN, 2)) / math.sqrt(HIDDEN), jnp.float32),
        "b2": jnp.zeros([2], jnp.float32),
    }


def logits(params: dict, x: jax.Array) -> jax.Array:
    hidden = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return hidden @ params["w2"] + params["b2"][None, :]


def loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy."""
    z = logits(params, x)
    picked = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)


def accuracy(params: dict, x: jax.Array, y: jax.Array) -> float:
    return float(jnp.mean(jnp.argmax(logits(params, x), axis=1).astype(y.dtype) == y))


class Result(NamedTuple):
    name: str
    settings: str  # the hyperparameters used, as shown in the table
    losses: np.ndarray  # training loss after 0, 1, ..., steps updates
    accuracy: float  # on the held-out set, after the last update
    ms_per_step: float  # fastest of TIMING_RUNS compiled runs, divided by the number of steps


def settings_text(learning_rate: float, options: dict) -> str:
    shown = {"lr": learning_rate, **options}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


def train(
    make: Callable[..., gradxform.GradientTransformation],
    learning_rate: float,
    options: dict,
    steps: int,
    seed: int,
) -> tuple[np.ndarray, float, float]:
    """Train the MLP; return (losses after 0..steps updates, held-out accuracy, ms per step)."""
    x, y = (jnp.asarray(a) for a in two_spirals(POINTS, seed))
    x_test, y_test = (jnp.asarray(a) for a in two_spirals(POINTS, seed + 1))
    params = init_mlp(seed)
    optimizer = make(learning_rate, **options)

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return (gradxform.apply_updates(params, updates), state), value

    def run(params, state):
        (params, _), history = jax.lax.scan(step, (params, state), None, length=steps)
        return params, jnp.concatenate([history, loss(params, x, y)[None]])

    state = optimizer.init(params)
    compiled = jax.jit(run).lower(params, state).compile()
    seconds = []
    for _ in range(TIMING_RUNS):
        start = time.perf_counter()
        final, history = jax.block_until_ready(compiled(params, state))
        seconds.append(time.perf_counter() - start)
    return np.asarray(history), accuracy(final, x_test, y_test), 1e3 * min(seconds) / steps


def steps_to_reach(losses: np.ndarray, tolerance: float) -> int | None:
    """The fewest updates after which the loss is at most ``tolerance``; None if never."""
    reached = np.flatnonzero(losses <= tolerance)
    return int(reached[0]) if reached.size else None


def table(results: list[Result], tolerance: float) -> str:
    header = (
        "optimizer", "settings", "final loss", "best loss", "test acc",
        f"steps to loss<={tolerance:g}", "ms/step",
    )
    rows = []
    for r in results:
        reached = steps_to_reach(r.losses, tolerance)
        rows.append((
            r.name,
            r.settings,
            f"{r.losses[-1]:.4f}",
            f"{np.min(r.losses):.4f}",
            f"{100 * r.accuracy:.1f}%",
            "never" if reached is None else str(reached),
            f"{r.ms_per_step:.3f}",
        ))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    left = 2  # name and settings are text, left-aligned; the numbers are right-aligned

    def line(cells):
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def run_all(names: list[str], steps: int, seed: int, learning_rate: float | None) -> list[Result]:
    by_name = {c.name: c for c in CANDIDATES}
    results = []
    for name in names:
        candidate = by_name[name]
        rate = candidate.learning_rate if learning_rate is None else learning_rate
        losses, acc, ms = train(getattr(gradxform, name), rate, candidate.options, steps, seed)
        results.append(Result(name, settings_text(rate, candidate.options), losses, acc, ms))
    return results
