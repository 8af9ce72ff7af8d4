"""Recording measurements of the updates in the state, for debugging and monitoring.

Put :func:`snapshot` or :func:`monitor` anywhere in a chain: the update passes through unchanged
and the state keeps what was measured there (``norm before clipping``), by name, where
``optax.tree.get(state, name)`` or a look at the printed state finds it.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core.chain import chain, whole
from ..core.protocol import EmptyState, GradientTransformation, is_transform
from ..core.state_class import state_class
from ..core.types import PyTree, ScalarOrSchedule
from ..transforms.moments import bias_correction, scale_by_momentum

Measure = Callable[[PyTree], PyTree]

NOT_A_MEASURE = (
    "{who}: {name} must be a function of the updates or a GradientTransformation measuring them, "
    "got {got}."
)
NOT_A_NAME = "snapshot: measure_name must be a str, got {got}."


@state_class
class SnapshotState(NamedTuple):
    measurement: dict  # {measure_name: measure(latest updates)}; measure(params) after init


@_recipe.factory
def snapshot(measure_name: str, measure: Measure) -> GradientTransformation:
    r"""Pass the updates through unchanged and keep ``measure(updates)`` in the state.

    .. math::  u_t = g_t, \qquad \text{state} = \{\text{name}: f(g_t)\}

    In a chain, :math:`g_t` is the update as the links before this one left it. After ``init``
    the state holds ``measure(params)``, which gives it its final structure. Same as Optax's
    ``snapshot``.

    Args:
        measure_name: the key under which the measurement is stored.
        measure: :math:`f`, a function of the updates returning an array or a tree of arrays
            (e.g. :func:`gradxform.global_norm`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SnapshotState`.
    """
    if not isinstance(measure_name, str):
        raise TypeError(NOT_A_NAME.format(got=_check.describe(measure_name)))
    _check.is_callable("snapshot", measure=measure)

    def init(params):
        # A copy where the measure hands back the params' own arrays (lambda u: u), so that the
        # state never shares a buffer with the params and both can be donated to a jitted step.
        measured = jax.tree.map(
            lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x, measure(params)
        )
        return SnapshotState({measure_name: measured})

    def update(updates, state, params=None, **extra_args):
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init, update)


@state_class
class MonitorState(NamedTuple):
    measurements: dict  # {name: latest measurement}; zeros of the right shapes after init
    measure_states: tuple  # the state of each stateful measure, in the order of `measures`


@_recipe.factory
def monitor(measures: dict[str, Union[GradientTransformation, Measure]]) -> GradientTransformation:
    r"""Pass the updates through unchanged and keep several measurements of them, some stateful.

    .. math::  u_t = g_t, \qquad \text{measurements}_k = M_k(g_t)

    Each measure is a function of the updates (as in :func:`snapshot`) or a transformation whose
    output is the measurement and whose state persists across steps, such as
    :func:`measure_with_ema`. Transformations receive ``params`` and the extra arguments of
    ``update``. Same as Optax's ``monitor``, with one difference: after ``init`` the
    measurements are zeros of their final shapes and dtypes (Optax starts from an empty dict),
    so the state keeps one structure, as ``jax.lax.scan`` and checkpoints need.

    Args:
        measures: a dict from name to a function of the updates or a transformation.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MonitorState`.
    """
    if not isinstance(measures, dict):
        raise TypeError(_check.WRONG_KIND.format(
            who="monitor", name="measures", expected="a dict from name to measure",
            got=_check.describe(measures)))
    transforms = {name: _as_transform(name, m) for name, m in measures.items()}

    def init(params):
        states = tuple(t.init(params) for t in transforms.values())
        shapes = jax.eval_shape(lambda: _measure_all(transforms, params, states, params, {}))[0]
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return MonitorState(zeros, states)

    def update(updates, state, params=None, **extra_args):
        measurements, states = _measure_all(transforms, updates, state.measure_states, params,
                                            extra_args)
        return updates, MonitorState(measurements, states)

    return GradientTransformation(init, update)


def _as_transform(name: str, measure: Any) -> GradientTransformation:
    if is_transform(measure):
        return whole(measure, "monitor")
    if callable(measure):
        return _stateless(measure)
    raise TypeError(NOT_A_MEASURE.format(who="monitor", name=f"measures[{name!r}]",
                                         got=_check.describe(measure)))


def _measure_all(transforms, updates, states, params, extra_args) -> tuple[dict, tuple]:
    measurements, new_states = {}, []
    for (name, t), s in zip(transforms.items(), states):
        measurements[name], s = t.update(updates, s, params, **extra_args)
        new_states.append(s)
    return measurements, tuple(new_states)


def _stateless(measure: Measure) -> GradientTransformation:
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return measure(updates), state

    return GradientTransformation(init, update)


@_recipe.factory
def measure_with_ema(measure: Measure, decay: ScalarOrSchedule, debias: bool = True,
                     accumulator_dtype: Any = None) -> GradientTransformation:
    r"""Measure the updates and output an exponential moving average of the measurement.

    .. math::  m_t = (1-\beta)\,f(g_t) + \beta\,m_{t-1}, \qquad
               \hat m_t = m_t / (1 - \beta^t) \ (\text{debias}), \qquad m_0 = 0

    The output is the (corrected) average, meant for :func:`monitor`: ``monitor({"clipped":
    measure_with_ema(lambda u: gx.global_norm(u) > 1.0, decay=0.9)})`` tracks how often
    updates get clipped. A recipe: the measurement feeds
    :func:`gradxform.scale_by_momentum` (``ema=True``) and :func:`gradxform.bias_correction`.
    A measurement that is not floating point (a bool) is averaged in the default float dtype.
    Same results as Optax's ``measure_with_ema``.

    Args:
        measure: :math:`f`, a function of the updates returning an array or tree of arrays.
        decay: :math:`\beta`, the weight kept from the previous average; in ``[0, 1)``.
        debias: divide by :math:`1 - \beta^t` (Adam's bias correction).
        accumulator_dtype: dtype in which :math:`m` is stored; ``None`` keeps the
            measurement's.

    Returns:
        A :class:`GradientTransformation` whose state is that of the chain above
        (:class:`ChainState`: the average ``mu``, the step and ``decay``).
    """
    _check.is_callable("measure_with_ema", measure=measure)
    _check.decay("measure_with_ema", decay=decay)
    _check.flag("measure_with_ema", debias=debias)
    (decay,) = _hyper.shared(decay=decay)
    average = [scale_by_momentum(decay, ema=True, dtype=accumulator_dtype)]  # m_t
    if debias:
        average.append(bias_correction(decay))                              # m_t / (1 - b^t)
    return _measured(measure, chain(*average))


def _measured(measure: Measure, inner: GradientTransformation) -> GradientTransformation:
    """``inner`` run on ``measure(updates)`` (as a float), started from ``measure(params)``."""

    def measured(tree):
        return jax.tree.map(_as_float, measure(tree))

    def init(params):
        return inner.init(measured(params))

    def update(updates, state, params=None, **extra_args):
        return inner.update(measured(updates), state, None, **extra_args)

    return GradientTransformation(init, update)


def _as_float(x) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))
