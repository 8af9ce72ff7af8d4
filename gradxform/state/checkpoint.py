"""Optimizer state as a plain nested dict of arrays, for any checkpointer, restored with a check.

A state is already plain data (arrays in NamedTuples), and Flax's serializers and Orbax write it
as it is. What they cannot do is say, on the way back, whether the saved state fits the
optimizer it is restored into: they fill a template leaf by leaf, and a state saved from another
optimizer, another version of a recipe or other params fails with a message about the
checkpointer's internals, or, where the leaves happen to line up, not at all.
:func:`state_to_dict` writes the state with its layout (the type of every part, by path);
:func:`state_from_dict` compares both with a template state and rebuilds it exactly, or raises a
:class:`StateMismatchError` that lists, by path, every part that differs.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import tables as _tables
from ..core.hyperparams import Hyperparams
from ..core.types import PyTree

FORMAT = 1  # the version of the layout written by state_to_dict; bumped when it changes
_MAX_LISTED = 12  # differences shown per kind in an error; the rest are counted


class StateMismatchError(ValueError):
    """A saved state does not fit the optimizer it is restored into.

    The message lists every difference by path (keys joined by ``/``, e.g. ``links/0/denominator/0/nu/w``):
    state types, parts missing from the saved state, unexpected parts, shapes and dtypes.
    ``differences`` holds the same lines, one string each.
    """

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


def state_to_dict(state: PyTree) -> dict[str, Any]:
    """The state as a nested dict of arrays, with its layout, ready for any checkpointer.

    NamedTuple fields are keyed by name, tuple and list items by their index as a string, dict
    entries by their key as a string; hyperparameter records are NamedTuples like any other part.
    Leaves are the state's own arrays, not copied (a typed PRNG key becomes its ``uint32`` key
    data; a Python number a NumPy scalar array); ``None`` leaves are left out. The result is
    ``{"state": <that dict>, "layout": <uint8 array>}``, where the layout is the JSON text
    ``{"format": 1, "types": {path: type name}}`` naming every container of the state (such as
    ``"links/0": "ScaleByMomentumState"``), so that :func:`state_from_dict` can say which part
    of a state saved from another recipe differs. Nothing but arrays is stored, so Orbax and
    ``flax.serialization`` write and read it without custom handlers.

    Args:
        state: an optimizer state, e.g. ``opt.init(params)`` or one returned by ``opt.update``.

    Returns:
        ``{"state": dict, "layout": numpy.ndarray}``, to save as it is.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sgd(0.1, momentum=0.9)
        >>> saved = gx.state_to_dict(opt.init({"w": jnp.zeros(2)}))
        >>> saved["state"]["links"]["0"]["mu"]["w"]
        Array([0., 0.], dtype=float32)

    Saving with ``flax.serialization`` (msgpack bytes) and with Orbax::

        data = flax.serialization.msgpack_serialize(gx.state_to_dict(state))
        with orbax.checkpoint.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, gx.state_to_dict(state))
    """
    types: dict[str, str] = {}
    tree = _to_dict(state, (), types)
    layout = json.dumps({"format": FORMAT, "types": types}, sort_keys=True).encode()
    return {"state": {} if tree is None else tree, "layout": np.frombuffer(layout, np.uint8).copy()}


def state_from_dict(template_state: PyTree, saved_dict: Mapping[str, Any], *,
                    hyperparams: str = "saved") -> PyTree:
    """The state saved by :func:`state_to_dict`, rebuilt with the types of ``template_state``.

    ``saved_dict`` is checked against the template before anything is built: every array must
    be there, with the template's shape and exactly its dtype (nothing is cast: a float64 state
    restored into a float32 optimizer is an error, not a silent rounding), nothing else may be,
    and the state types recorded in the layout must be the template's. Parts without arrays
    (:class:`EmptyState`, an empty dict) may be absent, as some checkpointers drop them. Each
    array is placed like the template's (same sharding); a typed PRNG key is rebuilt from its
    key data. Restoring and continuing gives, bit for bit, the run that was never interrupted.

    Hyperparameters are part of the state, and by default the saved ones win: a state saved
    from ``adam(learning_rate=1e-3)`` and restored into ``adam(learning_rate=0.1)`` goes on with
    1e-3, and :func:`gradxform.hyperparams` reports 1e-3 (a resumed run expects the values it
    was saved with; the same holds for a state unpickled or restored with ``flax.serialization``
    and used by an optimizer built with other numbers). A value stored as the saved optimizer's
    own number is then used in float32 (float64 under x64), so results may differ from a run of
    an optimizer built with that number in the last bit of a derived form such as ``1 - b2``.
    A schedule is not data: the restored optimizer's schedule is followed from the saved step
    on. To train with the new optimizer's values instead, pass ``hyperparams="optimizer"``, or
    set some of them with :func:`gradxform.set_hyperparams` after restoring.

    Args:
        template_state: a state of the optimizer to restore into, usually ``opt.init(params)``
            (or ``jax.eval_shape(opt.init, params)``: leaves need only ``shape`` and ``dtype``).
        saved_dict: what :func:`state_to_dict` returned, after a round trip through a
            checkpointer (NumPy or JAX arrays; the ``layout`` entry may be missing, which skips
            the check of state types).
        hyperparams: ``"saved"`` (the default) keeps the saved hyperparameters (values given
            and values set); ``"optimizer"`` takes the template's, which must then be a
            concrete state (``opt.init(params)``, not ``jax.eval_shape``), and keeps every
            other part of the saved state.

    Returns:
        A state of the template's exact types, holding the saved arrays.

    Raises:
        StateMismatchError: (a ``ValueError``) listing, by path, every state type, part, shape
            and dtype that differs.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"w": jnp.zeros(2)}
        >>> saved = gx.state_to_dict(gx.adam(1e-3).init(params))
        >>> state = gx.state_from_dict(gx.adam(1e-3).init(params), saved)
        >>> try:
        ...     gx.state_from_dict(gx.sgd(1e-3).init(params), saved)
        ... except gx.StateMismatchError as error:
        ...     print(error.differences[1])
        saved RatioState at links/0, this optimizer has EmptyState

    Restoring from ``flax.serialization`` bytes and from Orbax::

        state = gx.state_from_dict(opt.init(params), flax.serialization.msgpack_restore(data))
        with orbax.checkpoint.StandardCheckpointer() as checkpointer:
            state = gx.state_from_dict(opt.init(params), checkpointer.restore(path))
    """
    _check.choice("state_from_dict", "hyperparams", hyperparams, _CHOICES)
    if not isinstance(saved_dict, Mapping) or "state" not in saved_dict:
        raise TypeError(_check.NOT_A_SAVED_STATE.format(got=_check.describe(saved_dict)))
    saved_types = _read_layout(saved_dict.get("layout"))
    template_types = _layout(template_state)
    found = _Differences()
    if saved_types is not None:
        for path in sorted(set(saved_types) & set(template_types)):
            if saved_types[path] != template_types[path]:
                found.types.append(
                    f"saved {saved_types[path]} at {_shown(path)}, this optimizer has "
                    f"{template_types[path]}"
                )
    _compare(template_state, saved_dict["state"], (), saved_types or {}, found)
    if found:
        raise StateMismatchError(
            _check.STATE_MISMATCH.format(who="state_from_dict", details=found.report()),
            found.lines(),
        )
    restored = _rebuild(template_state, saved_dict["state"])
    if hyperparams == "optimizer":
        restored = _with_hyperparams_of(template_state, restored)
    return restored


_CHOICES = ("saved", "optimizer")


def _with_hyperparams_of(template_state: PyTree, restored: PyTree) -> PyTree:
    """``restored`` holding the (concrete) hyperparameter tables of ``template_state``."""
    new = [node for _, node in _tables.tables(template_state)]
    if not all(isinstance(leaf, (jax.Array, np.ndarray)) for leaf in jax.tree.leaves(new)):
        raise ValueError(_check.ABSTRACT_HYPERPARAMS)
    return _tables.with_tables(restored, new)


# --- walking a state one level at a time -------------------------------------------------------


def _children(node: PyTree) -> tuple[list[tuple[str, Any]], Callable[[list], Any]] | None:
    """``([(name, child), ...], rebuild)`` for a container, ``None`` for a leaf.

    ``rebuild(children)`` makes a node of the same kind from new children, in the same order.
    NamedTuples are read field by field; other containers (a :class:`ChainState`, a
    :class:`Hyperparams`) one level of their JAX tree.
    """
    if node is None:
        return None
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return [(f, getattr(node, f)) for f in node._fields], lambda children: type(node)(*children)
    flat, treedef_ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    treedef: Any = treedef_
    if len(flat) == 1 and not flat[0][0]:  # one child at the empty path: the node itself, a leaf
        return None
    return [(_key_name(path[0]), child) for path, child in flat], treedef.unflatten


def _key_name(key: Any) -> str:
    for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey / FlattenedIndexKey, SequenceKey
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _join(path: tuple, name: str) -> tuple:
    return path + (name,)


def _shown(path: tuple | str) -> str:
    text = path if isinstance(path, str) else "/".join(path)
    return text or "<root>"


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _to_dict(node: PyTree, path: tuple, types: dict[str, str]) -> Any:
    """The node as nested dicts (``None`` for a ``None`` leaf); container types go into ``types``."""
    if node is None:
        return None
    children = _children(node)
    if children is None:
        return _stored_leaf(node, path)
    types["/".join(path)] = _type_name(node)
    out: dict[str, Any] = {}
    for name, child in children[0]:
        if name in out:
            raise ValueError(_check.KEY_COLLISION.format(path=_shown(path), key=name))
        value = _to_dict(child, _join(path, name), types)
        if value is not None:
            out[name] = value
    return out


def _layout(node: PyTree, path: tuple = ()) -> dict[str, str]:
    """The type name of every container in ``node``, by path (as :func:`state_to_dict` records them)."""
    children = _children(node)
    if children is None:
        return {}
    types = {"/".join(path): _type_name(node)}
    for name, child in children[0]:
        types.update(_layout(child, _join(path, name)))
    return types


def _stored_leaf(leaf: Any, path: tuple) -> Any:
    if _is_key(leaf):
        return jax.random.key_data(leaf)
    if isinstance(leaf, (jax.Array, np.ndarray)):
        return leaf
    if isinstance(leaf, (bool, int, float, complex, np.generic)):
        return np.asarray(leaf)
    raise TypeError(_check.NOT_AN_ARRAY_LEAF.format(path=_shown(path), got=_check.describe(leaf)))


def _read_layout(layout: Any) -> dict[str, str] | None:
    if layout is None:
        return None
    try:
        decoded = json.loads(np.asarray(layout, np.uint8).tobytes().decode())
        version, types = decoded["format"], decoded["types"]
    except (TypeError, ValueError, KeyError):
        raise TypeError(_check.NOT_A_SAVED_STATE.format(got="a dict whose 'layout' is unreadable")) from None
    if version != FORMAT:
        raise ValueError(_check.LAYOUT_FORMAT.format(got=version, expected=FORMAT))
    return types


# --- comparing a saved dict with a template ----------------------------------------------------


class _Differences:
    def __init__(self) -> None:
        self.types: list[str] = []
        self.missing: list[str] = []
        self.unexpected: list[str] = []
        self.shapes: list[str] = []
        self.dtypes: list[str] = []

    def _sections(self) -> list[tuple[str, list[str]]]:
        return [
            (_check.STATE_TYPES_DIFFER, self.types),
            (_check.STATE_MISSING, self.missing),
            (_check.STATE_UNEXPECTED, self.unexpected),
            (_check.STATE_SHAPES_DIFFER, self.shapes),
            (_check.STATE_DTYPES_DIFFER, self.dtypes),
        ]

    def __bool__(self) -> bool:
        return any(items for _, items in self._sections())

    def lines(self) -> list[str]:
        return [item for _, items in self._sections() for item in items]

    def report(self) -> str:
        text = ""
        for title, items in self._sections():
            if not items:
                continue
            text += f"\n  {title}:"
            for item in items[:_MAX_LISTED]:
                text += f"\n    {item}"
            if len(items) > _MAX_LISTED:
                text += f"\n    ... and {len(items) - _MAX_LISTED} more"
        return text


def _expected(leaf: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a saved array must have to fill this template leaf."""
    if _is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        return tuple(data.shape), np.dtype(data.dtype)
    if isinstance(leaf, (bool, int, float, complex)):
        return (), np.asarray(leaf).dtype
    return tuple(leaf.shape), np.dtype(leaf.dtype)


