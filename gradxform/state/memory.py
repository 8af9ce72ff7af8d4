"""How many bytes an optimizer's state holds, in total and per dtype."""
from __future__ import annotations

import math
from typing import NamedTuple

import jax

from ..core.types import PyTree


class StateMemory(NamedTuple):
    total: int  # bytes of every distinct array in the tree
    by_dtype: dict  # {dtype name: bytes}, largest first, e.g. {"float32": 8192, "bfloat16": 4096}
    arrays: int  # how many distinct arrays were counted


def state_memory(state: PyTree) -> StateMemory:
    r"""Count the bytes of the arrays in a state (or any tree), in total and per dtype.

    Each array counts ``size * itemsize`` bytes, its logical size: an array sharded over devices
    counts once at its global shape, and the same array object reached twice in the tree counts
    once. Leaves that are not arrays (``None``, Python numbers) hold no device memory and are
    not counted. Shapes are enough: pass ``jax.eval_shape(optimizer.init, params)`` to learn the
    size of a state before allocating it.

    Args:
        state: a tree whose leaves are arrays (``jax.Array``, NumPy arrays, or
            ``jax.ShapeDtypeStruct``), e.g. what ``optimizer.init(params)`` returns.

    Returns:
        A :class:`StateMemory`: ``total`` bytes, ``by_dtype`` (dtype name to bytes, largest
        first) and the number of distinct ``arrays`` counted.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"w": jnp.zeros((256, 256))}  # 256 KiB of float32
        >>> low = gx.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16)
        >>> gx.state_memory(gx.adam(1e-3).init(params)).total // 1024  # m and v in float32
        512
        >>> gx.state_memory(low.init(params)).by_dtype["bfloat16"] // 1024
        256
    """
    seen: set[int] = set()
    by_dtype: dict[str, int] = {}
    for leaf in jax.tree.leaves(state):
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")) or id(leaf) in seen:
            continue
        seen.add(id(leaf))
        name = str(leaf.dtype)
        by_dtype[name] = by_dtype.get(name, 0) + math.prod(leaf.shape) * leaf.dtype.itemsize
    ordered = dict(sorted(by_dtype.items(), key=lambda item: (-item[1], item[0])))
    return StateMemory(total=sum(ordered.values()), by_dtype=ordered, arrays=len(seen))
