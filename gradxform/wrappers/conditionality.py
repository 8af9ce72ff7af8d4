"""Run a transformation only at the steps a predicate picks; skip its work at the others."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import eager as _eager
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import whole
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree


@state_class
class ConditionallyTransformState(NamedTuple):
    inner_state: PyTree  # the inner transformation's state; advances only at chosen steps
    step: jax.Array  # int32: updates seen so far (chosen or not); saturates at 2**31 - 1


@_recipe.factory
def conditionally_transform(
    inner: Branch, should_transform_fn: Callable[..., Any], forward_extra_args: bool = False
) -> GradientTransformation:
    r"""Apply ``inner`` where ``should_transform_fn(step)`` holds; elsewhere pass updates through.

    .. math::  u_t = \begin{cases} \mathrm{inner}(g_t) & p(t) \\ g_t & \text{otherwise} \end{cases}

    At the steps not chosen, ``inner`` is not computed (a :func:`jax.lax.cond`) and its state is
    left as it was, so an expensive transformation (a preconditioner refreshed every 10 steps:
    ``lambda step: step % 10 == 0``) costs nothing in between. :func:`gradxform.conditional`,
    by contrast, runs both of its branches every step. Same as Optax's ``conditionally_transform``.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        should_transform_fn: :math:`p`, a function of this wrapper's own update count ``step``
            (int32, 0 on the first update) returning a bool scalar.
        forward_extra_args: also pass the extra arguments of ``update`` to
            ``should_transform_fn`` as keywords.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ConditionallyTransformState`.
    """
    _check.is_callable("conditionally_transform", should_transform_fn=should_transform_fn)
    return _conditionally(
        "conditionally_transform", ConditionallyTransformState, inner, should_transform_fn,
        forward_extra_args, skipped=lambda updates, apply: updates,
    )


@state_class
class ConditionallyMaskState(NamedTuple):
    step: jax.Array  # int32: updates seen so far (chosen or not); saturates at 2**31 - 1
    inner_state: PyTree  # the inner transformation's state; advances only at chosen steps


@_recipe.factory
def conditionally_mask(
    inner: Branch, should_transform_fn: Callable[..., Any], forward_extra_args: bool = False
) -> GradientTransformation:
    r"""Apply ``inner`` where ``should_transform_fn(step)`` holds; elsewhere return zero updates.

    .. math::  u_t = \begin{cases} \mathrm{inner}(g_t) & p(t) \\ 0 & \text{otherwise} \end{cases}

    As :func:`conditionally_transform`, but the steps not chosen leave the parameters where they
    are. ``conditionally_mask(opt, lambda step: step % k == k - 1)`` takes a step of ``opt`` once
    every ``k`` updates. Same as Optax's ``conditionally_mask``.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        should_transform_fn: :math:`p`, a function of this wrapper's own update count ``step``
            (int32, 0 on the first update) returning a bool scalar.
        forward_extra_args: also pass the extra arguments of ``update`` to
            ``should_transform_fn`` as keywords.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ConditionallyMaskState`.
    """
    _check.is_callable("conditionally_mask", should_transform_fn=should_transform_fn)
    return _conditionally(
        "conditionally_mask", ConditionallyMaskState, inner, should_transform_fn,
        forward_extra_args, skipped=lambda updates, apply: zeros_like_output(apply),
    )


def _conditionally(who, state_type, inner, should_transform_fn, forward_extra_args, skipped):
    """Run ``inner`` at the steps ``should_transform_fn`` chooses (a ``lax.cond``); elsewhere
    return ``skipped(updates, apply)`` and leave ``inner``'s state as it was."""
    transform = whole(inner, who)

    def init(params):
        return state_type(step=_step.zero(), inner_state=transform.init(params))

    def update(updates, state, params=None, **extra_args):
        chosen = should_transform_fn(state.step, **(extra_args if forward_extra_args else {}))

        def apply(_):
            return transform.update(updates, state.inner_state, params, **extra_args)

        def skip(_):
            return skipped(updates, apply), state.inner_state

        updates, inner_state = _eager.cond(chosen, apply, skip, None)
        return updates, state_type(step=_step.increment(state.step), inner_state=inner_state)

    return GradientTransformation(init, update)


def zeros_like_output(apply: Callable[[Any], tuple[PyTree, PyTree]]) -> PyTree:
    """Zeros shaped like the updates ``apply(None)`` would return, without computing them."""
    shapes, _ = jax.eval_shape(apply, None)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