def _describe_array(shape: tuple, dtype: Any) -> str:
    return f"{np.dtype(dtype).name}{list(shape)}"


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Mapping)


def _summary(node: Any, kind: str | None) -> str:
    """``"(ScaleByMomentumState, 2 arrays)"`` or ``"(float32[3])"`` for a subtree."""
    if _is_array(node):
        return f"({_describe_array(node.shape, node.dtype)})"
    count = sum(1 for leaf in jax.tree.leaves(node) if leaf is not None)
    arrays = f"{count} array{'' if count == 1 else 's'}"
    return f"({kind}, {arrays})" if kind else f"({arrays})"


def _has_arrays(node: PyTree) -> bool:
    return any(leaf is not None for leaf in jax.tree.leaves(node))


def _compare(template: PyTree, saved: Any, path: tuple, saved_types: dict, found: _Differences) -> None:
    children = _children(template)
    here = "/".join(path)
    if children is None:  # an array leaf of the template
        if not _is_array(saved):
            kind = saved_types.get(here) or ("a dict" if isinstance(saved, Mapping) else type(saved).__name__)
            shape, dtype = _expected(template)
            found.types.append(
                f"saved {kind} at {_shown(path)}, this optimizer has an array "
                f"{_describe_array(shape, dtype)}"
            )
            return
        shape, dtype = _expected(template)
        if tuple(saved.shape) != shape:
            found.shapes.append(f"{_shown(path)}: saved {tuple(saved.shape)}, this optimizer {shape}")
        if np.dtype(saved.dtype) != dtype:
            found.dtypes.append(f"{_shown(path)}: saved {np.dtype(saved.dtype).name}, this optimizer {dtype.name}")
        return
    if not isinstance(saved, Mapping):
        found.types.append(
            f"saved an array {_summary(saved, None)[1:-1]} at {_shown(path)}, this optimizer has "
            f"{_type_name(template)}"
        )
        return
    names = set()
    for name, child in children[0]:
        names.add(name)
        child_path = _join(path, name)
        if child is None:
            if name in saved:
                found.unexpected.append(
                    f"{_shown(child_path)} {_summary(saved[name], saved_types.get('/'.join(child_path)))}")
        elif name in saved:
            _compare(child, saved[name], child_path, saved_types, found)
        elif _has_arrays(child):
            found.missing.append(f"{_shown(child_path)} {_summary(child, _kind(child))}")
    for name in saved:
        if name not in names:
            child_path = _join(path, str(name))
            found.unexpected.append(
                f"{_shown(child_path)} {_summary(saved[name], saved_types.get('/'.join(child_path)))}"
            )


