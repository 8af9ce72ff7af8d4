"""Stateless transformations: from a function of the updates, and the one that zeroes them.

A transformation that keeps nothing between updates has :class:`EmptyState` for its state and
:func:`init_empty_state` for its ``init``. :func:`stateless` and :func:`stateless_with_tree_map`
make one from a function, as Optax's functions of the same names do; :func:`set_to_zero` is the
one whose updates leave the params where they are (to freeze a part of the params with
:func:`gradxform.partition` or :func:`gradxform.masked`).
"""
from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from . import check as _check
from . import recipe as _recipe
from .chain import primitive
from .protocol import EmptyState, GradientTransformation
from .types import Params, Updates


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of a stateless transformation: :class:`EmptyState`, whatever the params."""
    del params
    return EmptyState()


@_recipe.factory
def set_to_zero() -> GradientTransformation:
    r"""Replace every update by zeros: :math:`u_t = 0`, so the params do not move. Stateless.

    Each zero has its update's shape and dtype; ``None`` leaves stay ``None``. Inside the
    ``jit``-compiled step that computes the gradients, XLA drops the work whose result is zeroed.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.
    """

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(jnp.zeros_like, updates), state

    return primitive(init_empty_state, update)


def stateless(f: Callable[[Updates, Optional[Params]], Updates]) -> GradientTransformation:
    """A stateless transformation whose update is ``f(updates, params)`` on whole trees.

    Args:
        f: takes the updates and the params (``None`` when ``update`` is called without them)
            and returns the new updates, a tree shaped like the updates.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.
    """
    _check.is_callable("stateless", f=f)

    def update(updates, state, params=None, **extra_args):
        return f(updates, params), EmptyState()

    return _recipe.named(GradientTransformation(init_empty_state, update), "stateless", f=f)


def stateless_with_tree_map(
    f: Callable[[jax.Array, Optional[jax.Array]], jax.Array],
) -> GradientTransformation:
    """A stateless transformation whose update is ``f(update, param)`` leaf by leaf.

    Args:
        f: takes one update array and its param array (``None`` when ``update`` is called without
            params) and returns the new update array.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.
    """
    _check.is_callable("stateless_with_tree_map", f=f)

    def update(updates, state, params=None, **extra_args):
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates), EmptyState()
        return jax.tree.map(f, updates, params), EmptyState()

    return _recipe.named(GradientTransformation(init_empty_state, update),
                         "stateless_with_tree_map", f=f)


@_recipe.formula("set_to_zero")
def _set_to_zero_rule(a, x, fresh):
    return "0", []
