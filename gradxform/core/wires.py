r"""Named wires: a link hands a value it computed on the way to a later link of the same update.

A ratio's denominator sometimes needs what its numerator computes: AdaBelief's spread
:math:`(g_t - m_t)^2` needs the momentum :math:`m_t`, Adan's second moment the gradient difference
:math:`g_t - g_{t-1}`. Recomputing the value in the other branch would keep its state twice.
:func:`tap` passes its input through and records it under a name; :func:`from_tap` outputs the
recorded value in place of its input. A link may also record a scalar it computed (Prodigy's
distance estimate :math:`d_t`), which :func:`scale_by_tapped` and :func:`add_tapped` bring
into an element-wise term: :math:`d_t g_t`, :math:`\sqrt{v_t} + d_{t+1}\epsilon`. All four are
stateless links that show in the recipe.

The record lives while one update runs, on the board (:mod:`gradxform.core.board`) that a
chain and each combinator open for their links, or share with the chain or combinator around
them. Links run in order, a ratio's numerator before its denominator, so a value recorded by
one link is read by a later one. Reading a name that no earlier link recorded raises at trace
time, naming what was recorded.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import board as _board
from . import check as _check
from . import hyperparams as _hyper
from . import recipe as _recipe
from . import tree as _tree
from .chain import primitive
from .protocol import EmptyState, GradientTransformation
from .types import Hyper, PyTree

BAD_NAME = "{who}: name must be a non-empty string, got {got}."
NOT_A_FACTOR = (
    "{who}: the value tapped as {name!r} must be a scalar or a tree shaped like the updates, got "
    "{got}; the updates are {updates}."
)


def _check_name(who: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(BAD_NAME.format(who=who, got=_check.describe(name)))


@_recipe.factory
def tap(name: str) -> GradientTransformation:
    r"""Pass the updates through unchanged and record them under ``name``: :math:`u = g`.

    A later link of the same update (a later link of the chain, a later branch of the
    combinator) reads them with :func:`from_tap`, so a value computed once serves both
    (AdaBelief taps its momentum for its denominator).

    Args:
        name: the wire's name.

    Returns:
        A stateless :class:`GradientTransformation`.
    """
    _check_name("tap", name)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        _board.record(extra_args, name, updates)
        return updates, EmptyState()

    return primitive(init, update)


@_recipe.factory
def from_tap(name: str) -> GradientTransformation:
    r"""Output the updates an earlier :func:`tap` recorded under ``name``, in place of the input.

    Args:
        name: the wire's name.

    Returns:
        A stateless :class:`GradientTransformation`. Its ``update`` raises if no earlier link
        of the update recorded ``name``.
    """
    _check_name("from_tap", name)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return _board.read(extra_args, name, f"from_tap({name!r})"), EmptyState()

    return primitive(init, update)


@_recipe.factory
def scale_by_tapped(name: str) -> GradientTransformation:
    r"""Multiply the updates by a value an earlier link recorded under ``name``: :math:`u = w\,g`.

    The value is a scalar (Prodigy's :math:`d_t` and step size) or a tree shaped like the
    updates (leaf by leaf); each product is taken in the update's compute dtype and cast back
    to the update's dtype.

    Args:
        name: the wire's name.

    Returns:
        A stateless :class:`GradientTransformation`. Its ``update`` raises if no earlier link
        of the update recorded ``name``, or if the value is neither a scalar nor shaped like
        the updates.
    """
    who = "scale_by_tapped"
    _check_name(who, name)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        factors = _factors(who, name, _board.read(extra_args, name, f"{who}({name!r})"), updates)
        return jax.tree.map(_tree.times, updates, factors), EmptyState()

    return primitive(init, update)


@_recipe.factory
def add_tapped(name: str, weight: Hyper = 1.0) -> GradientTransformation:
    r"""Add a multiple of a value an earlier link recorded under ``name``: :math:`u = g + c\,w`.

    Prodigy's denominator :math:`\sqrt{v_t} + d_{t+1}\,\epsilon` is :func:`gradxform.sqrt_plus_eps`
    without its :math:`\epsilon`, then ``add_tapped("estim_lr_next", eps)``.

    Args:
        name: the wire's name; the value is a scalar or a tree shaped like the updates.
        weight: :math:`c`, a number or a schedule.

    Returns:
        A stateless :class:`GradientTransformation` (``weight`` is its hyperparameter). Its
        ``update`` raises as :func:`scale_by_tapped`'s does.
    """
    who = "add_tapped"
    _check_name(who, name)
    _check.finite(who, weight=weight)
    hyper = _hyper.declare(who, weight=weight)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        c = hyper.read(extra_args)("weight")
        values = _factors(who, name, _board.read(extra_args, name, f"{who}({name!r})"), updates)
        return jax.tree.map(lambda g, w: _plus_times(g, c, w), updates, values), EmptyState()

    return primitive(init, update, hyper)


def _factors(who: str, name: str, value: Any, updates: PyTree) -> PyTree:
    """``value`` as one factor per leaf of ``updates``: a scalar repeated, or a like-shaped tree."""
    structure: Any = jax.tree.structure(value)  # PyTreeDef's == is untyped
    if jax.tree_util.treedef_is_leaf(structure) and jnp.ndim(value) == 0:
        return jax.tree.map(lambda _: value, updates)
    if structure == jax.tree.structure(updates) and all(
            jnp.shape(w) == jnp.shape(g) for w, g in zip(jax.tree.leaves(value), jax.tree.leaves(updates))):
        return value
    shapes = jax.tree.map(jnp.shape, updates)
    raise ValueError(NOT_A_FACTOR.format(who=who, name=name, got=_check.describe(value), updates=shapes))


def _plus_times(g: jax.Array, c: Any, w: Any) -> jax.Array:
    """``g + c w`` in ``g``'s compute dtype, cast back to ``g``'s dtype."""
    dtype = _tree.compute_dtype(g.dtype)
    return (g.astype(dtype) + jnp.asarray(c).astype(dtype) * jnp.asarray(w).astype(dtype)).astype(g.dtype)


def _wire_symbol(shown_name: str) -> str:
    """The wire's name in LaTeX, upright (``shown_name`` comes quoted, its underscores escaped)."""
    return r"\mathrm{" + shown_name.strip("'\"") + "}"


@_recipe.formula("tap")
def _tap_rule(a, x, fresh):
    wire = _wire_symbol(a["name"])
    return wire, [f"{wire} &= {x}"]


@_recipe.formula("from_tap")
def _from_tap_rule(a, x, fresh):
    return _wire_symbol(a["name"]), []


@_recipe.formula("scale_by_tapped")
def _scale_by_tapped_rule(a, x, fresh):
    return rf"{_wire_symbol(a['name'])}\,{_recipe.group(x)}", []


@_recipe.formula("add_tapped")
def _add_tapped_rule(a, x, fresh):
    weight = _recipe.coefficient(a.get("weight", "1.0"))
    return rf"{x} + {weight}{_wire_symbol(a['name'])}", []
