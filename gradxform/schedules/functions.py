r"""Schedules: pure functions of the step count, ``schedule(step) -> value``.

A schedule is accepted anywhere a hyperparameter is (the learning rate above all). It is called
with the step count that :func:`gradxform.chain` passes down: the number of updates applied
before the current one, so ``step = 0`` on the first update (Optax's convention). The step may
be a Python int or an integer array of any shape; the value is computed element by element, with
no Python branching on the step, so a schedule can be jitted, vmapped and differentiated with
respect to its own arguments.

Conventions shared by every schedule here:

* **Step 0 is the start.** Every schedule returns its initial value at ``step = 0``
  (``init_value``, or the documented start of the first phase; up to an ulp where Optax's
  formula rounds, see *Optax's rounding*).
* **A boundary belongs to what comes after it.** At ``step = b`` for a boundary ``b``, the
  schedule already returns the new segment's value; the old segment covers ``step < b``.
* **Precision.** The value is computed in ``jnp.result_type(float)``: float64 when x64 is
  enabled, float32 otherwise, whatever the integer dtype of the step. (Optax computes
  ``int32 / int`` in float32 even under x64.) The result has the shape of ``step``.
* **Optax's rounding.** A schedule Optax also has is computed with Optax's formula, term for
  term, so that in float32 its values are Optax's bit for bit (tested over a thousand steps);
  where a docstring says a value is reached, it is reached as Optax reaches it, which may be an
  ulp away (``(I - E) + E`` need not round to ``I``). The deliberate differences (a
  staircase stair found by integer division, a zero-length warmup, errors where Optax returns a
  constant) are in each docstring.
* **Any length.** Step counts, lengths and boundaries may be ``2**31`` or more (past the int32
  step counter, so never reached by it): they are compared and divided as floats, or found
  out of the step's range when the schedule is traced, never converted to int32.
* **Arguments are checked when the schedule is built.** Step counts must be whole numbers
  ``>= 0`` (or ``>= 1`` where they divide), boundaries strictly increasing, values finite;
  anything else raises a ``ValueError`` or ``TypeError`` naming the schedule and the argument.
  Nothing is clamped or replaced silently. Behaviour at negative steps is unspecified.

Names and signatures follow Optax 0.2.8 where Optax has the same schedule; the others follow
the reference named in their docstrings.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.types import Schedule

# ---------------------------------------------------------------------------------------------
# Private helpers: every schedule converts the step, then works in the default float dtype.
# ---------------------------------------------------------------------------------------------


def _dtype():
    return jnp.result_type(float)


def _int_step(step, who: str) -> jax.Array:
    step = jnp.asarray(step)
    _check.integer_step(who, step)
    return step


def _f(value) -> jax.Array:
    """A fixed argument in the compute dtype, so strict promotion never meets f32 with f64."""
    return jnp.asarray(value, _dtype())


def _fits(step: jax.Array, n: int) -> bool:
    """Whether the whole number ``n`` fits the step's integer dtype (``2**31 - 1`` for int32).

    A step count, boundary or length past it is never reached by such a step: the helpers below
    decide that when the schedule is traced (the dtype is static), instead of converting ``n``
    to the step's dtype, which would overflow.
    """
    return n <= jnp.iinfo(step.dtype).max


def _reached(step: jax.Array, n: int) -> jax.Array:
    """``step >= n``, elementwise; ``False`` where ``n`` is beyond the step's range."""
    return step >= n if _fits(step, n) else jnp.zeros(jnp.shape(step), bool)


def _since(step: jax.Array, begin: int) -> jax.Array:
    """``max(step - begin, 0)`` in the step's dtype (0 where ``begin`` is beyond its range)."""
    return jnp.maximum(step - begin, 0) if _fits(step, begin) else jnp.zeros_like(step)


def _at_most(count: jax.Array, n: int) -> jax.Array:
    """``min(count, n)`` for an integer ``count`` (``count`` itself where ``n`` is beyond its range)."""
    return jnp.minimum(count, n) if _fits(count, n) else count


def _floor_div(step: jax.Array, n: int) -> jax.Array:
    """``step // n`` for ``step >= 0`` (0 where ``n`` is beyond the step's range)."""
    return step // n if _fits(step, n) else jnp.zeros_like(step)


def _fraction(count, steps):
    """``count / steps`` clipped to ``[0, 1]``, and exactly 1 from ``count >= steps`` on.

    The comparison makes the end exact: XLA on CPU may divide by multiplying with the
    reciprocal (``49 * (1 / 49) < 1``), which would leave a schedule an ulp short of its end.
    ``steps`` is a Python number, converted to a float so that one past ``2**31`` never meets
    an int32 conversion.
    """
    steps = float(steps)
    return jnp.where(count >= steps, 1.0, jnp.clip(count / steps, 0, 1))


