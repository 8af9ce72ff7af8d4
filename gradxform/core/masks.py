"""Masks: the one way every ``mask=`` argument is read, checked and applied.

A mask says which leaves of the params a transformation touches. Everywhere gradxform takes one
(:func:`gradxform.masked`, :func:`gradxform.freeze`, :func:`gradxform.partition`'s labels,
``weight_decay``'s and every alias's ``mask``, the trust-ratio masks of LARS and LAMB) it may be

* ``True``/``False`` leaves in a tree shaped like the params, or a prefix of it (one leaf standing
  for a whole subtree: ``{"encoder": False, "head": True}``);
* a function ``params -> such a tree`` (called on the params at ``init`` and on the updates at
  ``update``, as Optax does; it is a function when every leaf of it is callable, so a callable
  pytree of bools, an Equinox module say, is the mask itself);
* a glob pattern or a list of them (``"encoder/*"``), read as :func:`path_mask` ``(params,
  patterns)``.

It is checked against the params by :func:`resolve`, with one error format: the paths found on
one side only, each with the nearest path of the other side. Patterns follow :func:`matcher`:
key paths joined by ``/``, case-insensitive, a Flax NNX ``Variable``'s trailing ``/value``
optional, and a pattern that matches no leaf is an error that lists the nearest paths.
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Any, Callable, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import check as _check
from .masked_node import MaskedNode as MaskedNode
from .protocol import GradientTransformation
from .tree_access import is_params_placeholder
from .types import PyTree

Patterns = Union[str, Sequence[str]]

MAX_LISTED = 12  # paths shown in an error message before "... and N more"
NEAREST = 5  # nearest paths suggested for a pattern or a path that matches nothing

UNMATCHED_PATTERN = (
    "{who}: the pattern {pattern!r} ({name}) matches no parameter, so it would silently do "
    "nothing. Patterns are globs over key paths joined by '/', matched case-insensitively "
    "('*' crosses '/'). Nearest paths: {nearest}. Fix the pattern, or pass allow_unmatched=True "
    "where a pattern may legitimately match nothing."
)


def is_function(mask: Any) -> bool:
    """Whether a mask (or label tree) is a function of the params, decided as Optax's ``masked``
    decides it: every leaf of it is callable. A plain function is its own one leaf; a callable
    pytree (an Equinox module of bools, say) has leaves that are not, and is the mask itself."""
    leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(leaves) and all(leaves)


def is_patterns(mask: Any) -> bool:
    """Whether a mask is a glob pattern or a non-empty list (or tuple) of them."""
    if isinstance(mask, str):
        return True
    return isinstance(mask, (list, tuple)) and bool(mask) and all(isinstance(p, str) for p in mask)


def resolve(who: str, mask: Any, tree: PyTree, name: str = "mask") -> PyTree:
    """``mask`` for ``tree`` as a prefix tree of Python bools, checked.

    A function is called on ``tree``, patterns are matched against its paths; the result must be
    a prefix of ``tree`` whose leaves are static bools. Raises the one mask error otherwise.
    """
    if is_patterns(mask):
        mask = path_mask(who, tree, include=mask)
    elif is_function(mask):
        mask = mask(tree)
    mask = _plain_where_tree_is_plain(mask, tree)
    check_prefix(who, name, mask, tree)

    def as_bool(path, m):
        if isinstance(m, (bool, np.bool_)):
            return bool(m)
        if isinstance(m, (np.ndarray, jax.Array)) and m.shape == () and m.dtype == bool:
            try:
                return bool(m)
            except jax.errors.ConcretizationTypeError:
                pass
        raise TypeError(
            _check.NOT_A_BOOL_MASK.format(who=who, got=_check.describe(m), path=path_string(path))
        )

    return jax.tree_util.tree_map_with_path(as_bool, mask)


def select(keep: PyTree, chosen: PyTree, other: PyTree) -> PyTree:
    """``chosen`` where the resolved mask ``keep`` is ``True``, ``other`` elsewhere (by subtree)."""
    return jax.tree.map(lambda m, a, b: a if m else b, keep, chosen, other)


def hide(tree: PyTree, keep: PyTree) -> PyTree:
    """``tree`` with every subtree that ``keep`` marks ``False`` replaced by a :class:`MaskedNode`."""
    return jax.tree.map(lambda m, x: x if m else MaskedNode(), keep, tree)


# --- Key paths and patterns ----------------------------------------------------------------------


def path_string(path) -> str:
    """A key path as patterns see it: keys joined by ``/`` (``"enc/0/bias"``)."""
    return "/".join(_key_name(k) for k in path)


def leaf_paths(tree: PyTree) -> list:
    """The key paths of ``tree``'s leaves; a :class:`MaskedNode` (a leaf hidden by a mask or a
    freeze) counts as a leaf, so that patterns keep matching the paths it stands for."""
    items = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_masked_node)[0]
    return [path for path, _ in items]


def map_paths(fn: Callable[[Any], Any], tree: PyTree) -> PyTree:
    """``fn(path)`` at each leaf of ``tree`` (a :class:`MaskedNode` counting as a leaf)."""
    return jax.tree_util.tree_map_with_path(lambda path, _: fn(path), tree, is_leaf=_is_masked_node)


def patterns(who: str, **given) -> tuple[str, ...]:
    """The one pattern or list of patterns given by keyword, checked to be strings."""
    ((name, value),) = given.items()
    found = (value,) if isinstance(value, str) else tuple(value)
    for p in found:
        if not isinstance(p, str):
            raise TypeError(_check.NOT_A_PATTERN.format(who=who, name=name, got=_check.describe(p)))
    return found


def matches(path, pattern: str) -> bool:
    """Whether ``pattern`` matches the key path: an :mod:`fnmatch` glob over the whole path
    written with ``/``, case-insensitive (``"*norm*"`` matches linen's ``LayerNorm_0/scale``), with
    the trailing ``/value`` of a Flax NNX ``Variable`` optional (``"*bias"`` matches NNX's
    ``linear/bias/value``)."""
    pattern = pattern.lower()
    names = [path_string(path).lower()]
    if path and _is_variable_value(path[-1]):
        names.append(path_string(path[:-1]).lower())
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


def check_used(who: str, name: str, used: Sequence[str], tree: PyTree) -> None:
    """Raise for the first pattern of ``used`` that matches no leaf path of ``tree``."""
    paths = leaf_paths(tree)
    if not paths:
        return
    for pattern in used:
        if not any(matches(path, pattern) for path in paths):
            raise ValueError(
                UNMATCHED_PATTERN.format(
                    who=who, pattern=pattern, name=name,
                    nearest=nearest(pattern.replace("*", "").replace("?", ""),
                                    [path_string(p) for p in paths]),
                )
            )


def path_mask(who: str, tree: PyTree, include: Patterns = "*", exclude: Patterns = (),
              allow_unmatched: bool = False) -> PyTree:
    """``True`` at each leaf path matching ``include`` and not ``exclude`` (see :func:`matches`)."""
    include, exclude = patterns(who, include=include), patterns(who, exclude=exclude)
    if not allow_unmatched:
        check_used(who, "include", include, tree)
        check_used(who, "exclude", exclude, tree)

    def keep(path):
        return any(matches(path, p) for p in include) and not any(matches(path, p) for p in exclude)

    return map_paths(keep, tree)


def nearest(target: str, candidates: Sequence[str]) -> str:
    """The few ``candidates`` closest to ``target`` (difflib's ratio, case-insensitive), shown."""
    unique = list(dict.fromkeys(candidates))
    scored = sorted(unique, key=lambda c: -difflib.SequenceMatcher(None, target.lower(), c.lower()).ratio())
    return listing([repr(c) for c in scored[:NEAREST]]) if scored else "(none)"


# --- The one mismatch error ----------------------------------------------------------------------


def check_prefix(who: str, name: str, tree: PyTree, params: PyTree) -> None:
    """Raise, listing the paths found on one side only, unless ``tree`` is a prefix of ``params``.

    Each path of the mask that the params lack is shown with the nearest params path
    (``'encoder/Dense_0/bais' (nearest in the params: 'encoder/Dense_0/bias')``).
    """
    try:
        structure: Any = jax.tree.structure(tree)
        structure.flatten_up_to(params)
        return
    except (ValueError, TypeError):
        pass
    tree_items, param_items = _leaves_with_none(tree), _leaves_with_none(params)

    def covers(p, tree_leaf, q, param_leaf):
        # A None in the tree matches only a None in the params; any other leaf, a whole subtree.
        return q == p and param_leaf is None if tree_leaf is None else q[: len(p)] == p

    only_tree = [p for p, t in tree_items if not any(covers(p, t, q, x) for q, x in param_items)]
    only_params = [q for q, x in param_items if not any(covers(p, t, q, x) for p, t in tree_items)]
    if only_tree or only_params:
        param_paths = [path_string(q) for q, _ in param_items]
        raise ValueError(
            _check.TREE_PATHS_MISMATCH.format(
                who=who, name=name,
                only_name=listing([_with_nearest(p, param_paths, name) for p in only_tree]),
                only_params=listing([shown(p) for p in only_params]),
            )
        )
    raise ValueError(
        _check.TREE_CONTAINERS_MISMATCH.format(
            who=who, name=name, left=jax.tree.structure(tree), right=jax.tree.structure(params)
        )
    )


def shown(path) -> str:
    return repr(path_string(path)) if path else "<root>"


def listing(items: list) -> str:
    if not items:
        return "(none)"
    more = len(items) - MAX_LISTED
    return ", ".join(items[:MAX_LISTED]) + (f", ... and {more} more" if more > 0 else "")


def _with_nearest(path, param_paths: list[str], name: str) -> str:
    close = difflib.get_close_matches(path_string(path), param_paths, n=1, cutoff=0.6)
    return shown(path) + (f" (nearest in the params: {close[0]!r})" if close else "")


def _key_name(key) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _is_variable_value(key) -> bool:
    return isinstance(key, jax.tree_util.GetAttrKey) and key.name == "value"


def _is_variable(x) -> bool:
    """A Flax NNX ``Variable`` (``nnx.Param``...): a box around one value, flattened as ``.value``."""
    return type(x).__module__.startswith("flax.") and callable(getattr(x, "get_value", None))


def _plain_where_tree_is_plain(mask: PyTree, tree: PyTree) -> PyTree:
    """``mask`` with its NNX ``Variable`` boxes opened, if ``tree`` has none.

    A mask built on ``nnx.state(model, nnx.Param)`` keeps the boxes (paths ending in ``/value``),
    while ``nnx.Optimizer`` hands the optimizer the plain arrays: the same mask, unboxed, fits.
    """
    if any(_is_variable(x) for x in jax.tree.leaves(tree, is_leaf=_is_variable)):
        return mask
    if not any(_is_variable(x) for x in jax.tree.leaves(mask, is_leaf=_is_variable)):
        return mask
    return jax.tree.map(lambda x: x.get_value() if _is_variable(x) else x, mask, is_leaf=_is_variable)


def _is_masked_node(x) -> bool:
    return isinstance(x, MaskedNode)


def _leaves_with_none(tree):
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]


# --- Frozen leaves, wherever freeze stands in a chain ---------------------------------------------

_FREEZES = "__gradxform_freezes__"  # on a transformation's update: the masks of what it freezes


def mark_frozen(transform: Any, masks: Sequence[Any]) -> Any:
    """``transform`` recorded as freezing the leaves that any of ``masks`` marks ``True``."""
    setattr(transform.update, _FREEZES, tuple(masks))
    return transform


def frozen_by(transform: Any) -> tuple:
    """The freeze masks recorded on ``transform`` (empty for a transformation that freezes none)."""
    return getattr(getattr(transform, "update", None), _FREEZES, ())


def without_frozen(owner: Any, links: Sequence[Any]) -> Any:
    """``owner`` (a chain of ``links``) run on the leaves no freeze among ``links`` marks.

    The frozen leaves are hidden from every link (each sees a :class:`MaskedNode` there, as
    inside :func:`gradxform.masked`), so no link keeps state for them or moves them (weight
    decay included), and their updates are zero: a frozen leaf stays fixed wherever the freeze
    stands in the chain. ``owner`` is returned as it is when no link freezes anything.
    """
    masks = [m for link in links for m in frozen_by(link)]
    if not masks:
        return owner

    def trained(tree):
        frozen = [_broadcast(resolve("freeze", m, tree), tree) for m in masks]
        return jax.tree.map(lambda *f: not any(f), *frozen)

    def init(params):
        if is_params_placeholder(params):  # tree_map_params looking for params-shaped trees
            return owner.init(params)
        return owner.init(hide(params, trained(params)))

    def update(updates, state, params=None, **extra_args):
        keep = trained(updates)
        params = None if params is None else hide(params, keep)
        new, state = owner.update(hide(updates, keep), state, params, **extra_args)
        zeros = jax.tree.map(lambda g: g if _is_masked_node(g) else jnp.zeros_like(g), updates,
                             is_leaf=_is_masked_node)
        return select(keep, new, zeros), state

    return mark_frozen(GradientTransformation(init, update), masks)


def _broadcast(keep: PyTree, tree: PyTree) -> PyTree:
    """A prefix mask spread to every leaf of ``tree`` (a :class:`MaskedNode` counting as one)."""
    return jax.tree.map(
        lambda m, sub: jax.tree.map(lambda _: m, sub, is_leaf=_is_masked_node), keep, tree,
        is_leaf=_is_masked_node,
    )
