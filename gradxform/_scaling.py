"""Multiplying updates by a constant or by a (scheduled) learning rate."""
from __future__ import annotations

from typing import Callable, Union

import jax
import jax.numpy as jnp

from . import _check, _step
from ._core import EmptyState, GradientTransformation

Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = Union[float, jax.Array, Schedule]


def scale(step_size: float) -> GradientTransformation:
    r"""Multiply every update by a constant: :math:`u_t = \alpha\,g_t`. Stateless.

    Args:
        step_size: :math:`\alpha`, any finite number.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.finite("scale", step_size=step_size)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(lambda g: step_size * g, updates), state

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply every update by the negative learning rate: :math:`u_t = -\alpha_t\,g_t`.

    A constant is a single multiplication; a schedule is called with the step count from
    :func:`gradxform.chain` (0 on the first update) and its value cast to each update's dtype.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule ``step -> value``.
        flip_sign: multiply by :math:`-\alpha_t` (descent, the default) or by :math:`+\alpha_t`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.learning_rate("scale_by_learning_rate", learning_rate=learning_rate)
    sign = -1 if flip_sign else 1
    if not callable(learning_rate):
        return scale(sign * learning_rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        rate = sign * learning_rate(_step.read(extra_args, "scale_by_learning_rate"))
        return jax.tree.map(lambda g: jnp.asarray(rate, g.dtype) * g, updates), state

    return GradientTransformation(init, update)