def _py(value):
    """A Python number as it is (weakly typed, as Optax's arithmetic meets it), any other number
    (a NumPy or JAX scalar, maybe traced) in the compute dtype."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _f(value)


def _lerp(start, end, x):
    """``start`` at ``x = 0`` and ``end`` at ``x = 1``, both exactly (``a + (b - a) x`` is not)."""
    return start * (1 - x) + end * x


def _half_cosine(x):
    """``(1 + cos(pi x)) / 2``: 1 at ``x = 0``, 0 at ``x = 1``."""
    return 0.5 * (1 + jnp.cos(jnp.pi * x))


def _segment(step: jax.Array, boundaries: Sequence[int]) -> jax.Array:
    """How many boundaries are ``<= step``: the index of the segment ``step`` falls in."""
    index = jnp.zeros(jnp.shape(step), jnp.int32)
    for boundary in boundaries:
        index = index + _reached(step, boundary).astype(jnp.int32)
    return index


def _interpolated(step, kind: str, boundaries: Sequence[int], values: jax.Array) -> jax.Array:
    """Interpolate ``values[k] -> values[k + 1]`` over segment ``k`` (segment 0 starts at step 0).

    ``values`` has ``len(boundaries) + 1`` entries; from the last boundary on the value is
    ``values[-1]``. On segment ``k``, with ``x = (t - b_k) / max(b_{k+1} - b_k, 1)``, the
    value is Optax's, term for term: ``(v_{k+1} - v_k) x + v_k`` (linear) or
    ``v_{k+1} + (v_k - v_{k+1}) / 2 (cos(pi x) + 1)`` (cosine), every segment's value computed
    and the one the step is in picked by a dot product with an indicator, as Optax does (XLA may
    fuse that dot with the interpolation, and this keeps the same rounding). Zero-length
    segments (a boundary at 0) are skipped, as in Optax. Segments that start past the step's
    integer range are left out: no step of that dtype reaches them.
    """
    bounds = (0, *boundaries)
    reachable = sum(1 for b in bounds if _fits(step, b))  # a prefix: the bounds increase
    count = min(len(boundaries), reachable)
    starts, ends = bounds[:count], bounds[1:count + 1]
    top = int(jnp.iinfo(step.dtype).max)
    end_fits = np.array([_fits(step, b) for b in ends], bool)
    sizes = jnp.asarray([max(b - a, 1) for a, b in zip(starts, ends)], _dtype())
    start_values, end_values = values[:count], values[1:count + 1]

    def pick(t):  # one step (a scalar); vectorized over the step's shape below
        inside = (jnp.asarray(starts, t.dtype) <= t) & jnp.where(
            end_fits, t < jnp.asarray([min(b, top) for b in ends], t.dtype), True)
        x = _step.as_float(t - jnp.asarray(starts, t.dtype)) / sizes
        if kind == "linear":
            between = (end_values - start_values) * x + start_values
        else:
            between = end_values + (start_values - end_values) / 2.0 * (jnp.cos(jnp.pi * x) + 1)
        value = inside.astype(between.dtype).dot(between)
        if reachable > len(boundaries):  # the last boundary is reachable: hold values[-1] from it
            value = value + (bounds[-1] <= t).astype(values.dtype) * values[-1]
        return value

    return jnp.vectorize(pick)(step)


def _sorted_items(who: str, boundaries_and_scales: Optional[Mapping[int, float]]):
    items = dict(boundaries_and_scales or {}).items()
    for boundary, scale_ in items:
        _check.step_count(who, boundary=boundary)
        _check.fixed(who, scale=scale_)
        _check.non_negative(who, scale=scale_)
    ordered = sorted((int(b), s) for b, s in items)  # as Optax: the dict's order does not matter
    return tuple(b for b, _ in ordered), tuple(s for _, s in ordered)


# ---------------------------------------------------------------------------------------------
# Constant, polynomial, linear
# ---------------------------------------------------------------------------------------------


@_recipe.schedule_factory
def constant_schedule(value: float) -> Schedule:
    r"""A schedule that always returns ``value``: :math:`v(t) = c`.

    Args:
        value: :math:`c`, any finite number.

    Returns:
        A schedule ``step -> value`` (the value broadcast to the step's shape).
    """
    who = "constant_schedule"
    _check.fixed(who, value=value)
    _check.finite(who, value=value)

    def schedule(step):
        return jnp.full(jnp.shape(_int_step(step, who)), value, _dtype())

    return schedule


@_recipe.schedule_factory
def polynomial_schedule(
    init_value: float,
    end_value: float,
    power: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Anneal from ``init_value`` to ``end_value`` along a polynomial of degree ``power``.

    .. math::
        v(t) = E + (I - E)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right)^{P}

    so :math:`v(t) = I` for :math:`t \le B` and :math:`v(t) = E` for :math:`t \ge B + T`.
    Computed as Optax computes it, term for term, :math:`(I - E)\,w + E` with :math:`I - E`
    taken in double precision (float32 results are Optax's bit for bit): ``end_value`` is exact,
    ``init_value`` may be off by an ulp (rounding of :math:`(I - E) + E`).

    Args:
        init_value: :math:`I`, a finite number.
        end_value: :math:`E`, a finite number.
        power: :math:`P`, ``> 0``.
        transition_steps: :math:`T`, the length of the transition; a whole number ``>= 1``.
            (Optax turns ``T <= 0`` into a constant ``init_value``; this raises instead: use
            :func:`constant_schedule`.)
        transition_begin: :math:`B`, steps held at ``init_value`` first; a whole number ``>= 0``.

    Returns:
        A schedule ``step -> value``.
    """
    return _polynomial(
        "polynomial_schedule", init_value, end_value, power, transition_steps, transition_begin
    )


def _polynomial(who, init_value, end_value, power, transition_steps, transition_begin):
    _check.fixed(who, init_value=init_value, end_value=end_value, power=power)
    _check.finite(who, init_value=init_value, end_value=end_value)
    _check.positive(who, power=power)
    _check.step_count(who, 1, transition_steps=transition_steps)
    _check.step_count(who, 0, transition_begin=transition_begin)
    steps, begin = int(transition_steps), int(transition_begin)

    def schedule(step):
        count = _at_most(_since(_int_step(step, who), begin), steps)
        frac = 1 - _step.as_float(count) / float(steps)
        return (_py(init_value) - _py(end_value)) * frac ** _py(power) + _py(end_value)

    return schedule


@_recipe.schedule_factory
def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    r"""Go linearly from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    .. math::
        v(t) = I + (E - I)\,\frac{\min(\max(t - B, 0), T)}{T}

    :func:`polynomial_schedule` with ``power=1``: :math:`v = I` for :math:`t \le B` and
    :math:`v = E` from :math:`t = B + T` on.

    Args:
        init_value: :math:`I`, a finite number.
        end_value: :math:`E`, a finite number.
        transition_steps: :math:`T`; a whole number ``>= 1``.
        transition_begin: :math:`B`; a whole number ``>= 0``.

    Returns:
        A schedule ``step -> value``.
    """
    return _polynomial(
        "linear_schedule", init_value, end_value, 1, transition_steps, transition_begin
    )


# ---------------------------------------------------------------------------------------------
# Exponential, step, inverse-time and inverse-square-root decay
# ---------------------------------------------------------------------------------------------


@_recipe.schedule_factory
def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[float] = None,
) -> Schedule:
    r"""Multiply ``init_value`` by ``decay_rate`` every ``transition_steps``, smoothly or in stairs.

    .. math::
        p = \frac{t - B}{T}\ \text{(floored if staircase)}, \qquad
        v(t) = \begin{cases} I & t \le B \\ I\,r^{p} & t > B \end{cases}

    then clipped from below by ``end_value`` when :math:`r < 1` (from above when
    :math:`r > 1`). Step 0 returns ``init_value``; with ``staircase=True`` the value drops at
    steps :math:`B + kT` (a boundary belongs to the lower stair). The float32 values are
    Optax's bit for bit, except that the stair is an integer division where Optax floors a
    float32 quotient (the same stair while :math:`t < 2^{24}`; past it Optax's quotient may
    round up to the next stair a step early).

    Args:
        init_value: :math:`I`, a finite number.
        transition_steps: :math:`T`; a whole number ``>= 1``.
        decay_rate: :math:`r`; ``> 0`` (``< 1`` decays, ``> 1`` grows). Optax silently returns
            a constant for ``r = 0``; this raises.
        transition_begin: :math:`B`, steps held at ``init_value`` first; ``>= 0``.
        staircase: floor :math:`p`, so the value changes every :math:`T` steps.
        end_value: optional bound, a finite number; ``None`` for none.

    Returns:
        A schedule ``step -> value``.
    """
    return _exponential(
        "exponential_decay", init_value, transition_steps, decay_rate, transition_begin,
        staircase, end_value,
    )


