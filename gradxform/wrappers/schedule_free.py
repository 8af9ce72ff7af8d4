r"""Schedule-free learning: a base optimizer's steps, interpolated and averaged instead of scheduled.

:func:`schedule_free` runs a base optimizer (without momentum) on a sequence :math:`z`, keeps a
weighted average :math:`x` of it, and hands out gradients' evaluation points :math:`y`, an
interpolation of the two; :func:`schedule_free_eval_params` recovers :math:`x`, the parameters
to evaluate. The recipes :func:`gradxform.schedule_free_sgd` and
:func:`gradxform.schedule_free_adamw` wrap SGD and AdamW this way.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import whole, with_errors_named
from ..core.field_names import answers_to
from ..core.link import Branch
from ..core.named import Named
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree, ScalarOrSchedule

_WHO = "schedule_free"
_B1_PLACE = (_WHO, "b1")  # where b1's row of the wrapper's hyperparameters is declared

NOT_REAL = (
    "schedule_free: every parameter must have a real floating-point dtype, got {dtype} at {path}. "
    "The running maximum of the learning rate and the averaging weights are real numbers."
)
NO_COMMON_DTYPE = (
    "schedule_free: the parameters' dtypes {dtypes} have no lowest one (neither promotes to the "
    "other); give every leaf one of float16/bfloat16, or cast them to float32."
)
NOT_A_DTYPE = "schedule_free: state_dtype must be None or a floating-point dtype, got {got}."
NO_SCHEDULE_FREE = (
    "schedule_free_eval_params: found no schedule-free state in {got}. Pass the state of an "
    "optimizer made by gx.schedule_free(...), gx.schedule_free_sgd(...) or "
    "gx.schedule_free_adamw(...)."
)
SEVERAL_SCHEDULE_FREE = (
    "schedule_free_eval_params: found {count} schedule-free states in the state; pass the part of "
    "the state that holds the one you want."
)


@state_class
@answers_to(base_optimizer_state="inner_state")
class ScheduleFreeState(NamedTuple):
    weight_sum: jax.Array  # sum of the averaging weights c_1..c_t so far; params' lowest dtype
    max_lr: jax.Array  # the largest learning rate so far; params' lowest dtype
    step: jax.Array  # int32: updates so far; saturates at 2**31 - 1
    z: PyTree  # the base optimizer's iterate; params' tree, state_dtype (default the params')
    inner_state: PyTree  # the base optimizer's state (Optax: base_optimizer_state)
    hyperparams: _hyper.Hyperparams  # learning_rate, b1, weight_lr_power


@_recipe.factory
def schedule_free(
    base_optimizer: Branch,
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    weight_lr_power: Any = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Schedule-free: the base optimizer moves :math:`z`; the params are an interpolation
    :math:`y` between :math:`z` and its weighted average :math:`x`.

    With :math:`u_t` the base optimizer's update (its gradient taken at the params
    :math:`y_{t-1}`), :math:`\gamma_t` the learning rate at :math:`t` (1 on the first update)
    and :math:`x_0 = z_0 = y_0` the initial params:

    .. math::
        z_t = z_{t-1} + u_t, \qquad
        \gamma^{max}_t = \max(\gamma^{max}_{t-1}, \gamma_t), \qquad
        c_t = \frac{(\gamma^{max}_t)^{p}}{\sum_{i \le t} (\gamma^{max}_i)^{p}}, \\
        x_t = (1 - c_t)\,x_{t-1} + c_t\,z_t, \qquad
        y_t = \beta_1 x_t + (1 - \beta_1)\,z_t

    The state keeps :math:`z`, not :math:`x`: :math:`x_{t-1} = (y_{t-1} - (1-\beta_1) z_{t-1})
    / \beta_1` is implied by the params, so the memory is the base optimizer's plus one copy
    of the params, and a transformation wrapped around this one that changes :math:`y` moves
    :math:`x` with it. Evaluate at :math:`x` with :func:`schedule_free_eval_params`. The
    base optimizer should have no momentum (the interpolation replaces it); with SGD, this is
    the paper's Schedule-Free SGD. A 0/0 weight (a learning rate of 0 so far) counts as
    :math:`c_t = 0`; a NaN stays NaN. The arithmetic is Optax's ``contrib.schedule_free``,
    including its reading of a schedule at :math:`t`, one past the base optimizer's, except
    that the update :math:`y_t - y_{t-1}` is formed as a sum of steps, not a difference of
    points: it agrees with Optax's to rounding (float32: a few ulps of :math:`y`), and runs
    bit for bit alike per leaf and in a :func:`gradxform.flatten` layout.

    The state keeps this wrapper's ``learning_rate``, ``b1`` and ``weight_lr_power``; the base
    optimizer keeps its own, so the learning rate is stored twice, shown as
    ``schedule_free/learning_rate`` and ``inner_state/learning_rate``, and
    ``gx.set_hyperparams(state, learning_rate=...)`` asks which: set both, with
    ``gx.set_hyperparams(state, {"schedule_free/learning_rate": v, "inner_state/learning_rate": v})``.

    Args:
        base_optimizer: a transformation, or a list of them applied in sequence, that returns
            the step of :math:`z` (learning rate included, sign included).
        learning_rate: :math:`\gamma_t`, the base optimizer's learning rate (a schedule with
            warmup and without decay), read for the averaging weights only; a number or a
            schedule of :math:`t`; ``>= 0``.
        b1: :math:`\beta_1`, the interpolation weight of :math:`x`; in ``(0, 1]``.
        weight_lr_power: :math:`p`, the power of the learning rate in the averaging weight;
            larger values discount the warmup's iterates more.
        state_dtype: dtype of :math:`z`; ``None`` keeps the params'.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScheduleFreeState`.

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
        NeurIPS 2024, Algorithm 1. https://arxiv.org/abs/2405.15682
    """
    _check.learning_rate(_WHO, learning_rate=learning_rate)
    _check.in_interval(_WHO, 0, 1, "right", " The average x alone is b1=1.", b1=b1)
    _check.finite(_WHO, weight_lr_power=weight_lr_power)
    if state_dtype is not None:
        _check_state_dtype(state_dtype)
    hyper = _hyper.declare(_WHO, learning_rate=_own(learning_rate), b1=_own(b1),
                           weight_lr_power=_own(weight_lr_power))
    table = _hyper.Table([((), hyper)], _WHO)
    base = whole(base_optimizer, _WHO)

    def init(params):
        dtype = _lowest_dtype(params)
        return ScheduleFreeState(
            weight_sum=jnp.zeros([], dtype),
            max_lr=jnp.zeros([], dtype),
            step=_step.zero(),
            z=_copy(params, state_dtype),
            inner_state=base.init(params),
            hyperparams=table.init(),
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=_WHO, why="(the point y)"))
        _check.same_structure(_WHO, params=params, state=state.z)
        # the learning rate is read at t = step + 1 (Optax counts from 1 here)
        reader = table.reader(state.hyperparams, _step.one_based(state.step))
        h = hyper.read({"hyperparams": reader})
        dtype = state.max_lr.dtype
        max_lr = jnp.maximum(state.max_lr, h("learning_rate").astype(dtype))
        weight = max_lr ** h("weight_lr_power").astype(dtype)      # (gamma_max_t)^p
        weight_sum = state.weight_sum + weight                      # sum_i (gamma_max_i)^p
        c = _averaging_weight(weight, weight_sum)                   # c_t
        steps, inner_state = base.update(updates, state.inner_state, params, **extra_args)
        b1_, one_minus_b1 = h("b1"), h("b1", lambda b: 1 - b)
        z = jax.tree.map(_moved, state.z, steps)                    # z_t = z_{t-1} + u_t
        step_of_y = functools.partial(_step_of_y, b1_, one_minus_b1, c)
        new_updates = jax.tree.map(step_of_y, params, state.z, z)  # y_t - y_{t-1}
        return new_updates, ScheduleFreeState(
            weight_sum, max_lr, _step.increment(state.step), z, inner_state, reader.stored()
        )

    return with_errors_named(GradientTransformation(init, update), "schedule_free")


