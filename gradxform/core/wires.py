"""Named wires: a combinator's branch hands a value it computed on the way to a later branch.

A ratio's denominator sometimes needs what its numerator computes: AdaBelief's spread
:math:`(g_t - m_t)^2` needs the momentum :math:`m_t`, Adan's second moment the gradient difference
:math:`g_t - g_{t-1}`. Recomputing the value in the other branch would keep its state twice.
:func:`tap` passes its input through and records it under a name; :func:`from_tap` outputs the
recorded value in place of its input. Both are stateless links that show in the recipe.

The record lives while one update runs: :func:`gradxform.ratio`, :func:`gradxform.parallel_sum`
and :func:`gradxform.conditional` open a board for their branches (or share the board of the
combinator around them), and run their branches in order, numerator before denominator, so a
tap in an earlier branch is read by a later one. A ``from_tap`` whose name no earlier tap wrote
raises at trace time, naming what was tapped.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from . import check as _check
from . import recipe as _recipe
from .chain import primitive
from .protocol import EmptyState, GradientTransformation

BOARD = "wires"  # the extra argument under which a combinator passes its board to its branches

NO_BOARD = (
    "{who}: from_tap({name!r}) runs outside any ratio, parallel_sum or conditional, so no tap can "
    "have written it. Put tap({name!r}) in an earlier branch of one of those combinators and "
    "from_tap({name!r}) in a later one."
)
NOT_TAPPED = (
    "{who}: from_tap({name!r}) found no tap({name!r}) before it; tapped so far: {tapped}. Branches "
    "run in order (a ratio's numerator first): tap the value in an earlier branch."
)
BAD_NAME = "{who}: name must be a non-empty string, got {got}."


class Board(NamedTuple):
    """The values tapped during one update, by name."""

    values: dict


def opened(extra_args: dict) -> dict:
    """``extra_args`` with a board for a combinator's branches: the one given, or a new one."""
    if isinstance(extra_args.get(BOARD), Board):
        return extra_args
    return {**extra_args, BOARD: Board({})}


def _check_name(who: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(BAD_NAME.format(who=who, got=_check.describe(name)))


@_recipe.factory
def tap(name: str) -> GradientTransformation:
    r"""Pass the updates through unchanged and record them under ``name``: :math:`u = g`.

    A later branch of the same :func:`gradxform.ratio`, :func:`gradxform.parallel_sum` or
    :func:`gradxform.conditional` reads them with :func:`from_tap`, so a value computed once
    serves both (AdaBelief taps its momentum for its denominator).

    Args:
        name: the wire's name.

    Returns:
        A stateless :class:`GradientTransformation`.
    """
    _check_name("tap", name)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        board = extra_args.get(BOARD)
        if isinstance(board, Board):
            board.values[name] = updates
        return updates, EmptyState()

    return primitive(init, update)


@_recipe.factory
def from_tap(name: str) -> GradientTransformation:
    r"""Output the updates an earlier :func:`tap` recorded under ``name``, in place of the input.

    Args:
        name: the wire's name.

    Returns:
        A stateless :class:`GradientTransformation`. Its ``update`` raises if no earlier branch
        of the combinator around it tapped ``name``.
    """
    _check_name("from_tap", name)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        board = extra_args.get(BOARD)
        if not isinstance(board, Board):
            raise ValueError(NO_BOARD.format(who="from_tap", name=name))
        if name not in board.values:
            raise ValueError(NOT_TAPPED.format(who="from_tap", name=name, tapped=sorted(board.values)))
        return board.values[name], EmptyState()

    return primitive(init, update)


def _wire_symbol(shown_name: str) -> str:
    """The wire's name in LaTeX: upright, underscores escaped (``shown_name`` may be quoted)."""
    return r"\mathrm{" + shown_name.strip("'\"").replace("_", r"\_") + "}"


@_recipe.formula("tap")
def _tap_rule(a, x, fresh):
    wire = _wire_symbol(a["name"])
    return wire, [f"{wire} &= {x}"]


@_recipe.formula("from_tap")
def _from_tap_rule(a, x, fresh):
    return _wire_symbol(a["name"]), []