def _exponential(who, init_value, transition_steps, decay_rate, transition_begin, staircase,
                 end_value):
    _check.fixed(who, init_value=init_value, decay_rate=decay_rate)
    _check.finite(who, init_value=init_value)
    _check.positive(who, decay_rate=decay_rate)
    _check.step_count(who, 1, transition_steps=transition_steps)
    _check.step_count(who, 0, transition_begin=transition_begin)
    if end_value is not None:
        _check.fixed(who, end_value=end_value)
        _check.finite(who, end_value=end_value)
    steps, begin = int(transition_steps), int(transition_begin)
    bound = jnp.maximum if decay_rate < 1 else jnp.minimum  # end_value is a floor when decaying

    def schedule(step):
        decreased = _since(_int_step(step, who), begin)  # max(t - B, 0): 0 keeps init_value
        if staircase:  # integer division: every stair starts exactly at its step
            p = _step.as_float(_floor_div(decreased, steps))
        else:
            p = _step.as_float(decreased) / float(steps)
        value = jnp.where(decreased <= 0, _f(init_value), _f(init_value) * _f(decay_rate) ** p)
        return value if end_value is None else bound(value, _f(end_value))

    return schedule


@_recipe.schedule_factory
def step_decay_schedule(init_value: float, step_size: int, decay_rate: float) -> Schedule:
    r"""Multiply the value by ``decay_rate`` every ``step_size`` steps (PyTorch's ``StepLR``).

    .. math::  v(t) = I\, r^{\lfloor t / S \rfloor}

    Step 0 returns ``init_value``; steps :math:`S, 2S, \dots` are the first of each new stair.
    The same as :func:`exponential_decay` with ``staircase=True``, computed with integer
    division of the step (exact at every step).

    Args:
        init_value: :math:`I`, a finite number.
        step_size: :math:`S`, the length of each stair; a whole number ``>= 1``.
        decay_rate: :math:`r` (PyTorch's ``gamma``); a finite number ``>= 0``.

    Returns:
        A schedule ``step -> value``.

    References:
        PyTorch, ``torch.optim.lr_scheduler.StepLR``.
        https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html
    """
    who = "step_decay_schedule"
    _check.fixed(who, init_value=init_value, decay_rate=decay_rate)
    _check.finite(who, init_value=init_value)
    _check.non_negative(who, decay_rate=decay_rate)
    _check.step_count(who, 1, step_size=step_size)
    size = int(step_size)

    def schedule(step):
        stairs = _step.as_float(_floor_div(_int_step(step, who), size))
        return _f(init_value) * _f(decay_rate) ** stairs

    return schedule


@_recipe.schedule_factory
def multistep_schedule(
    init_value: float, boundaries: Sequence[int], decay_rate: float
) -> Schedule:
    r"""Multiply the value by ``decay_rate`` at each boundary (PyTorch's ``MultiStepLR``).

    .. math::  v(t) = I\, r^{\#\{i \,:\, b_i \le t\}}

    Step 0 returns ``init_value`` (unless a boundary is 0); at :math:`t = b_i` the value has
    already dropped. :func:`piecewise_constant_schedule` with the same scale at every boundary.

    Args:
        init_value: :math:`I`, a finite number.
        boundaries: the steps :math:`b_i` (PyTorch's ``milestones``); whole numbers ``>= 0``,
            strictly increasing.
        decay_rate: :math:`r` (PyTorch's ``gamma``); a finite number ``>= 0``.

    Returns:
        A schedule ``step -> value``.

    References:
        PyTorch, ``torch.optim.lr_scheduler.MultiStepLR``.
        https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiStepLR.html
    """
    who = "multistep_schedule"
    _check.fixed(who, init_value=init_value, decay_rate=decay_rate)
    _check.finite(who, init_value=init_value)
    _check.non_negative(who, decay_rate=decay_rate)
    boundaries = list(boundaries)
    for boundary in boundaries:
        _check.step_count(who, boundary=boundary)
    _check.strictly_increasing(who, "boundaries", boundaries)
    boundaries = [int(b) for b in boundaries]

    def schedule(step):
        drops = _step.as_float(_segment(_int_step(step, who), boundaries))
        return _f(init_value) * _f(decay_rate) ** drops

    return schedule


@_recipe.schedule_factory
def inverse_time_decay(
    init_value: float, transition_steps: int, decay_rate: float, staircase: bool = False
) -> Schedule:
    r"""Divide ``init_value`` by a linear function of the step (Keras's ``InverseTimeDecay``).

    .. math::  p = \frac{t}{T}\ \text{(floored if staircase)}, \qquad v(t) = \frac{I}{1 + r\,p}

    Step 0 returns ``init_value``; with ``staircase=True`` the value changes at steps
    :math:`kT`.

    Args:
        init_value: :math:`I`, a finite number.
        transition_steps: :math:`T` (Keras's ``decay_steps``); a whole number ``>= 1``.
        decay_rate: :math:`r`; a finite number ``>= 0``.
        staircase: floor :math:`p`.

    Returns:
        A schedule ``step -> value``.

    References:
        Keras, ``keras.optimizers.schedules.InverseTimeDecay``.
        https://keras.io/api/optimizers/learning_rate_schedules/inverse_time_decay/
    """
    who = "inverse_time_decay"
    _check.fixed(who, init_value=init_value, decay_rate=decay_rate)
    _check.finite(who, init_value=init_value)
    _check.non_negative(who, decay_rate=decay_rate)
    _check.step_count(who, 1, transition_steps=transition_steps)
    steps = int(transition_steps)

    def schedule(step):
        step = _int_step(step, who)
        if staircase:  # integer division: every stair starts exactly at its step
            p = _step.as_float(_floor_div(step, steps))
        else:
            p = _step.as_float(step) / float(steps)
        return _f(init_value) / (1 + _f(decay_rate) * p)

    return schedule


@_recipe.schedule_factory
def warmup_inverse_sqrt_schedule(
    init_value: float, peak_value: float, warmup_steps: int
) -> Schedule:
    r"""Linear warmup to ``peak_value``, then decay with the inverse square root of the step.

    .. math::
        v(t) = \begin{cases}
            I + (P - I)\,t / W & t < W \\
            P \sqrt{W / t} & t \ge W
        \end{cases}

    Step 0 returns ``init_value`` and step :math:`W` returns ``peak_value``. With
    ``init_value=0`` and ``peak_value`` :math:`= (d_{model} W)^{-1/2}` this is the Transformer's
    schedule :math:`d_{model}^{-1/2} \min(n^{-1/2}, n W^{-3/2})` with :math:`n` = ``step``;
    ``init_value > 0`` is fairseq's ``warmup_init_lr``.

    Args:
        init_value: :math:`I`, the value at step 0; a finite number.
        peak_value: :math:`P`, the value at the end of warmup; a finite number.
        warmup_steps: :math:`W`; a whole number ``>= 1``.

    Returns:
        A schedule ``step -> value``.

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, Eq. (3).
        https://arxiv.org/abs/1706.03762
    """
    who = "warmup_inverse_sqrt_schedule"
    _check.fixed(who, init_value=init_value, peak_value=peak_value)
    _check.finite(who, init_value=init_value, peak_value=peak_value)
    _check.step_count(who, 1, warmup_steps=warmup_steps)
    warmup = int(warmup_steps)

    def schedule(step):
        t = _step.as_float(_int_step(step, who))
        rising = _lerp(_f(init_value), _f(peak_value), _fraction(t, warmup))
        decaying = _f(peak_value) * jnp.sqrt(jnp.minimum(float(warmup) / t, 1.0))  # the peak at t = W
        return jnp.where(t < float(warmup), rising, decaying)

    return schedule


