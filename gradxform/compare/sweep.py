"""Train many copies of one optimizer at once, one per setting of its hyperparameters.

:func:`sweep` runs every point of a grid (a learning-rate grid, ``b1`` x ``b2``, several seeds
of the initial weights) as one program: the optimizer is built once, each copy's state gets its
values with :func:`gradxform.set_hyperparams` (data, not code), and :func:`jax.vmap` trains all
copies side by side. The program is compiled once, whatever the number of settings, and called
a chunk of steps at a time (at most :data:`CHUNKS` calls) so that a progress bar can move.

:func:`range_test` is the learning-rate range test of Smith (2017): one run whose learning rate
grows exponentially from one step to the next; the loss against the learning rate shows where
training is fastest and where it breaks down.

Both take the problems of ``gradxform compare`` (:mod:`gradxform.compare.problems`).
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import gradxform
from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import problems as _problems
from gradxform.compare.run import diverged_at

CHUNKS = 10  # the training is cut into at most this many compiled calls
MAX_RUNS = 4096  # settings x seeds trained at once
MAX_RECORDED = 20_000_000  # runs x (steps + 1) losses kept in memory (160 MB as float64)
RANGE_SMOOTHING = 0.9  # the decay of the range test's moving average of the loss
RANGE_BLOWUP = 4.0  # the range test stops reading where the smoothed loss passes 4x its minimum


def _HYPER_DTYPE():
    return jnp.result_type(float)  # how gradxform stores hyperparameters: float32 unless x64


class BadSetting(ValueError):
    """A sweep or range test that cannot run. ``option`` says what is wrong: ``"optimizer"``,
    ``"grid"``, ``"seeds"``, ``"steps"`` or ``"range"``; the message is one line."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


class SweepResult(NamedTuple):
    problem: str  # the problem's name
    optimizer: str  # the lineup's name of the optimizer
    axes: dict  # hyperparameter name -> float64 values, in grid order (first axis first)
    fixed: dict  # every other hyperparameter's value, as the optimizer was built
    seeds: tuple  # the seeds of the initial weights, the last axis of ``losses``
    losses: np.ndarray  # float64 (*grid shape, seeds, steps + 1): the loss after 0..steps updates
    compile_seconds: float
    run_seconds: float  # all runs together, compilation excluded

    @property
    def shape(self) -> tuple:
        """The grid's shape: one length per axis."""
        return tuple(len(v) for v in self.axes.values())

    @property
    def diverged(self) -> np.ndarray:
        """bool (*grid shape, seeds): the run's loss turned non-finite or blew up
        (:func:`gradxform.compare.run.diverged_at`)."""
        flat = self.losses.reshape(-1, self.losses.shape[-1])
        return np.array([diverged_at(run) is not None for run in flat]).reshape(
            self.losses.shape[:-1]
        )

    @property
    def final(self) -> np.ndarray:
        """float64 (*grid shape): the final loss, mean over seeds; nan where any seed diverged."""
        mean = self.losses[..., -1].mean(axis=-1)
        return np.where(self.diverged.any(axis=-1), np.nan, mean)

    def best(self, count: int = 5) -> list[tuple[dict, float]]:
        """The ``count`` settings with the lowest final loss (:attr:`final`) that did not
        diverge, best first, as ``({name: value}, final loss)``."""
        final = self.final
        order = [i for i in np.argsort(final, axis=None, kind="stable") if np.isfinite(final.flat[i])]
        return [(self.setting(np.unravel_index(i, self.shape)), float(final.flat[i]))
                for i in order[:count]]

    def setting(self, index: Sequence[int]) -> dict:
        """The values of the grid point at ``index``, by name."""
        return {name: float(values[i]) for (name, values), i in zip(self.axes.items(), index)}


class RangeTest(NamedTuple):
    problem: str
    optimizer: str
    learning_rates: np.ndarray  # float64 (steps,): the rate of each update, growing exponentially
    losses: np.ndarray  # float64 (steps,): the loss just after the update at that rate
    smoothed: np.ndarray  # float64 (steps,): debiased moving average of ``losses``
    stop: int  # updates read: up to the first whose smoothed loss is not finite or > 4x its min
    suggested: float  # the rate where the smoothed loss falls fastest (against log rate)
    minimum: float  # the rate at the smoothed loss's minimum (before ``stop``)
    compile_seconds: float
    run_seconds: float

    @property
    def blew_up(self) -> bool:
        """Whether the loss blew up before the last rate."""
        return self.stop < len(self.losses)


