"""The hyperparameter tables of a whole state: found in order, and replaced.

A chain keeps its rows in its :class:`~gradxform.core.chain.ChainState` (``state.hyperparams``);
a wrapper with hyperparameters of its own (``lookahead``, ``ema_params``) keeps a
:class:`~gradxform.core.hyperparams.Hyperparams` among its fields. :func:`tables` lists them
with their key paths, outermost first, and :func:`with_tables` puts new ones in their places.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp

from .chain import ChainState
from .hyperparams import Hyperparams
from .types import PyTree

_HYPERPARAMS = jax.tree_util.GetAttrKey("hyperparams")


def _children(node: Any) -> tuple[list, Callable[[list], Any]] | None:
    """``([(key, child)], rebuild)`` one level down, or ``None`` for a leaf."""
    flat, treedef_ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    treedef: Any = treedef_
    if len(flat) == 1 and not flat[0][0]:
        return None
    return [(path[0], child) for path, child in flat], treedef.unflatten


def tables(state: PyTree) -> list[tuple[tuple, Hyperparams]]:
    """Every table of hyperparameters in ``state``, with the key path to its owner."""
    found: list[tuple[tuple, Hyperparams]] = []

    def visit(node: Any, keys: tuple) -> None:
        if isinstance(node, Hyperparams):
            found.append((keys, node))
            return
        if isinstance(node, ChainState):
            found.append((keys + (_HYPERPARAMS,), node.hyperparams))
            visit(node.links, keys + (jax.tree_util.GetAttrKey("links"),))
            return
        children = _children(node)
        for key, child in children[0] if children else ():
            visit(child, keys + (key,))

    visit(state, ())
    return found


def with_tables(state: PyTree, new: list[Hyperparams]) -> PyTree:
    """``state`` with its tables, in the order :func:`tables` lists them, replaced by ``new``."""
    order: Iterator[Hyperparams] = iter(new)

    def rebuild(node: Any) -> Any:
        if isinstance(node, Hyperparams):
            return next(order)
        if isinstance(node, ChainState):
            table = next(order)
            return node._replace(hyperparams=table, links=rebuild(node.links))
        children = _children(node)
        if children is None:
            return node
        items, unflatten = children
        return unflatten([rebuild(child) for _, child in items])

    return rebuild(state)


def reset_but_hyperparams(reset: Any, state: PyTree, fresh: PyTree) -> PyTree:
    """``fresh`` where the boolean ``reset`` holds, else ``state``; the hyperparameters are
    always ``state``'s own, so a value set with :func:`gradxform.set_hyperparams` stays set
    across a restart (``lookahead(reset_state=True)``, ``sam``)."""
    chosen = jax.tree.map(lambda s, i: jnp.where(reset, i, s), state, fresh)
    return with_tables(chosen, [table for _, table in tables(state)])