# ---------------------------------------------------------------------------------------------
# Piecewise schedules
# ---------------------------------------------------------------------------------------------


@_recipe.schedule_factory
def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: Optional[Mapping[int, float]] = None
) -> Schedule:
    r"""Multiply the value by a scale at each boundary; constant in between.

    .. math::  v(t) = I \prod_{i \,:\, b_i \le t} s_i

    Step 0 returns ``init_value`` (unless a boundary is 0); at :math:`t = b_i` the scale
    :math:`s_i` already applies (Optax's convention).

    Args:
        init_value: :math:`I`, a finite number.
        boundaries_and_scales: ``{b_i: s_i}``; steps are whole numbers ``>= 0`` (taken in
            increasing order), scales finite and ``>= 0``. ``None`` or ``{}`` is a constant.

    Returns:
        A schedule ``step -> value``.
    """
    who = "piecewise_constant_schedule"
    _check.fixed(who, init_value=init_value)
    _check.finite(who, init_value=init_value)
    boundaries, scales = _sorted_items(who, boundaries_and_scales)

    def schedule(step):
        step = _int_step(step, who)
        value = jnp.full(jnp.shape(step), init_value, _dtype())
        for boundary, scale_ in zip(boundaries, scales):
            value = jnp.where(_reached(step, boundary), value * _f(scale_), value)
        return value

    return schedule


@_recipe.schedule_factory
def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: float,
    boundaries_and_scales: Optional[Mapping[int, float]] = None,
) -> Schedule:
    r"""Interpolate, linearly or along a half cosine, between values that change at boundaries.

    The value at boundary :math:`b_i` is :math:`v_i = I \prod_{j \le i} s_j` (scales accumulate,
    as in Optax), with :math:`b_0 = 0, v_0 = I`. On :math:`b_k \le t < b_{k+1}`, with
    :math:`x = (t - b_k) / (b_{k+1} - b_k)`:

    .. math::
        v(t) = v_k + (v_{k+1} - v_k)\,x \quad\text{(linear)}, \qquad
        v(t) = v_{k+1} + (v_k - v_{k+1})\,\tfrac12(1 + \cos \pi x) \quad\text{(cosine)}

    and :math:`v(t) = v_n` for :math:`t \ge b_n`. Computed as Optax computes it, term for term
    (the cumulative product in the compute dtype, every segment's value picked by a dot product
    with an indicator), so float32 values are Optax's bit for bit. Step 0 returns ``init_value``
    (unless a boundary is 0); step :math:`b_i` returns :math:`v_i`, exactly when linear and up to
    an ulp when cosine (:math:`v_{i+1} + (v_i - v_{i+1})`).

    Args:
        interpolate_type: ``"linear"`` or ``"cosine"``.
        init_value: :math:`I`, a finite number.
        boundaries_and_scales: ``{b_i: s_i}``; steps are whole numbers ``>= 0`` (taken in
            increasing order), scales finite and ``>= 0``.

    Returns:
        A schedule ``step -> value``.
    """
    who = "piecewise_interpolate_schedule"
    _check.choice(who, "interpolate_type", interpolate_type, ("linear", "cosine"))
    _check.fixed(who, init_value=init_value)
    _check.finite(who, init_value=init_value)
    boundaries, scales = _sorted_items(who, boundaries_and_scales)

    def schedule(step):
        step = _int_step(step, who)
        values = jnp.cumprod(jnp.stack([_f(init_value), *(_f(s) for s in scales)]))  # as Optax
        return _interpolated(step, interpolate_type, boundaries, values)

    return schedule


@_recipe.schedule_factory
def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run schedules one after another, each restarting its own count at its boundary.

    .. math::  v(t) = f_k(t - b_k) \quad \text{for } b_k \le t < b_{k+1}, \qquad b_0 = 0

    At :math:`t = b_k` the schedule :math:`f_k` takes over with its step 0. Each schedule's
    value is converted to the default float dtype, so Optax schedules can be joined too.

    Args:
        schedules: the functions :math:`f_0, \dots, f_n`; at least one.
        boundaries: :math:`b_1, \dots, b_n`, one fewer than ``schedules``; whole numbers
            ``>= 0``, strictly increasing.

    Returns:
        A schedule ``step -> value``.
    """
    who = "join_schedules"
    schedules, boundaries = list(schedules), list(boundaries)
    if not schedules:
        raise ValueError(_check.EMPTY.format(who=who, what="schedules"))
    for i, fn in enumerate(schedules):
        _check.is_callable(who, **{f"schedules[{i}]": fn})
    _check.has_length(
        who, "boundaries", len(boundaries), len(schedules) - 1,
        "one fewer than schedules: the steps where the next one starts",
    )
    for boundary in boundaries:
        _check.step_count(who, boundary=boundary)
    _check.strictly_increasing(who, "boundaries", boundaries)
    boundaries = [int(b) for b in boundaries]

    def schedule(step):
        step = _int_step(step, who)
        value = jnp.broadcast_to(jnp.asarray(schedules[0](step), _dtype()), jnp.shape(step))
        for boundary, fn in zip(boundaries, schedules[1:]):
            if not _fits(step, boundary):  # never reached by this step's dtype, nor any after it
                break
            value = jnp.where(step < boundary, value, jnp.asarray(fn(step - boundary), _dtype()))
        return value

    return schedule


# ---------------------------------------------------------------------------------------------
# Cosine family, warmup compositions, restarts
# ---------------------------------------------------------------------------------------------


@_recipe.schedule_factory
def cosine_decay_schedule(
    init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
) -> Schedule:
    r"""Decay ``init_value`` along a half cosine to ``alpha * init_value`` over ``decay_steps``.

    .. math::
        c(t) = \tfrac12\left(1 + \cos\frac{\pi \min(t, T)}{T}\right), \qquad
        v(t) = I\left((1 - \alpha)\,c(t)^{p} + \alpha\right)

    Computed as Optax computes it, term for term (float32 results are Optax's bit for bit):
    step 0 returns ``init_value`` up to an ulp (rounding of :math:`(1 - \alpha) + \alpha`), and
    from step :math:`T` on the value is :math:`\alpha I`.

    Args:
        init_value: :math:`I`, a finite number.
        decay_steps: :math:`T`; a whole number ``>= 1``.
        alpha: :math:`\alpha`, the final value as a fraction of ``init_value``; finite.
        exponent: :math:`p`, ``> 0``; ``1`` is the plain cosine.

    Returns:
        A schedule ``step -> value``.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017. https://arxiv.org/abs/1608.03983
    """
    who = "cosine_decay_schedule"
    _check.fixed(who, init_value=init_value, alpha=alpha, exponent=exponent)
    _check.finite(who, init_value=init_value, alpha=alpha)
    _check.positive(who, exponent=exponent)
    _check.step_count(who, 1, decay_steps=decay_steps)
    return _cosine_decay(who, init_value, int(decay_steps), alpha, exponent)


def _cosine_decay(who, init_value, steps: int, alpha, exponent) -> Schedule:
    """Optax's cosine decay, term for term; ``steps`` as a float (never an int32 conversion)."""

    def schedule(step):
        count = jnp.minimum(_step.as_float(_int_step(step, who)), float(steps))
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * count / float(steps)))
        decayed = (1 - _py(alpha)) * cosine ** _py(exponent) + _py(alpha)
        return _py(init_value) * decayed

    return schedule


