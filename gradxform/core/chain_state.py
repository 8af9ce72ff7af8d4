"""A chain's state: a record of three fields that crosses a jit boundary as one flat list of arrays.

Every time a jitted step is called, JAX flattens the arguments into buffers and rebuilds the
returned state from them, node by node: each NamedTuple it rebuilds is a Python call. Adam as a
chain of five primitives has about thirty such nodes (a ``RatioState``, a state per link, the
slots of its packed hyperparameters), Optax's monolithic Adam eight, and on a small model that
difference is most of the gap between the two steps (measured: 10 us of a 23 us call).

So :class:`ChainState` keeps its ``parts`` and ``hyperparams`` as the flat list of their arrays
plus their static structure, and rebuilds the link states only when they are read. JAX sees one
node whose children are ``step`` and the arrays (and, kept whole, any node of another library,
such as Flax's ``nnx.Variable``); the paths it gives them read as before
(``.parts[0].numerator[0].mu['w']``). To Python, and to Flax's serializers, it is a NamedTuple:
fields ``step``, ``parts``, ``hyperparams``, with ``_replace``, ``_asdict`` and positional access.
The one difference: ``jax.tree`` functions with ``is_leaf`` do not stop at the link states inside,
which are not nodes of the tree; read ``state.parts`` to walk them, or :func:`expanded`.
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import jax

PyTree = Any


class ChainState(tuple):
    """The state of :func:`gradxform.chain`.

    Fields:
        step: int32 scalar, the updates applied so far; saturates at 2**31 - 1.
        parts: one state per link, in order; each hyperparameter is a slot into the bank.
        hyperparams: the :class:`HyperparameterBank` of every link's hyperparameters, or ``None``.
    """

    __slots__ = ()
    _fields = ("step", "parts", "hyperparams")
    packs_hyperparameters = True  # read by gradxform.hyperparams and set_hyperparams

    # Stored as the tuple (step, arrays, structure): ``structure`` unflattens ``arrays`` into the
    # pair (parts, hyperparams).
    def __new__(cls, step: Any, parts: PyTree, hyperparams: PyTree = None) -> "ChainState":
        arrays, structure = jax.tree.flatten((parts, hyperparams), is_leaf=_kept_whole)
        return tuple.__new__(cls, (step, tuple(arrays), structure))

    @property
    def step(self) -> Any:
        return tuple.__getitem__(self, 0)

    @property
    def parts(self) -> PyTree:
        return self._fields_after_step()[0]

    @property
    def hyperparams(self) -> PyTree:
        return self._fields_after_step()[1]

    def _fields_after_step(self) -> tuple:
        return tuple.__getitem__(self, 2).unflatten(tuple.__getitem__(self, 1))

    # --- the NamedTuple interface ---

    def __iter__(self) -> Iterator:
        return iter((self.step, *self._fields_after_step()))

    def __len__(self) -> int:
        return len(self._fields)

    def __getitem__(self, index):  # type: ignore[override]
        return tuple(self)[index]

    def __repr__(self) -> str:
        return "ChainState(" + ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self)) + ")"

    def __reduce__(self):
        return (ChainState, tuple(self))

    def _asdict(self) -> dict:
        return dict(zip(self._fields, self))

    def _replace(self, **changes: Any) -> "ChainState":
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise ValueError(f"Got unexpected field names: {unknown}")
        return ChainState(**{**self._asdict(), **changes})

    @classmethod
    def _make(cls, iterable) -> "ChainState":
        return cls(*iterable)


def _is_record(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


def _kept_whole(node: Any) -> bool:
    """Whether a node inside the parts stays a subtree of its own rather than being flattened.

    Records, plain tuples, lists and dicts are flattened into the chain's node. Any other
    container (a Flax ``nnx.Variable``, a ``FrozenDict``) stays a child node, so that libraries
    that find their own types with ``is_leaf`` still see them.
    """
    return not (node is None or type(node) in (tuple, list, dict) or _is_record(node))


def _flatten(state: ChainState) -> tuple[tuple, Any]:
    return (tuple.__getitem__(state, 0), *tuple.__getitem__(state, 1)), tuple.__getitem__(state, 2)


def _unflatten(structure: Any, children) -> ChainState:
    children = tuple(children)
    return tuple.__new__(ChainState, (children[0], children[1:], structure))


def _flatten_with_keys(state: ChainState) -> tuple[list, Any]:
    """Each array keyed by its path from the state, as a NamedTuple's would be: ``parts[0].mu['w']``."""
    step, *arrays = _flatten(state)[0]
    structure = tuple.__getitem__(state, 2)
    # the paths of the structure filled with positions, so that None children cannot shift them
    paths = jax.tree_util.tree_flatten_with_path(structure.unflatten(range(len(arrays))))[0]
    keys = [
        jax.tree_util.GetAttrKey(ChainState._fields[1 + path[0].idx] + jax.tree_util.keystr(path[1:]))
        for path, _ in paths
    ]
    return [(jax.tree_util.GetAttrKey("step"), step), *zip(keys, arrays)], structure


jax.tree_util.register_pytree_with_keys(ChainState, _flatten_with_keys, _unflatten, _flatten)


def map_states(fn, tree: PyTree, *rest: PyTree, is_leaf=None) -> PyTree:
    """``jax.tree.map(fn, tree, *rest, is_leaf=is_leaf)`` that also stops at nodes inside chains.

    NamedTuple-like records (a :class:`ChainState` among them) are walked field by field, so
    ``is_leaf`` sees every link state, as it would if chains were plain NamedTuples. ``None``
    stays ``None``; other containers are left to ``jax.tree.map``.
    """

    def visit(node, *others):
        if is_leaf is not None and is_leaf(node):
            return fn(node, *others)
        if node is None:
            return None
        if _is_record(node):
            return type(node)(*(visit(getattr(node, f), *(getattr(o, f) for o in others))
                                for f in node._fields))
        if type(node) in (tuple, list):
            return type(node)(visit(*items) for items in zip(node, *others))
        if type(node) is dict:
            return {key: visit(child, *(o[key] for o in others)) for key, child in node.items()}
        return jax.tree.map(fn, node, *others, is_leaf=is_leaf)

    return visit(tree, *rest)


def find_states(tree: PyTree, predicate) -> list:
    """Every node of ``tree`` for which ``predicate`` holds, link states inside chains included."""
    found: list = []
    map_states(found.append, tree, is_leaf=predicate)
    return [node for node in found if predicate(node)]


class ExpandedChainState(NamedTuple):
    """A :class:`ChainState` as a plain NamedTuple, whose link states are nodes of its JAX tree."""

    step: Any
    parts: PyTree
    hyperparams: PyTree


def expanded(tree: PyTree) -> PyTree:
    """``tree`` with every :class:`ChainState` as an :class:`ExpandedChainState`.

    Its leaves come in the same order as ``tree``'s, and ``jax.tree_util`` paths and ``is_leaf``
    see every link state, as for any NamedTuple: for walking a state, not for passing to jit.
    """
    def expand(node):
        if not isinstance(node, ChainState):
            return node
        return ExpandedChainState(node.step, expanded(node.parts), expanded(node.hyperparams))

    return map_states(expand, tree, is_leaf=lambda node: isinstance(node, ChainState))
