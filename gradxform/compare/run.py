"""Run one optimizer on one problem, jit-compiled, and record what the report needs.

The run is a :func:`jax.lax.scan` over a chunk of full-batch steps, compiled once and called
until every step is done (at most :data:`CHUNKS` calls, so that the progress bar can move while
a long run goes on). The last chunk may reach past the requested number of steps: the steps
beyond it leave the parameters and the optimizer's state unchanged (a ``jnp.where``). The
chunking changes results only by XLA's rounding, and is fixed by the number of steps, so the
same seed and options give identical numbers. Compilation is done, and timed, before the first
call; the time per step is the fastest call's divided by its steps, which other programs on
the machine disturb least.
"""
from __future__ import annotations

import math
import time
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import gradxform
from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import problems as _problems

CHUNKS = 10  # a run is cut into at most this many compiled calls


class Result(NamedTuple):
    name: str  # the lineup's name
    settings: str  # the learning rate and options used, as shown in the table
    losses: np.ndarray  # float64 (steps + 1,): the loss after 0, 1, ..., steps updates
    path: Optional[np.ndarray]  # float64 (steps + 1, 2): the parameters, for planar problems
    accuracy: Optional[float]  # held-out accuracy after the last update, where it applies
    seconds_per_step: float  # the fastest compiled call's time over its steps (no compiling)
    compile_seconds: float
    family: str = "other"  # the lineup's family of the optimizer: its panel in the plots


def settings_text(learning_rate, options: dict) -> str:
    """``lr=0.05, weight_decay=0.0001``; a schedule in short, ``lr=cosine(0.1, 500)``."""
    def show(value):
        if isinstance(value, _compare_lineup.ScheduleSpec):
            return value.short()
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{k}={show(v)}" for k, v in {"lr": learning_rate, **options}.items())


def run(
    problem: _problems.Problem,
    entry: _compare_lineup.Entry,
    steps: int,
    seed: int,
    learning_rate=None,
    progress: Callable[[int], None] = lambda done: None,
) -> Result:
    """Train ``problem`` with ``entry``'s optimizer for ``steps`` updates.

    Args:
        learning_rate: a number or a :class:`ScheduleSpec`; None for the entry's default for
            the problem's family.
        progress: called with the number of updates finished after each compiled call.
    """
    if learning_rate is None:
        learning_rate = entry.learning_rate(problem.name, problem.family)
    rate = learning_rate
    if isinstance(learning_rate, _compare_lineup.ScheduleSpec):
        rate = learning_rate.build()
    options = dict(entry.options)
    if entry.alias == "noisy_sgd":
        options["key"] = seed  # the noise follows the seed like everything else
    optimizer = _compare_lineup.build(entry._replace(options=options), rate)
    planar = _problems.is_planar(problem)
    loss = problem.loss
    chunk = -(-steps // CHUNKS)  # ceil(steps / CHUNKS)
    calls = -(-steps // chunk)

    def one_step(carry, _):
        params, state, done = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, new_state = optimizer.update(grads, state, params)
        new_params = gradxform.apply_updates(params, updates)
        live = done < steps
        keep = lambda new, old: jnp.where(live, new, old)  # noqa: E731
        carry = (jax.tree.map(keep, new_params, params), jax.tree.map(keep, new_state, state),
                 done + live.astype(done.dtype))  # stops at steps: no int32 wrap-around
        return carry, (value, ravel_pytree(params)[0] if planar else None)

    def run_chunk(params, state, done):
        carry, (values, points) = jax.lax.scan(one_step, (params, state, done), None, length=chunk)
        return carry, values, points

    params = problem.init_params
    state = optimizer.init(params)
    done = jnp.zeros([], jnp.int32)
    start = time.perf_counter()
    compiled = jax.jit(run_chunk).lower(params, state, done).compile()
    finish = jax.jit(lambda p: (loss(p), ravel_pytree(p)[0]))
    jax.block_until_ready(finish(params))
    compile_seconds = time.perf_counter() - start

    values: list[np.ndarray] = []
    points: list[np.ndarray] = []  # the chunks' paths, on planar problems only
    seconds = math.inf
    for call in range(calls):
        start = time.perf_counter()
        (params, state, done), chunk_values, chunk_points = jax.block_until_ready(
            compiled(params, state, done)
        )
        seconds = min(seconds, time.perf_counter() - start)
        values.append(np.asarray(chunk_values, np.float64))
        if planar:
            points.append(np.asarray(chunk_points, np.float64))
        progress(min((call + 1) * chunk, steps))
    last_value, last_point = finish(params)
    losses = np.append(np.concatenate(values)[:steps], float(last_value))
    path = None
    if planar:
        last_point = np.asarray(last_point, np.float64)[None]
        path = np.concatenate([np.concatenate(points)[:steps], last_point])
    accuracy = None if problem.accuracy is None else float(jax.jit(problem.accuracy)(params))
    return Result(
        name=entry.name,
        settings=settings_text(learning_rate, entry.options),
        losses=losses,
        path=path,
        accuracy=accuracy,
        seconds_per_step=seconds / chunk,
        compile_seconds=compile_seconds,
        family=entry.family,
    )


def steps_to_reach(losses: np.ndarray, tolerance: float) -> Optional[int]:
    """The fewest updates after which the loss is at most ``tolerance``; None if never."""
    reached = np.flatnonzero(losses <= tolerance)
    return int(reached[0]) if reached.size else None


DIVERGENCE_FACTOR = 100.0  # a loss this many times its start's size above the start has blown up


def diverged_at(losses: np.ndarray) -> Optional[int]:
    """The first step whose loss is not finite or exceeds ``start + DIVERGENCE_FACTOR * |start|``
    (the start is ``losses[0]``; ``|start|`` at least 1e-12); None if there is none."""
    start = losses[0]
    limit = start + DIVERGENCE_FACTOR * max(abs(start), 1e-12)
    with np.errstate(invalid="ignore"):
        blown = ~np.isfinite(losses) | (losses > limit)
    found = np.flatnonzero(blown)
    return int(found[0]) if found.size else None