def _after_warmup(init_value, peak_value, warmup_steps: int, then: Schedule) -> Schedule:
    """A linear warmup from ``init_value`` to ``peak_value``, then ``then`` from its step 0."""
    if warmup_steps == 0:
        return then
    warmup = _polynomial("linear_schedule", init_value, peak_value, 1, warmup_steps, 0)
    return join_schedules([warmup, then], [warmup_steps])


def _anneal(who: str, start, end, steps: int, kind: str) -> Schedule:
    """From ``start`` at step 0 to ``end`` from step ``steps`` on: linear, cosine or 1 - sqrt."""
    shape = {"linear": lambda x: 1 - x, "cosine": _half_cosine, "sqrt": lambda x: 1 - jnp.sqrt(x)}

    def schedule(step):
        x = _fraction(_step.as_float(_int_step(step, who)), steps)
        return _lerp(_f(end), _f(start), shape[kind](x))

    return schedule


@_recipe.schedule_factory
def warmup_constant_schedule(init_value: float, peak_value: float, warmup_steps: int) -> Schedule:
    r"""Linear warmup from ``init_value`` to ``peak_value``, then constant.

    .. math::  v(t) = I + (P - I)\,\min(t, W) / W

    :func:`linear_schedule` from ``init_value`` to ``peak_value`` over ``warmup_steps``, as in
    Optax (float32 results are Optax's bit for bit). ``warmup_steps=0`` returns ``peak_value``
    from the start (Optax returns ``init_value`` forever there).

    Args:
        init_value: :math:`I`, a finite number.
        peak_value: :math:`P`, a finite number.
        warmup_steps: :math:`W`; a whole number ``>= 0``.

    Returns:
        A schedule ``step -> value``.
    """
    who = "warmup_constant_schedule"
    _check.fixed(who, init_value=init_value, peak_value=peak_value)
    _check.finite(who, init_value=init_value, peak_value=peak_value)
    _check.step_count(who, 0, warmup_steps=warmup_steps)
    if int(warmup_steps) == 0:
        return constant_schedule(peak_value)
    return _polynomial(who, init_value, peak_value, 1, int(warmup_steps), 0)


@_recipe.schedule_factory
def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    r"""Linear warmup to ``peak_value``, then a half cosine down to ``end_value``.

    .. math::
        v(t) = \begin{cases}
            I + (P - I)\,t / W & t < W \\
            E + (P - E)\,\left[\tfrac12\left(1 + \cos \pi x\right)\right]^{p} & t \ge W
        \end{cases}
        \qquad x = \frac{\min(t - W, D - W)}{D - W}

    Note that :math:`D` counts the warmup. Computed as Optax computes it, term for term: the
    warmup is :func:`linear_schedule`, the decay :func:`cosine_decay_schedule` from ``peak_value``
    with :math:`\alpha = E / P` (0 when :math:`P = 0`), joined at :math:`W`; float32 results are
    Optax's bit for bit. So step :math:`W` returns ``peak_value`` and every step from :math:`D`
    on returns :math:`P\,(E / P)`, each up to an ulp.

    Args:
        init_value: :math:`I`, a finite number.
        peak_value: :math:`P`, a finite number.
        warmup_steps: :math:`W`; a whole number ``>= 0``.
        decay_steps: :math:`D`, the total length including warmup; a whole number ``> W``.
        end_value: :math:`E`, a finite number.
        exponent: :math:`p`, ``> 0``.

    Returns:
        A schedule ``step -> value``.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017. https://arxiv.org/abs/1608.03983 ; Goyal et al., "Accurate, Large Minibatch
        SGD: Training ImageNet in 1 Hour", 2017 (warmup). https://arxiv.org/abs/1706.02677
    """
    who = "warmup_cosine_decay_schedule"
    _check.fixed(
        who, init_value=init_value, peak_value=peak_value, end_value=end_value, exponent=exponent
    )
    _check.finite(who, init_value=init_value, peak_value=peak_value, end_value=end_value)
    _check.positive(who, exponent=exponent)
    _check.step_count(who, 0, warmup_steps=warmup_steps)
    _check.step_count(
        who, int(warmup_steps) + 1, f" It counts the warmup_steps={warmup_steps} too.",
        decay_steps=decay_steps,
    )
    warmup, total = int(warmup_steps), int(decay_steps)
    cosine = _cosine_decay(who, peak_value, total - warmup, _ratio(end_value, peak_value), exponent)
    return _after_warmup(init_value, peak_value, warmup, cosine)


def _ratio(end_value, peak_value):
    """Optax's ``alpha = end_value / peak_value``, 0 for a zero peak (also for a traced peak)."""
    if isinstance(peak_value, (int, float)):
        return 0.0 if peak_value == 0 else end_value / peak_value
    peak = _f(peak_value)
    return jnp.where(peak == 0, 0.0, _py(end_value) / jnp.where(peak == 0, 1.0, peak))