def _own(value: Any) -> Any:
    """``value`` as this wrapper's own hyperparameter, shown as ``schedule_free/<argument>``
    where a name is taken: a name shared with the base optimizer would be two rows (the base
    owns its own), and setting one of them alone would split the learning rate in two."""
    return value.value if isinstance(value, Named) else value


def _averaging_weight(weight: jax.Array, weight_sum: jax.Array) -> jax.Array:
    r""":math:`c_t = w_t / \sum w`, with 0/0 (no positive learning rate yet) taken as 0 and a
    NaN in either term kept as NaN."""
    either_nan = jnp.logical_or(jnp.isnan(weight), jnp.isnan(weight_sum))
    ratio = jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf)
    return jnp.where(either_nan, jnp.full(weight.shape, jnp.nan, weight.dtype), ratio)


def _moved(z: jax.Array, step: jax.Array) -> jax.Array:
    """``z + step`` in the wider of the two dtypes, stored back in ``z``'s."""
    wide = _wider(z.dtype, step.dtype)
    return (z.astype(wide) + step.astype(wide)).astype(z.dtype)


def _step_of_y(b1, one_minus_b1, c, y, z_old, z):
    r"""One leaf's :math:`y_t - y_{t-1}`, as a sum of two small steps rather than the difference
    of two nearby points:

    .. math::  y_t - y_{t-1} = c_t\,(\beta_1 z_t + (1-\beta_1) z_{t-1} - y_{t-1})
                               + (1-\beta_1)(z_t - z_{t-1})

    (from :math:`y = \beta_1 x + (1-\beta_1) z` and :math:`x_t - x_{t-1} = c_t (z_t -
    x_{t-1})`). Optax forms :math:`x_{t-1}`, :math:`x_t`, :math:`y_t` and subtracts
    :math:`y_{t-1}`; the two agree to rounding, but the difference loses the digits that
    :math:`y` and the step share, and its division by :math:`\beta_1` rounds differently in
    XLA on a 0-d leaf and on a vector, which that cancellation would magnify in a
    :func:`gradxform.flatten` layout.
    """
    wide = _wider(y.dtype, z.dtype)
    y, z_old, z = y.astype(wide), z_old.astype(wide), z.astype(wide)
    b1, one_minus_b1, c = b1.astype(wide), one_minus_b1.astype(wide), c.astype(wide)
    toward_z = b1 * z + one_minus_b1 * z_old - y               # b1 (z_t - x_{t-1})
    return c * toward_z + one_minus_b1 * (z - z_old)            # b1 (x_t - x_{t-1}) + (1-b1)(z_t - z_{t-1})


