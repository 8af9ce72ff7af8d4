"""The placeholder of a masked-out parameter, in a tree an inner transformation sees.

Kept apart from :mod:`gradxform.core.masks` (the masks and labels that put it there) so that
:mod:`gradxform.core.check` can name it in its messages without importing the masks.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from .state_class import empty_node


@empty_node
class MaskedNode(NamedTuple):
    """Stands in for a parameter that the inner transformation does not see.

    It is a node without children, so :func:`jax.tree.map` passes over it: the inner
    transformation's state holds nothing for masked-out parameters. Same role as Optax's
    ``MaskedNode``.
    """


def is_masked(x: Any) -> bool:
    """Whether ``x`` is a :class:`MaskedNode` (an ``is_leaf`` for tree walks that list them)."""
    return isinstance(x, MaskedNode)