@_recipe.schedule_factory
def warmup_exponential_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[float] = None,
) -> Schedule:
    r"""Linear warmup to ``peak_value``, then :func:`exponential_decay` from ``peak_value``.

    .. math::
        v(t) = \begin{cases}
            I + (P - I)\,t / W & t < W \\
            \text{exponential\_decay}(P, T, r, B, \text{staircase}, E)(t - W) & t \ge W
        \end{cases}

    Step 0 returns ``init_value``; step :math:`W` returns ``peak_value``, held for :math:`B`
    more steps before the decay starts.

    Args:
        init_value: :math:`I`, a finite number.
        peak_value: :math:`P`, a finite number.
        warmup_steps: :math:`W`; a whole number ``>= 0``.
        transition_steps: :math:`T`; a whole number ``>= 1``.
        decay_rate: :math:`r`; ``> 0``.
        transition_begin: :math:`B`, counted from the end of warmup; ``>= 0``.
        staircase: decay in stairs every :math:`T` steps.
        end_value: optional bound :math:`E` (see :func:`exponential_decay`).

    Returns:
        A schedule ``step -> value``.
    """
    who = "warmup_exponential_decay_schedule"
    _check.fixed(who, init_value=init_value, peak_value=peak_value)
    _check.finite(who, init_value=init_value, peak_value=peak_value)
    _check.step_count(who, 0, warmup_steps=warmup_steps)
    decay = _exponential(
        who, peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    return _after_warmup(init_value, peak_value, int(warmup_steps), decay)


@_recipe.schedule_factory
def warmup_stable_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    stable_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    decay_type: str = "linear",
) -> Schedule:
    r"""Warmup-stable-decay (WSD): warm up, hold ``peak_value``, then cool down to ``end_value``.

    With :math:`S = W + H` the start of the decay and :math:`x = \min(\max(t - S, 0), D) / D`:

    .. math::
        v(t) = \begin{cases}
            I + (P - I)\,t / W & t < W \\
            P & W \le t < S \\
            E + (P - E)\,w(x) & t \ge S
        \end{cases}
        \qquad w(x) = 1 - x,\ \ \tfrac12(1 + \cos \pi x)\ \ \text{or}\ \ 1 - \sqrt{x}

    for ``decay_type`` ``"linear"``, ``"cosine"`` or ``"sqrt"``. Step 0 returns ``init_value``,
    steps :math:`W` to :math:`S` inclusive return ``peak_value``, every step from :math:`S + D` on
    returns ``end_value``. Unlike :func:`warmup_cosine_decay_schedule`, ``decay_steps`` is the
    length of the decay phase alone.

    Args:
        init_value: :math:`I`, a finite number.
        peak_value: :math:`P`, a finite number.
        warmup_steps: :math:`W`; a whole number ``>= 0``.
        stable_steps: :math:`H`, steps held at ``peak_value``; a whole number ``>= 0``.
        decay_steps: :math:`D`, length of the decay; a whole number ``>= 1``.
        end_value: :math:`E`, a finite number.
        decay_type: ``"linear"``, ``"cosine"`` or ``"sqrt"`` (the "1 - sqrt" cooldown that
            Hägele et al. found best).

    Returns:
        A schedule ``step -> value``.

    References:
        Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models with Scalable
        Training Strategies", 2024. https://arxiv.org/abs/2404.06395 ;
        Hägele et al., "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
        Durations", NeurIPS 2024. https://arxiv.org/abs/2405.18392
    """
    who = "warmup_stable_decay_schedule"
    _check.fixed(who, init_value=init_value, peak_value=peak_value, end_value=end_value)
    _check.finite(who, init_value=init_value, peak_value=peak_value, end_value=end_value)
    _check.step_count(who, 0, warmup_steps=warmup_steps, stable_steps=stable_steps)
    _check.step_count(who, 1, decay_steps=decay_steps)
    _check.choice(who, "decay_type", decay_type, ("linear", "cosine", "sqrt"))
    stable = int(stable_steps)
    decay = _anneal(who, peak_value, end_value, int(decay_steps), decay_type)
    if stable:
        decay = join_schedules([constant_schedule(peak_value), decay], [stable])
    return _after_warmup(init_value, peak_value, int(warmup_steps), decay)


@_recipe.schedule_factory
def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    r"""SGD with warm restarts: :func:`warmup_cosine_decay_schedule` cycles, one after another.

    Cycle :math:`k` is ``warmup_cosine_decay_schedule(**cosine_kwargs[k])`` and lasts its
    ``decay_steps`` :math:`D_k`; it starts at step :math:`\sum_{j<k} D_j` with its own step 0
    (see :func:`join_schedules`). For a closed form with a period multiplier and a peak decay,
    see :func:`cosine_restarts_schedule`.

    Args:
        cosine_kwargs: one dict of :func:`warmup_cosine_decay_schedule` arguments per cycle;
            at least one.

    Returns:
        A schedule ``step -> value``.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017. https://arxiv.org/abs/1608.03983
    """
    who = "sgdr_schedule"
    cosine_kwargs = list(cosine_kwargs)
    if not cosine_kwargs:
        raise ValueError(_check.EMPTY.format(who=who, what="cosine_kwargs (one dict per cycle)"))
    schedules, boundaries, start = [], [], 0
    for kwargs in cosine_kwargs:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        start += int(kwargs["decay_steps"])
        boundaries.append(start)
    return join_schedules(schedules, boundaries[:-1])


