"""Run a transformation on a few flat buffers instead of many small leaves."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._core import GradientTransformation, _branch

PyTree = Any


class _Layout(NamedTuple):
    """Where each leaf of a tree lives in the per-dtype flat buffers (static, from shapes alone)."""

    treedef: Any
    shapes: list  # leaf index -> shape
    groups: dict  # dtype name -> leaf indices, in tree order


def flatten(inner) -> GradientTransformation:
    r"""Run ``inner`` on the leaves concatenated into one flat buffer per dtype.

    The params, updates and state become ``{dtype name: 1-D array}`` dicts, e.g.
    ``{"float32": ..., "bfloat16": ...}``, so every element-wise step of ``inner`` is one kernel
    per dtype instead of one per leaf, and the state is a few large buffers. An element-wise
    ``inner`` gives the same result as on the tree, bit for bit, but for one backend detail:
    XLA's CPU backend divides arrays through a refined approximate reciprocal and 0-d scalars
    exactly, so a leaf that was a scalar can differ in the last bit once it sits in a buffer.
    Global reductions (a norm) sum in a different order and can differ in the last bits too.
    The inner transformation
    must not depend on the tree's structure (a mask, a per-leaf norm) since it sees only the
    flat buffers. ``None`` leaves stay ``None``; extra arguments reach ``inner`` unchanged.
    Optax's ``flatten`` concatenates all leaves into one buffer, which needs a single dtype.

    Args:
        inner: a transformation, or a list of them applied in sequence.

    Returns:
        A :class:`GradientTransformation` whose state is ``inner``'s state over the flat buffers.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.flatten(gx.scale_by_momentum(0.9))
        >>> state = opt.init({"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)})
        >>> state.mu["float32"].shape
        (6,)
    """
    transform = _branch(inner, "flatten")

    def init(params):
        return transform.init(_to_buffers(params, _layout(params)))

    def update(updates, state, params=None, **extra_args):
        layout = _layout(updates)
        flat_params = None if params is None else _to_buffers(params, layout)
        out, state = transform.update(_to_buffers(updates, layout), state, flat_params, **extra_args)
        return _from_buffers(out, layout), state

    return GradientTransformation(init, update)


def _layout(tree: PyTree) -> _Layout:
    leaves, treedef = jax.tree.flatten(tree)
    groups: dict = {}
    for i, leaf in enumerate(leaves):
        groups.setdefault(jnp.result_type(leaf).name, []).append(i)
    return _Layout(treedef, [np.shape(leaf) for leaf in leaves], groups)


def _to_buffers(tree: PyTree, layout: _Layout) -> dict:
    leaves = jax.tree.leaves(tree)
    return {
        dtype: jnp.concatenate([jnp.ravel(jnp.asarray(leaves[i])) for i in indices])
        for dtype, indices in layout.groups.items()
    }


def _from_buffers(buffers: dict, layout: _Layout) -> PyTree:
    leaves = [None] * len(layout.shapes)
    for dtype, indices in layout.groups.items():
        sizes = [int(np.prod(layout.shapes[i], dtype=np.int64)) for i in indices]
        pieces = jnp.split(buffers[dtype], np.cumsum(sizes)[:-1])
        for i, piece in zip(indices, pieces):
            leaves[i] = piece.reshape(layout.shapes[i])
    return jax.tree.unflatten(layout.treedef, leaves)
