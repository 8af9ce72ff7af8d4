"""State classes: the one decorator a transformation's state class wears.

A state class is a ``NamedTuple`` of arrays (and of the states of inner transformations). The
decorator :func:`state_class` gives it two things:

- **a textbook repr**: :func:`gradxform.core.printing.text`, a field per line once a line grows
  long, arrays summarized by dtype and shape;
- **a pytree node that JAX takes apart and rebuilds without running Python.** A jitted step
  flattens its state on the way in and rebuilds the new state on the way out, node by node, on
  every call. JAX rebuilds a ``NamedTuple`` by calling its class, a Python frame per node per
  step. A class registered by :func:`fast_node` is taken apart by reading a property that C code
  computes (its values as a plain tuple, and its class) and rebuilt by ``tuple.__new__``
  directly. Key paths are a ``NamedTuple``'s (``GetAttrKey`` of each stored field), so
  ``jax.tree_util.tree_flatten_with_path``, checkpoints and Flax's serializers see the same
  tree as before. ``benchmarks/fixed_cost.py --nodes`` measures what each kind of node costs
  per call.
"""
from __future__ import annotations

import operator
from typing import TypeVar

import jax

from .printing import textbook

T = TypeVar("T", bound=type)

_ITEMS_AND_CLASS = operator.attrgetter("_items", "__class__")


def fast_node(cls: T) -> T:
    """Register the tuple class ``cls`` (its stored names in ``cls._fields``) as a JAX node.

    Contract: every instance holds exactly ``len(cls._fields)`` values, in field order (true of
    a ``NamedTuple``). Returns ``cls``, whose attribute ``_items`` is then its values as a
    plain tuple, read without calling the class's ``__iter__`` or ``__getitem__``.
    """
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in tuple.__iter__(cls._fields))  # type: ignore[attr-defined]

    def with_keys(state):
        return tuple(zip(keys, state._items)), type(state)

    cls._items = property(().__add__)  # type: ignore[attr-defined]  # () + state: a plain tuple
    jax.tree_util.register_pytree_with_keys(cls, with_keys, tuple.__new__,
                                            _ITEMS_AND_CLASS)
    return cls


def empty_node(cls: T) -> T:
    """Register the field-less tuple class ``cls`` as a JAX node without children.

    Every instance of such a class is the same value, so the node is taken apart and rebuilt by
    two dictionary lookups, cheaper still than a :func:`fast_node`. Returns ``cls``.
    """
    if cls._fields:  # type: ignore[attr-defined]
        raise TypeError(f"empty_node: {cls.__qualname__} has fields {cls._fields}; "  # type: ignore[attr-defined]
                        "use fast_node for a class that holds values")
    empty = cls()
    jax.tree_util.register_pytree_node(cls, {empty: ((), None)}.__getitem__,  # type: ignore[misc]
                                       {None: empty}.get)  # called as get(None, ()): the one value
    return cls


def state_class(cls: T) -> T:
    """Make the ``NamedTuple`` class ``cls`` a state class: a textbook repr and a fast node."""
    return fast_node(textbook(cls))