@_recipe.schedule_factory
def cosine_restarts_schedule(
    init_value: float,
    first_period: int,
    period_multiplier: float = 1.0,
    peak_decay: float = 1.0,
    alpha: float = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts, each period longer and each peak lower (SGDR).

    Cycle :math:`i = 0, 1, \dots` is :math:`T_i = T_0 m^i` steps long: it starts at the first
    step :math:`B_i = \lceil T_0 (m^i - 1) / (m - 1) \rceil` (:math:`B_i = i T_0` when
    :math:`m = 1`; no rounding happens for a whole :math:`m`). For :math:`B_i \le t < B_{i+1}`,
    with :math:`x = (t - B_i) / (B_{i+1} - B_i)`:

    .. math::  v(t) = I\left((1 - \alpha)\, d^{\,i}\, \tfrac12 (1 + \cos \pi x) + \alpha\right)

    Step 0 returns ``init_value``, and each restart step :math:`B_i` returns the new peak
    :math:`I((1-\alpha) d^i + \alpha)`, found by integer comparison (exact at every restart up to
    step :math:`2^{31} - 1`, the range of the step counter). The floor :math:`\alpha I` does not
    decay, as in Keras's ``CosineDecayRestarts``, which this equals for a whole :math:`m`;
    PyTorch's ``CosineAnnealingWarmRestarts`` is ``peak_decay=1`` with
    ``eta_min = alpha * init_value``. For cycles given one by one, see :func:`sgdr_schedule`.

    Args:
        init_value: :math:`I`, the first peak; a finite number.
        first_period: :math:`T_0`, length of the first cycle; a whole number ``>= 1``.
        period_multiplier: :math:`m`, each cycle is ``m`` times the previous; finite, ``>= 1``,
            and not so close to 1 that more than 65536 restarts fit before step
            :math:`2^{31} - 1` (use exactly 1 there).
        peak_decay: :math:`d`, each peak's height above the floor is ``d`` times the previous;
            finite, ``> 0``.
        alpha: :math:`\alpha`, the floor as a fraction of ``init_value``; finite.

    Returns:
        A schedule ``step -> value``.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017, Eq. (5). https://arxiv.org/abs/1608.03983
    """
    who = "cosine_restarts_schedule"
    _check.fixed(
        who, init_value=init_value, period_multiplier=period_multiplier, peak_decay=peak_decay,
        alpha=alpha,
    )
    _check.finite(who, init_value=init_value, alpha=alpha)
    _check.positive(who, peak_decay=peak_decay)
    _check.at_least(who, 1, period_multiplier=period_multiplier)
    _check.step_count(who, 1, first_period=first_period)
    period, m = int(first_period), float(period_multiplier)
    if m != 1:
        starts, lengths = _restart_steps(who, period, m)

    def schedule(step):
        step = _int_step(step, who)
        if m == 1:  # a construction-time choice: one integer division finds the cycle
            cycle = _floor_div(step, period)
            within = step - cycle * period if _fits(step, period) else step
            x = _step.as_float(within) / float(period)
        else:
            step = jnp.asarray(step, jnp.result_type(int))
            cycle = jnp.searchsorted(jnp.asarray(starts, step.dtype), step, side="right") - 1
            x = _step.as_float(step - jnp.asarray(starts, step.dtype)[cycle]) / _f(lengths)[cycle]
        height = _f(peak_decay) ** _step.as_float(cycle) * _half_cosine(x)
        return _f(init_value) * _lerp(_f(alpha), 1, height)

    return schedule


_LAST_STEP = 2**31 - 1  # the int32 step counter saturates here
_MAX_RESTARTS = 2**16


def _restart_steps(who: str, period: int, m: float) -> tuple[list[int], list[int]]:
    """The first step of each cycle up to ``_LAST_STEP``, and each cycle's length in steps."""
    restarts = math.log1p(_LAST_STEP * (m - 1) / period) / math.log(m)
    if restarts > _MAX_RESTARTS:
        raise ValueError(
            _check.TOO_MANY_RESTARTS.format(who=who, m=m, period=period, limit=_MAX_RESTARTS)
        )
    starts, lengths = [0], []
    start, length = 0.0, float(period)  # exact while the multiplier is whole
    while True:
        start, length = start + length, length * m
        next_start = math.ceil(start)
        lengths.append(next_start - starts[-1])
        if next_start > _LAST_STEP:
            return starts, lengths
        starts.append(next_start)


# ---------------------------------------------------------------------------------------------
# One-cycle and cyclic schedules
# ---------------------------------------------------------------------------------------------


def _onecycle_boundaries(who, transition_steps, pct_start, pct_final=None):
    _check.step_count(who, 1, transition_steps=transition_steps)
    _check.fixed(who, pct_start=pct_start)
    _check.unit_interval(who, pct_start=pct_start)
    steps = int(transition_steps)
    boundaries = [int(pct_start * steps)]
    if pct_final is not None:
        _check.fixed(who, pct_final=pct_final)
        _check.unit_interval(who, pct_final=pct_final)
        boundaries.append(int(pct_final * steps))
    boundaries.append(steps)
    _check.strictly_increasing(
        who,
        "the phase boundaries int(pct_start * transition_steps)"
        + (", int(pct_final * transition_steps)" if pct_final is not None else "")
        + ", transition_steps",
        boundaries,
    )
    return boundaries


@_recipe.schedule_factory
def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One cycle: a half-cosine rise to ``peak_value``, then a fall far below the start.

    With :math:`T` = ``transition_steps``, :math:`b = \lfloor p\,T \rfloor`,
    :math:`v_0 = P / \delta`, :math:`v_1 = P`, :math:`v_2 = P / (\delta\,\phi)`, the value goes
    from :math:`v_0` at step 0 to :math:`v_1` at step :math:`b` and to :math:`v_2` at step
    :math:`T` (held after), each leg along a half cosine (see
    :func:`piecewise_interpolate_schedule`). As in Optax, the values are the cumulative
    product of :math:`P / \delta` and the scales :math:`\delta`, :math:`1 / (\delta\phi)`, so
    float32 values are Optax's bit for bit (and :math:`v_1` is :math:`P` up to an ulp).

    Args:
        transition_steps: :math:`T`; a whole number ``>= 1``.
        peak_value: :math:`P`, a finite number.
        pct_start: :math:`p`, the fraction of the cycle spent rising; in ``[0, 1]`` with
            :math:`\lfloor pT \rfloor < T`.
        div_factor: :math:`\delta`, the start is ``peak_value / div_factor``; ``> 0``.
        final_div_factor: :math:`\phi`, the end is the start divided by it; ``> 0``.

    Returns:
        A schedule ``step -> value``. :func:`cosine_onecycle_momentum_schedule` is the
        matching momentum cycle.

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2017. https://arxiv.org/abs/1708.07120
    """
    who = "cosine_onecycle_schedule"
    boundaries = _onecycle_boundaries(who, transition_steps, pct_start)
    _check.fixed(
        who, peak_value=peak_value, div_factor=div_factor, final_div_factor=final_div_factor
    )
    _check.finite(who, peak_value=peak_value)
    _check.positive(who, div_factor=div_factor, final_div_factor=final_div_factor)

    scales = (div_factor, 1.0 / (div_factor * final_div_factor))  # Optax's, accumulated

    def schedule(step):
        values = jnp.cumprod(jnp.stack([_f(_py(peak_value) / div_factor), *map(_f, scales)]))
        return _interpolated(_int_step(step, who), "cosine", boundaries, values)

    return schedule


@_recipe.schedule_factory
def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One cycle in three linear legs: up to ``peak_value``, back down, then far below the start.

    With :math:`T` = ``transition_steps``, :math:`b_1 = \lfloor p_s T \rfloor`,
    :math:`b_2 = \lfloor p_f T \rfloor` and :math:`v_0 = P/\delta`, the value goes linearly from
    :math:`v_0` (step 0) to :math:`P` (step :math:`b_1`), back to :math:`v_0` (step :math:`b_2`)
    and to :math:`v_0/\phi` (step :math:`T`, held after). As in Optax, the values are the
    cumulative product of :math:`P/\delta` and the scales :math:`\delta, 1/\delta, 1/\phi`, so
    float32 values are Optax's bit for bit (each value up to an ulp).

    Args:
        transition_steps: :math:`T`; a whole number ``>= 1``.
        peak_value: :math:`P`, a finite number.
        pct_start: :math:`p_s`, in ``[0, 1]``.
        pct_final: :math:`p_f`, in ``[0, 1]``; the three boundaries must be strictly increasing.
        div_factor: :math:`\delta`; ``> 0``.
        final_div_factor: :math:`\phi`; ``> 0``.

    Returns:
        A schedule ``step -> value``. :func:`linear_onecycle_momentum_schedule` is the matching
        momentum cycle.

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2017. https://arxiv.org/abs/1708.07120
    """
    who = "linear_onecycle_schedule"
    boundaries = _onecycle_boundaries(who, transition_steps, pct_start, pct_final)
    _check.fixed(
        who, peak_value=peak_value, div_factor=div_factor, final_div_factor=final_div_factor
    )
    _check.finite(who, peak_value=peak_value)
    _check.positive(who, div_factor=div_factor, final_div_factor=final_div_factor)

    scales = (div_factor, 1.0 / div_factor, 1.0 / final_div_factor)  # Optax's, accumulated

    def schedule(step):
        values = jnp.cumprod(jnp.stack([_f(_py(peak_value) / div_factor), *map(_f, scales)]))
        return _interpolated(_int_step(step, who), "linear", boundaries, values)

    return schedule


@_recipe.schedule_factory
def cosine_onecycle_momentum_schedule(
    transition_steps: int,
    pct_start: float = 0.3,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Schedule:
    r"""The momentum (``b1``) cycle that goes with :func:`cosine_onecycle_schedule`.

    The momentum moves opposite to the learning rate, as in PyTorch's ``OneCycleLR``: from
    ``max_momentum`` at step 0 down to ``base_momentum`` at step :math:`\lfloor pT \rfloor`
    (where the learning rate peaks) and back up to ``max_momentum`` at step :math:`T` (held
    after), each leg along a half cosine. The breakpoints are those of
    :func:`cosine_onecycle_schedule` with the same arguments (PyTorch's sit one step earlier).

    Args:
        transition_steps: :math:`T`; a whole number ``>= 1``.
        pct_start: :math:`p`, in ``[0, 1]``; the same as the learning-rate cycle's.
        base_momentum: the lowest momentum; in ``[0, 1]``.
        max_momentum: the momentum at the start and the end; in ``[0, 1]``.

    Returns:
        A schedule ``step -> value``, e.g. for ``b1``.

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", 2018,
        Sec. 4.3 (cyclical momentum). https://arxiv.org/abs/1803.09820
    """
    who = "cosine_onecycle_momentum_schedule"
    boundaries = _onecycle_boundaries(who, transition_steps, pct_start)
    _check.fixed(who, base_momentum=base_momentum, max_momentum=max_momentum)
    _check.unit_interval(who, base_momentum=base_momentum, max_momentum=max_momentum)

    def schedule(step):
        values = jnp.stack([_f(max_momentum), _f(base_momentum), _f(max_momentum)])
        return _interpolated(_int_step(step, who), "cosine", boundaries, values)

    return schedule


@_recipe.schedule_factory
def linear_onecycle_momentum_schedule(
    transition_steps: int,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Schedule:
    r"""The momentum (``b1``) cycle that goes with :func:`linear_onecycle_schedule`.

    Linearly from ``max_momentum`` (step 0) down to ``base_momentum`` (step
    :math:`\lfloor p_s T \rfloor`, the learning-rate peak), back up to ``max_momentum`` (step
    :math:`\lfloor p_f T \rfloor`) and held there, as PyTorch's three-phase ``OneCycleLR`` does
    with ``anneal_strategy="linear"``; breakpoints as in :func:`linear_onecycle_schedule`.

    Args:
        transition_steps: :math:`T`; a whole number ``>= 1``.
        pct_start: :math:`p_s`, in ``[0, 1]``.
        pct_final: :math:`p_f`, in ``[0, 1]``.
        base_momentum: the lowest momentum; in ``[0, 1]``.
        max_momentum: the momentum at the start and the end; in ``[0, 1]``.

    Returns:
        A schedule ``step -> value``, e.g. for ``b1``.

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", 2018,
        Sec. 4.3 (cyclical momentum). https://arxiv.org/abs/1803.09820
    """
    who = "linear_onecycle_momentum_schedule"
    boundaries = _onecycle_boundaries(who, transition_steps, pct_start, pct_final)
    _check.fixed(who, base_momentum=base_momentum, max_momentum=max_momentum)
    _check.unit_interval(who, base_momentum=base_momentum, max_momentum=max_momentum)

    def schedule(step):
        high, low = _f(max_momentum), _f(base_momentum)
        values = jnp.stack([high, low, high, high])
        return _interpolated(_int_step(step, who), "linear", boundaries, values)

    return schedule


@_recipe.schedule_factory
def cyclic_schedule(
    init_value: float,
    peak_value: float,
    step_size_up: int = 2000,
    step_size_down: Optional[int] = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    r"""Cycle between ``init_value`` and ``peak_value`` in triangles (PyTorch's ``CyclicLR``).

    With :math:`U` = ``step_size_up``, :math:`D` = ``step_size_down``, cycle
    :math:`k = \lfloor t / (U + D) \rfloor` and position :math:`u = t - k(U + D)`:

    .. math::
        h(t) = \begin{cases} u / U & u \le U \\ (U + D - u) / D & u > U \end{cases}, \qquad
        v(t) = I + (P - I)\, h(t)\, s(t)

    with :math:`s = 1` (``"triangular"``), :math:`s = 2^{-k}` (``"triangular2"``: the height
    halves every cycle) or :math:`s = \gamma^{t}` (``"exp_range"``). Step 0 returns
    ``init_value``; step :math:`U` returns the peak; step :math:`U + D` starts the next cycle
    at ``init_value``. The cycle and position are integer arithmetic, exact at every step.

    Args:
        init_value: :math:`I` (PyTorch's ``base_lr``), the bottom of each cycle; finite.
        peak_value: :math:`P` (PyTorch's ``max_lr``), the top of the first cycle; finite.
        step_size_up: :math:`U`, steps from bottom to top; a whole number ``>= 1``.
        step_size_down: :math:`D`, steps from top to bottom; ``None`` means ``step_size_up``.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: :math:`\gamma`, used by ``"exp_range"``; ``> 0``.

    Returns:
        A schedule ``step -> value``.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
        https://arxiv.org/abs/1506.01186 ; PyTorch, ``torch.optim.lr_scheduler.CyclicLR``.
    """
    who = "cyclic_schedule"
    _check.fixed(who, init_value=init_value, peak_value=peak_value, gamma=gamma)
    _check.finite(who, init_value=init_value, peak_value=peak_value)
    _check.positive(who, gamma=gamma)
    _check.choice(who, "mode", mode, ("triangular", "triangular2", "exp_range"))
    _check.step_count(who, 1, step_size_up=step_size_up)
    up = int(step_size_up)
    if step_size_down is not None:
        _check.step_count(who, 1, step_size_down=step_size_down)
    down = up if step_size_down is None else int(step_size_down)

    def schedule(step):
        step = _int_step(step, who)
        cycle = _floor_div(step, up + down)
        u = _step.as_float(step - cycle * (up + down) if _fits(step, up + down) else step)
        height = jnp.where(u <= float(up), _fraction(u, up), _fraction(float(up + down) - u, down))
        if mode == "triangular2":
            height = height * 0.5 ** _step.as_float(cycle)
        elif mode == "exp_range":
            height = height * _f(gamma) ** _step.as_float(step)
        return _lerp(_f(init_value), _f(peak_value), height)

    return schedule
