"""Find and replace fields of a state by name: Optax's ``tree.get``/``set``/``map_params``.

A state is a tree of NamedTuples (the primitives' states, :class:`gradxform.ChainState`), dicts
and tuples. These functions look a name up among NamedTuple fields, dict keys and NamedTuple
class names, anywhere in the tree, with the signatures and results of Optax's
``optax.tree.get``, ``set``, ``get_all_with_path`` and ``map_params``. A field also answers to
Optax's name for it where gradxform's differs (``count`` for a chain's ``step``, ``trace`` for
the heavy-ball momentum's ``mu``: :mod:`gradxform.core.field_names`), for reading and, here,
for writing too. Paths are tuples of JAX key entries, with a :class:`NamedTupleKey` for each
NamedTuple field, as Optax writes them (with gradxform's own class of that name).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Protocol, Union, runtime_checkable

import jax

from .field_names import aliases_of
from .types import OptState, Params, PyTree

KeyPath = tuple  # of jax.tree_util key entries and NamedTupleKey
Filtering = Callable[[KeyPath, Any], bool]

NOT_FOUND = (
    "set: found no value named {key!r}{filtered} in the tree. A name is a NamedTuple field (or "
    "Optax's name for one), a dict key or a NamedTuple class name; gradxform.tree.get_all_with_path "
    "shows what a name finds."
)
FOUND_SEVERAL = (
    "get: found {count} values named {key!r}, at {paths}. Pass filtering=lambda path, value: ... "
    "to choose one (the paths are those of gradxform.tree.get_all_with_path)."
)


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for field ``name`` of a NamedTuple of class ``tuple_name`` (as Optax's)."""

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


@runtime_checkable
class Initable(Protocol):
    """Anything with ``init(params) -> state`` (a transformation)."""

    def init(self, params: Params) -> OptState: ...


def get_all_with_path(
    tree: PyTree, key: Any, filtering: Optional[Filtering] = None
) -> list[tuple[KeyPath, Any]]:
    """Every value named ``key`` in ``tree``, with its path: ``[(path, value), ...]``.

    ``key`` names a NamedTuple field (or its Optax alias), a dict key or a NamedTuple class (the
    value is then the NamedTuple itself). Values nested inside a found value are found too.

    Args:
        tree: the tree to search, such as an optimizer state.
        key: the name to look for.
        filtering: ``filtering(path, value) -> bool`` keeps only the values it accepts.

    Returns:
        The ``(path, value)`` pairs, outer ones first, as Optax orders them.
    """
    found = _all_with_path(tree, key)
    if filtering is not None:
        found = [(path, value) for path, value in found if filtering(path, value)]
    return found


def get(tree: PyTree, key: Any, default: Optional[Any] = None,
        filtering: Optional[Filtering] = None) -> Any:
    """The one value named ``key`` in ``tree``, or ``default`` if there is none.

    ``get(state, "count")`` is the step count of the chain that reads it; ``get(state,
    "learning_rate")`` a hyperparameter of an :func:`gradxform.inject_hyperparams` state.

    Args:
        tree: the tree to search.
        key: the name to look for (see :func:`get_all_with_path`).
        default: returned when nothing is named ``key``.
        filtering: ``filtering(path, value) -> bool`` keeps only the values it accepts.

    Returns:
        The value found, or ``default``.

    Raises:
        KeyError: if several values are named ``key``; choose one with ``filtering``.
    """
    found = get_all_with_path(tree, key, filtering)
    if len(found) > 1:
        paths = ", ".join(_shown(path) for path, _ in found)
        raise KeyError(FOUND_SEVERAL.format(count=len(found), key=key, paths=paths))
    return found[0][1] if found else default


def set(tree: PyTree, filtering: Optional[Filtering] = None, /, **kwargs: Any) -> PyTree:  # noqa: A001
    """A copy of ``tree`` with every value named by a keyword replaced by that keyword's value.

    ``set(state, count=0)`` restarts a chain's step count; Optax's field names are written
    through to the field they alias (``trace=`` writes the heavy-ball momentum's ``mu``).

    Args:
        tree: the tree, such as an optimizer state.
        filtering: ``filtering(path, value) -> bool`` limits the replacement to the values it
            accepts.
        **kwargs: the names and their new values.

    Returns:
        The new tree; ``tree`` is not modified.

    Raises:
        KeyError: if a name matches no value (that ``filtering`` accepts).
    """
    for key in kwargs:
        if not get_all_with_path(tree, key, filtering):
            filtered = " that filtering accepts" if filtering is not None else ""
            raise KeyError(NOT_FOUND.format(key=key, filtered=filtered))
    return _set(tree, (), kwargs, filtering or (lambda path, value: True))


def map_params(
    initable: Union[Callable[[Params], OptState], Initable],
    f: Callable[..., Any],
    state: OptState,
    /,
    *rest: Any,
    transform_non_params: Optional[Callable[..., Any]] = None,
    is_leaf: Optional[Callable[[Params], bool]] = None,
) -> OptState:
    """Apply ``f`` to every leaf of every params-shaped tree in ``state``.

    The trees shaped like the params (momenta, second moments) are found by calling
    ``initable``'s ``init`` on a placeholder for the params; the rest (step counts,
    hyperparameters, keys) is left as it is or passed to ``transform_non_params``. The usual use
    is a sharding spec for the state from the params' specs:
    ``map_params(opt, lambda _, spec: spec, state, param_specs, transform_non_params=lambda _: P())``.

    Args:
        initable: a transformation (anything with ``init``), or an ``init`` function.
        f: called leaf by leaf as ``f(leaf, *rest_leaves)``.
        state: the state, as ``init`` returned it (or shaped like it).
        *rest: trees shaped like the params, passed to ``f`` alongside.
        transform_non_params: called on every other leaf of the state; ``None`` keeps them.
        is_leaf: passed to :func:`jax.tree.map` over each params-shaped tree.

    Returns:
        A tree shaped like ``state``.
    """
    init = initable.init if isinstance(initable, Initable) else initable
    template = init(_ParamsPlaceholder())

    def visit(slot: Any, value: Any) -> Any:
        if isinstance(slot, _ParamsPlaceholder):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        return value if transform_non_params is None else transform_non_params(value)

    return jax.tree.map(visit, template, state, is_leaf=lambda x: isinstance(x, _ParamsPlaceholder))