def _kind(node: PyTree) -> str | None:
    return None if _children(node) is None else _type_name(node)


def _type_name(node: PyTree) -> str:
    """A container's type by name; a chain's hyperparameters with the names of their rows, so
    that a state of another recipe (Adam's restored into AdamW) is named by what differs."""
    if isinstance(node, Hyperparams):
        return f"Hyperparams({', '.join(node.names)})"
    return type(node).__name__


def _rebuild(template: PyTree, saved: Any) -> PyTree:
    children = _children(template)
    if children is None:
        return None if template is None else _restored_leaf(template, saved)
    items, rebuild = children
    return rebuild([None if child is None else _rebuild(child, saved.get(name, {})) for name, child in items])


def _restored_leaf(template: Any, saved: Any) -> Any:
    if isinstance(template, (bool, int, float, complex)):
        return type(template)(np.asarray(saved).item())
    if isinstance(template, np.ndarray):
        return np.array(saved)
    if _is_key(template):
        return jax.random.wrap_key_data(jnp.asarray(saved), impl=jax.random.key_impl(template))
    value = saved if isinstance(saved, jax.Array) else np.asarray(saved)
    sharding = getattr(template, "sharding", None)  # None for a ShapeDtypeStruct without one
    return jnp.asarray(value) if sharding is None else jax.device_put(value, sharding)