# ---------------------------------------------------------------------------------------------
# What to train: the problem, the optimizer, the grid
# ---------------------------------------------------------------------------------------------


def _problem(problem, seed: int) -> _problems.Problem:
    return _problems.build(problem, seed) if isinstance(problem, str) else problem


def _entry(optimizer: str) -> _compare_lineup.Entry:
    try:
        chosen = _compare_lineup.choose(optimizer)
    except ValueError as error:
        raise BadSetting("optimizer", str(error)) from None
    if len(chosen) != 1:
        raise BadSetting("optimizer", f"expected one optimizer, got {optimizer!r}")
    return chosen[0]


def build_optimizer(entry: _compare_lineup.Entry, problem: _problems.Problem, seed: int):
    """``entry``'s optimizer with its default learning rate for ``problem`` (the sweep sets the
    values it varies in each copy's state)."""
    options = dict(entry.options)
    if entry.alias == "noisy_sgd":
        options["key"] = seed
    return _compare_lineup.build(entry._replace(options=options),
                                 entry.learning_rate(problem.name, problem.family))


def check_names(names: Sequence[str], state) -> None:
    """A :class:`BadSetting` naming the first of ``names`` that the optimizer whose state is
    ``state`` has no hyperparameter for."""
    known = list(gradxform.hyperparams(state))
    for name in names:
        if name not in known:
            raise BadSetting(
                "grid", f"no hyperparameter {name!r} in this optimizer; it has {', '.join(known)}"
            )


def grid_points(axes: dict) -> dict:
    """Every combination of the axes' values, first axis slowest: name -> float64 (points,)."""
    combos = list(itertools.product(*[np.asarray(v, np.float64) for v in axes.values()]))
    return {name: np.array([c[i] for c in combos]) for i, name in enumerate(axes)}


def _stacked_starts(problem, seeds: Sequence[int]):
    """The initial weights for each seed, stacked on a leading axis; ``None`` if the problem
    draws none (a fixed start, or a user's ``init_params``): then a :class:`BadSetting` for
    several seeds, which would repeat one run."""
    if len(seeds) == 1:
        return None
    if not isinstance(problem, str):
        raise BadSetting(
            "seeds", f"a Problem has one start; pass its name ({problem.name!r}) to draw the "
            "initial weights from each seed"
        )
    starts = [_problems.build(problem, s).init_params for s in seeds]
    first = jax.tree.leaves(starts[0])
    if all(all(np.array_equal(a, b) for a, b in zip(first, jax.tree.leaves(s))) for s in starts[1:]):
        raise BadSetting(
            "seeds", f"{problem} starts from the same point for every seed, so several seeds "
            "would repeat one run; give one seed"
        )
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *starts)


# ---------------------------------------------------------------------------------------------
# Training many copies at once
# ---------------------------------------------------------------------------------------------


def _trainer(loss, optimizer, steps: int, chunk: int, record: Callable | None = None):
    """``run_chunk(params, state, done) -> ((params, state, done), losses)``: ``chunk``
    updates of one copy; updates past ``steps`` change nothing. ``record(done)``, if given, is
    a learning rate to set before each update (the range test)."""
    def one_step(carry, _):
        params, state, done = carry
        if record is not None:
            state = gradxform.set_hyperparams(state, learning_rate=record(done))
        value, grads = jax.value_and_grad(loss)(params)
        updates, new_state = optimizer.update(grads, state, params)
        new_params = gradxform.apply_updates(params, updates)
        live = done < steps
        keep = lambda new, old: jnp.where(live, new, old)  # noqa: E731
        carry = (jax.tree.map(keep, new_params, params), jax.tree.map(keep, new_state, state),
                 done + live.astype(done.dtype))
        return carry, value

    def run_chunk(params, state, done):
        return jax.lax.scan(one_step, (params, state, done), None, length=chunk)

    return run_chunk