tree_map_params = map_params  # Optax's top-level name for it (gradxform.tree_map_params)


class _ParamsPlaceholder:
    """Stands for the params in :func:`map_params`: a tree node without children."""


jax.tree_util.register_pytree_node(_ParamsPlaceholder, lambda _: ((), None),
                                   lambda aux, children: _ParamsPlaceholder())


def is_params_placeholder(params: Any) -> bool:
    """Whether ``params`` is the placeholder with which :func:`map_params` (or Optax's
    ``tree_map_params``, whose placeholder is its private ``_ParamsPlaceholder``) calls ``init``.

    Wrappers whose mask or labels are fixed at construction (``masked``, ``partition``) pass it
    through to their inner ``init`` unmasked, so that the params-shaped trees of their state are
    found, as Optax's own ``masked`` does.
    """
    kind = type(params)
    return kind is _ParamsPlaceholder or (
        kind.__name__ == "_ParamsPlaceholder" and kind.__module__.startswith("optax."))


# --- Walking a tree with NamedTuple fields by name ----------------------------------------------


def _is_record(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


def _has_any(node: Any, keys: tuple) -> bool:
    """Whether ``node`` has a field, key or class name among ``keys``."""
    if _is_record(node):
        return any(key in node._fields or key == type(node).__name__ for key in keys)
    if isinstance(node, dict):
        return any(_hashable(key) and key in node for key in keys)
    return False


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _children(path: KeyPath, node: Any) -> list[tuple[KeyPath, Any]]:
    """A record's fields or a dict's entries, with their paths."""
    if _is_record(node):
        name = type(node).__name__
        return [((*path, NamedTupleKey(name, field)), getattr(node, field)) for field in node._fields]
    return [((*path, jax.tree_util.DictKey(key)), value) for key, value in node.items()]


def _leaves(tree: PyTree, stop: Callable[[Any], bool]) -> list[tuple[KeyPath, Any]]:
    """The leaves of ``tree`` with their paths, stopping at nodes where ``stop`` holds and opening
    records field by field (so that their paths name the fields)."""
    out = []
    opened = jax.tree_util.tree_leaves_with_path(tree, is_leaf=lambda x: stop(x) or _is_record(x))
    for path, node in opened:
        if stop(node) or not _is_record(node):
            out.append((tuple(path), node))
            continue
        for field_path, child in _children(tuple(path), node):
            out += [((*field_path, *inner), leaf) for inner, leaf in _leaves(child, stop)]
    return out


def _all_with_path(tree: PyTree, key: Any) -> list[tuple[KeyPath, Any]]:
    def has(node):
        return _has_any(node, (key,))

    holders = [(path, node) for path, node in _leaves(tree, has) if has(node)]
    found = [_value_at(path, node, key) for path, node in holders]
    for path, node in holders:
        for child_path, child in _children(path, node):
            found += [((*child_path, *inner), value) for inner, value in _all_with_path(child, key)]
    return found


def _value_at(path: KeyPath, node: Any, key: Any) -> tuple[KeyPath, Any]:
    if _is_record(node):
        if key == type(node).__name__:
            return path, node
        return (*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)
    return (*path, jax.tree_util.DictKey(key)), node[key]


def _set(node: Any, path: KeyPath, kwargs: dict, accepts: Filtering) -> Any:
    """``node`` with the values named in ``kwargs`` (and accepted) replaced, at any depth."""
    if _is_record(node):
        name = type(node).__name__
        if name in kwargs and accepts(path, node):
            return kwargs[name]
        changes = {}
        for field in (*node._fields, *aliases_of(node._fields)):
            child_path, child = (*path, NamedTupleKey(name, field)), getattr(node, field)
            if field in kwargs and accepts(child_path, child):
                changes[field] = kwargs[field]
            elif field in node._fields and field not in changes:
                new = _set(child, child_path, kwargs, accepts)
                if new is not child:
                    changes[field] = new
        return node._replace(**changes) if changes else node
    if isinstance(node, dict):
        new_dict, changed = {}, False
        for key, child in node.items():
            child_path = (*path, jax.tree_util.DictKey(key))
            new = kwargs[key] if _hashable(key) and key in kwargs and accepts(child_path, child) \
                else _set(child, child_path, kwargs, accepts)
            changed |= new is not child
            new_dict[key] = new
        return new_dict if changed else node
    return _set_inside(node, path, kwargs, accepts)


def _set_inside(node: Any, path: KeyPath, kwargs: dict, accepts: Filtering) -> Any:
    """Any other container (a tuple, a list, a registered node): one level of its JAX tree."""
    flat, treedef_ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    treedef: Any = treedef_
    if len(flat) == 1 and not flat[0][0]:  # a leaf
        return node
    children = [child for _, child in flat]
    new = [_set(child, (*path, *key), kwargs, accepts) for (key, _), child in zip(flat, children)]
    if all(a is b for a, b in zip(new, children)):
        return node
    return treedef.unflatten(new)


def _shown(path: KeyPath) -> str:
    return "".join(f".{key.name}" if isinstance(key, NamedTupleKey) else jax.tree_util.keystr((key,))
                   for key in path) or "<root>"
