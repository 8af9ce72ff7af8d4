"""The board: values one link of an update hands to the links after it, by name.

A chain, and each combinator (:func:`gradxform.ratio`, :func:`gradxform.parallel_sum`,
:func:`gradxform.conditional`), opens a board for the update it runs, or shares the board of
the chain or combinator around it. Its links run in order, so a value recorded by one link is
there for every later link of the same update: a tapped momentum for a ratio's denominator
(:func:`gradxform.tap`), or a scalar a link computed once (Prodigy's distance estimate) for the
terms that read it (:func:`gradxform.scale_by_tapped`). The board lives while one update runs;
nothing on it is state.
"""
from __future__ import annotations

from typing import Any, NamedTuple

BOARD = "wires"  # the extra argument under which a chain or combinator passes its board to its links
CHAIN_ARGS = ("step", "hyperparams", BOARD)  # what a gradxform.chain hands every link, beside the caller's

NOT_RECORDED = (
    "{who}: nothing was recorded as {name!r} before it in this update (by tap({name!r}) or a "
    "link that records it, such as prodigy_estimate); recorded so far: {recorded}. Links run in "
    "order (a chain's from the first, a ratio's numerator before its denominator): record the "
    "value in an earlier link."
)


class Board(NamedTuple):
    """The values recorded during one update, by name."""

    values: dict


def opened(extra_args: dict) -> dict:
    """``extra_args`` with a board for a chain's or combinator's links: the one given, or a new one."""
    if isinstance(extra_args.get(BOARD), Board):
        return extra_args
    return {**extra_args, BOARD: Board({})}


def record(extra_args: dict, name: str, value: Any) -> None:
    """Put ``value`` on the board of this update under ``name`` (replacing an earlier value)."""
    board = extra_args.get(BOARD)
    if isinstance(board, Board):
        board.values[name] = value


def read(extra_args: dict, name: str, who: str) -> Any:
    """The value recorded under ``name`` earlier in this update; a ``ValueError`` naming ``who``
    and what was recorded if none was."""
    board = extra_args.get(BOARD)
    values = board.values if isinstance(board, Board) else {}
    if name not in values:
        raise ValueError(NOT_RECORDED.format(who=who, name=name, recorded=sorted(values)))
    return values[name]
