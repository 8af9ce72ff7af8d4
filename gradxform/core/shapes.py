"""Updates that fit their params: tree structure, shapes and dtype kinds, checked when traced.

JAX broadcasts silently: an update of shape ``(1,)`` for a parameter of shape ``(3,)`` would
move all three entries, and a moment of shape ``(3,)`` fed ``(1,)`` updates would return
``(3,)`` updates as if nothing were wrong. Every :func:`gradxform.chain` (so every alias), the
wrappers that keep params-shaped buffers (``MultiSteps``, ``ema_params``, ``swa``) and
:func:`gradxform.apply_updates` call these checks. They read shapes and dtypes only, which are
static: under ``jit`` they run once, when the step is traced, and compile to nothing.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import check as _check
from .tree_access import is_params_placeholder
from .types import PyTree

_PYTHON_NUMBERS = (int, float, complex)


def as_arrays(tree: PyTree) -> PyTree:
    """``tree`` with its Python-number leaves made arrays (``1.0`` -> a weakly typed float32).

    Optax accepts params and updates such as ``{"w": 1.0}``; so does gradxform: a Python float
    is a float32 scalar (float64 under x64), a Python int an integer one (refused as a param).
    """
    if not any(isinstance(x, _PYTHON_NUMBERS) for x in jax.tree.leaves(tree)):
        return tree
    return jax.tree.map(
        lambda x: jnp.asarray(x) if isinstance(x, _PYTHON_NUMBERS) and not isinstance(x, bool) else x,
        tree,
    )


def updates_fit_params(who: str, updates: PyTree, params: PyTree | None) -> None:
    """Raise unless every update is floating point or complex and, where ``params`` is given,
    ``updates`` has its tree structure and each update its parameter's shape or more axes (see
    :func:`_broadcast`), and is complex only for a complex parameter."""
    leaves = jax.tree_util.tree_leaves_with_path(updates)
    for path, update in leaves:
        _inexact(who, path, update)
    if params is None or is_params_placeholder(params):
        return
    _check.same_structure(who, updates=updates, params=params)
    for (path, update), param in zip(leaves, jax.tree.leaves(params)):
        if _broadcast(jnp.shape(update), jnp.shape(param)):
            raise ValueError(_check.UPDATE_NOT_PARAM_SHAPED.format(
                who=who, path=_keys(path), shape=jnp.shape(update), expected=jnp.shape(param)))
        if _is_complex(update) and not _is_complex(param):
            raise TypeError(_check.COMPLEX_UPDATE_REAL_PARAM.format(
                who=who, path=_keys(path), dtype=jnp.result_type(update),
                param_dtype=jnp.result_type(param)))


def step_kept_shapes(who: str, updates: PyTree, out: PyTree, state: PyTree, new_state: PyTree) -> None:
    """Raise if a step broadcast ``updates`` against its state: the updates it returns (``out``)
    must have the shapes of those it was given (or fewer axes: per-example gradients summed),
    and the state it returns the shapes it had."""
    given_def: Any = jax.tree.structure(updates)
    if jax.tree.structure(out) == given_def:
        leaves = jax.tree_util.tree_leaves_with_path(updates)
        for (path, given), returned in zip(leaves, jax.tree.leaves(out)):
            if _broadcast(jnp.shape(given), jnp.shape(returned)):
                raise ValueError(_check.UPDATE_NOT_STATE_SHAPED.format(
                    who=who, path=_keys(path), shape=jnp.shape(given), expected=jnp.shape(returned)))
    state_def: Any = jax.tree.structure(state)
    if jax.tree.structure(new_state) == state_def:
        old = jax.tree_util.tree_leaves_with_path(state)
        for (path, before), after in zip(old, jax.tree.leaves(new_state)):
            if jnp.shape(before) != jnp.shape(after):
                raise ValueError(_check.STATE_BROADCAST.format(
                    who=who, path=jax.tree_util.keystr(path), before=jnp.shape(before),
                    after=jnp.shape(after)))


def misfit_update(who: str, updates: PyTree, state: PyTree) -> ValueError | None:
    """Where a failed step's ``updates`` do not fit ``state``: the error to raise for the first
    update whose shape differs from an array of the state at the same path (a moment kept per
    parameter), or ``None``. Read after a step failed, to explain an error JAX raised."""
    structure: Any = jax.tree.structure(updates)
    if structure.num_nodes == 1:  # a bare array: any array of the state would match its path
        return None
    shaped_like: list = []

    def is_shaped_like(node: Any) -> bool:
        if jax.tree.structure(node) != structure:
            return False
        shaped_like.append(node)
        return True

    jax.tree.leaves(state, is_leaf=is_shaped_like)
    for kept in shaped_like:
        for (path, update), array in zip(jax.tree_util.tree_leaves_with_path(updates),
                                         jax.tree.leaves(kept)):
            if _broadcast(jnp.shape(update), jnp.shape(array)):
                return ValueError(_check.UPDATE_NOT_STATE_SHAPED.format(
                    who=who, path=_keys(path), shape=jnp.shape(update), expected=jnp.shape(array)))
    return None


def buffer_fits(who: str, updates: PyTree, buffer: PyTree, name: str) -> None:
    """Raise unless ``updates`` has the structure and shapes of ``buffer``, a params-shaped tree of
    a wrapper's state (``MultiSteps``'s accumulator), named ``name`` in the message."""
    updates_fit_params(who, updates, None)
    _check.same_structure(who, updates=updates, state=buffer)
    for (path, update), kept in zip(jax.tree_util.tree_leaves_with_path(updates), jax.tree.leaves(buffer)):
        if jnp.shape(update) != jnp.shape(kept):
            raise ValueError(_check.UPDATE_NOT_BUFFER_SHAPED.format(
                who=who, path=_keys(path), shape=jnp.shape(update), name=name,
                expected=jnp.shape(kept)))


def _broadcast(shape: tuple, target: tuple) -> bool:
    """Whether an update of ``shape`` differs from ``target`` with no more axes than it: what JAX
    would broadcast, or cannot combine at all. An update with more axes may hold per-example
    gradients (a batch axis first) that a link of the chain sums (``dpsgd``): left to it."""
    return shape != target and len(shape) <= len(target)


def _inexact(who: str, path, update) -> None:
    dtype = jnp.result_type(update)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(_check.UPDATE_NOT_FLOAT.format(who=who, path=_keys(path), dtype=dtype))


def _is_complex(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.complexfloating)


def _keys(path) -> str:
    return jax.tree_util.keystr(path)