def _calls(compiled, carry, steps: int, chunk: int, progress) -> tuple:
    """Call ``compiled`` until ``steps`` updates are done; the values, and the seconds taken."""
    values = []
    start = time.perf_counter()
    for call in range(-(-steps // chunk)):
        carry, chunk_values = jax.block_until_ready(compiled(*carry))
        values.append(np.asarray(chunk_values, np.float64))
        progress(min((call + 1) * chunk, steps))
    return carry, values, time.perf_counter() - start


def sweep(
    problem,
    optimizer: str,
    axes: dict,
    steps: Optional[int] = None,
    seeds: Sequence[int] = (0,),
    progress: Callable[[int], None] = lambda done: None,
) -> SweepResult:
    """Train one copy of ``optimizer`` per point of the grid ``axes`` and per seed, at once.

    Args:
        problem: a :class:`~gradxform.compare.problems.Problem`, or the name of one
            (``"digits-mlp"``, ``"module:function"``), built with the first seed.
        optimizer: a name from ``gradxform compare``'s lineup (``"adam"``); built with its
            default learning rate for the problem and its lineup options.
        axes: hyperparameter name -> the values to try (``{"b1": [0.8, 0.9], "b2": [0.99,
            0.999]}``); names are those :func:`gradxform.hyperparams` gives for the optimizer.
            Each value gets the checks the optimizer runs on its arguments.
        steps: updates per copy (default: the problem's).
        seeds: seeds of the initial weights (the problem's data split is the first seed's);
            several only for a problem that draws its initial weights (the digits).
        progress: called with the number of updates finished after each compiled call.

    Returns:
        A :class:`SweepResult` with every copy's loss after each update.

    Raises:
        BadSetting: an unknown optimizer or hyperparameter name, a value the optimizer
            refuses, repeated or several seeds for a fixed start, or too many runs or steps.
    """
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise BadSetting("seeds", f"expected distinct seeds, at least one, got {list(seeds)}")
    built = _problem(problem, seeds[0])
    steps = steps or built.steps
    axes = {name: np.asarray(values, np.float64).ravel() for name, values in axes.items()}
    if not axes or any(v.size == 0 for v in axes.values()):
        raise BadSetting("grid", "expected at least one hyperparameter with at least one value")
    runs = math.prod(v.size for v in axes.values()) * len(seeds)
    if runs > MAX_RUNS or runs * (steps + 1) > MAX_RECORDED:
        raise BadSetting(
            "grid", f"{runs} runs x {steps} steps is too many (at most {MAX_RUNS} runs and "
            f"{MAX_RECORDED:.0e} recorded losses); try a coarser grid or fewer steps"
        )
    entry = _entry(optimizer)
    transform = build_optimizer(entry, built, seeds[0])
    state = transform.init(built.init_params)
    check_names(list(axes), state)
    points = grid_points(axes)
    for name, values in axes.items():  # the optimizer's own checks, on each value
        for value in values:
            try:
                gradxform.set_hyperparams(state, {name: float(value)})
            except (TypeError, ValueError) as error:
                raise BadSetting("grid", str(error)) from None
    starts = _stacked_starts(problem, seeds)

    # The runs: grid points (slowest) x seeds (fastest).
    values = {k: jnp.asarray(np.repeat(v, len(seeds)), _HYPER_DTYPE())
              for k, v in points.items()}
    if starts is None:
        params = jax.tree.map(lambda x: jnp.broadcast_to(x, (runs, *jnp.shape(x))), built.init_params)
    else:
        params = jax.tree.map(lambda x: jnp.tile(x, (runs // len(seeds),) + (1,) * (x.ndim - 1)),
                              starts)

    chunk = -(-steps // CHUNKS)
    run_chunk = _trainer(built.loss, transform, steps, chunk)
    done = jnp.zeros([runs], jnp.int32)
    start = time.perf_counter()
    states = jax.jit(jax.vmap(lambda v, p: gradxform.set_hyperparams(transform.init(p), **v)))(
        values, params
    )
    compiled = jax.jit(jax.vmap(run_chunk)).lower(params, states, done).compile()
    final_loss = jax.jit(jax.vmap(built.loss))
    jax.block_until_ready(final_loss(params))
    compile_seconds = time.perf_counter() - start
    (params, _, _), chunks, seconds = _calls(compiled, (params, states, done), steps, chunk,
                                             progress)
    losses = np.concatenate([*chunks, np.asarray(final_loss(params), np.float64)[:, None]],
                            axis=1)[:, np.r_[:steps, -1]]
    shape = (*(v.size for v in axes.values()), len(seeds), steps + 1)
    fixed = {k: float(v) for k, v in gradxform.hyperparams(state).items() if k not in axes}
    return SweepResult(built.name, entry.name, axes, fixed, seeds, losses.reshape(shape),
                       compile_seconds, seconds)


# ---------------------------------------------------------------------------------------------
# The learning-rate range test
# ---------------------------------------------------------------------------------------------


def smooth(losses: np.ndarray, decay: float = RANGE_SMOOTHING) -> np.ndarray:
    r"""The debiased exponential moving average :math:`m_t / (1 - \beta^{t+1})` with
    :math:`m_t = \beta m_{t-1} + (1 - \beta) \ell_t`."""
    average, out = 0.0, np.empty(len(losses))
    for t, value in enumerate(losses):
        average = decay * average + (1 - decay) * value
        out[t] = average / (1 - decay ** (t + 1))
    return out


def read_range_test(rates: np.ndarray, losses: np.ndarray) -> tuple[int, float, float]:
    """``(stop, suggested, minimum)``: how many updates to read (up to the first whose smoothed
    loss is not finite or above :data:`RANGE_BLOWUP` times the lowest so far), the rate where
    the smoothed loss falls fastest against ``log(rate)``, and the rate at its minimum."""
    smoothed = smooth(losses)
    lowest = np.minimum.accumulate(np.where(np.isfinite(smoothed), smoothed, np.inf))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(smoothed) | (smoothed - lowest > (RANGE_BLOWUP - 1) * np.abs(lowest))
    stop = int(np.flatnonzero(bad)[0]) if bad.any() else len(losses)
    stop = max(stop, 1)
    read = smoothed[:stop]
    minimum = int(np.argmin(read))
    if minimum < 2:
        return stop, float(rates[minimum]), float(rates[minimum])
    slope = np.gradient(read[:minimum + 1], np.log(rates[:minimum + 1]))
    return stop, float(rates[int(np.argmin(slope))]), float(rates[minimum])


def range_test(
    problem,
    optimizer: str,
    steps: Optional[int] = None,
    lowest: float = 1e-6,
    highest: float = 10.0,
    seed: int = 0,
    progress: Callable[[int], None] = lambda done: None,
) -> RangeTest:
    r"""Smith's learning-rate range test: one run whose rate grows from ``lowest`` to ``highest``.

    The update :math:`t = 0, \dots, T-1` uses :math:`\eta_t = \eta_{lo} (\eta_{hi} /
    \eta_{lo})^{t / (T - 1)}`, set in the state with :func:`gradxform.set_hyperparams` (no
    recompiling); the loss after it is recorded against :math:`\eta_t`. The suggested rate is
    where the smoothed loss falls fastest against :math:`\log \eta`; the loss's minimum is
    reported too (a rate some ten times below it is the other usual pick).

    Args:
        problem: a :class:`~gradxform.compare.problems.Problem` or the name of one.
        optimizer: a name from ``gradxform compare``'s lineup.
        steps: the number of updates :math:`T`, at least 3 (default: the problem's).
        lowest, highest: :math:`\eta_{lo} < \eta_{hi}`, both finite and > 0.
        seed: the problem's seed.

    Returns:
        A :class:`RangeTest`.

    Raises:
        BadSetting: an unknown optimizer, fewer than 3 steps, or a bad range.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (section 3.3),
        https://arxiv.org/abs/1506.01186
    """
    if not (0 < lowest < highest < math.inf):
        raise BadSetting(
            "range", f"expected 0 < lowest < highest, both finite, got {lowest!r} and {highest!r}"
        )
    built = _problem(problem, seed)
    steps = steps or built.steps
    if steps < 3:
        raise BadSetting("steps", f"the range test needs at least 3 steps, got {steps}")
    entry = _entry(optimizer)
    transform = build_optimizer(entry, built, seed)
    state = transform.init(built.init_params)
    check_names(["learning_rate"], state)
    rates = lowest * (highest / lowest) ** (np.arange(steps) / (steps - 1))
    table = jnp.asarray(rates, _HYPER_DTYPE())
    chunk = -(-steps // CHUNKS)
    run_chunk = _trainer(built.loss, transform, steps,
                         chunk, record=lambda done: table[jnp.minimum(done, steps - 1)])
    done = jnp.zeros([], jnp.int32)
    start = time.perf_counter()
    compiled = jax.jit(run_chunk).lower(built.init_params, state, done).compile()
    final_loss = jax.jit(built.loss)
    jax.block_until_ready(final_loss(built.init_params))
    compile_seconds = time.perf_counter() - start
    (params, _, _), chunks, seconds = _calls(compiled, (built.init_params, state, done), steps,
                                             chunk, progress)
    before = np.concatenate(chunks)[:steps]  # the loss before update t
    losses = np.append(before[1:], float(final_loss(params)))  # ... after it
    stop, suggested, minimum = read_range_test(rates, losses)
    return RangeTest(built.name, entry.name, rates, losses, smooth(losses), stop, suggested,
                     minimum, compile_seconds, seconds)