def schedule_free_eval_params(state: PyTree, params: PyTree) -> PyTree:
    r"""The parameters to evaluate of a :func:`schedule_free` optimizer: its average :math:`x`.

    .. math::  x = (y - (1 - \beta_1)\,z) / \beta_1

    with :math:`y` the params, :math:`z` and :math:`\beta_1` (the value in force) from the
    state. As in Optax, :math:`\beta_1` takes the params' lowest dtype before :math:`1-\beta_1`
    is formed.

    Args:
        state: the optimizer state (any nesting) holding one :class:`ScheduleFreeState`.
        params: the params :math:`y` the optimizer has produced.

    Returns:
        A tree shaped like the params.
    """
    found = _schedule_free_states(state)
    if not found:
        raise ValueError(NO_SCHEDULE_FREE.format(got=_check.describe(state)))
    if len(found) > 1:
        raise ValueError(SEVERAL_SCHEDULE_FREE.format(count=len(found)))
    (sf,) = found
    _check.same_structure("schedule_free_eval_params", params=params, state=sf.z)
    b1 = _b1_in_force(sf).astype(sf.max_lr.dtype)

    def average(y, z):
        return (y - (1.0 - b1) * z) / b1

    with jax.numpy_dtype_promotion("standard"):  # bfloat16 params with a float32 z, as Optax
        return jax.tree.map(average, params, sf.z)


def _schedule_free_states(tree: PyTree) -> list:
    def is_state(x):
        return isinstance(x, ScheduleFreeState)

    return [node for node in jax.tree.leaves(tree, is_leaf=is_state) if is_state(node)]


def _b1_in_force(state: ScheduleFreeState) -> jax.Array:
    return state.hyperparams.in_force(state.hyperparams.places.index(_B1_PLACE))


def _lowest_dtype(params: PyTree) -> Any:
    """The leaves' dtype that every other promotes to (Optax's ``tree.dtype(params, 'lowest')``)."""
    dtypes = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(NOT_REAL.format(dtype=dtype, path=jax.tree_util.keystr(path) or "<root>"))
        dtypes.append(dtype)
    lowest = dtypes[0] if dtypes else jnp.result_type(float)
    for dtype in dtypes[1:]:
        wide = _wider(lowest, dtype)
        if wide == lowest:
            lowest = dtype
        elif wide != dtype:
            raise ValueError(NO_COMMON_DTYPE.format(dtypes=sorted({str(d) for d in dtypes})))
    return lowest


def _wider(a: Any, b: Any) -> Any:
    """The dtype ``a`` and ``b`` promote to under JAX's standard rules (whatever the global
    promotion mode: the casts that follow are explicit)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.promote_types(a, b)


def _check_state_dtype(state_dtype: Any) -> None:
    try:
        floating = jnp.issubdtype(jnp.dtype(state_dtype), jnp.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(NOT_A_DTYPE.format(got=_check.describe(state_dtype)))


def _copy(params: PyTree, dtype: Any) -> PyTree:
    """``params`` in fresh buffers (so that params and state can both be donated), in ``dtype``."""
    return jax.tree.map(lambda p: jnp.array(p, dtype=dtype or jnp.result_type(p), copy=True), params)
