"""Private tree arithmetic shared by the primitives.

Every function maps leaf-wise with :func:`jax.tree.map`, so ``None`` leaves (as Flax and Optax
allow) stay ``None``. The expressions mirror Optax's term for term, so that a composition rounds
exactly as Optax's fused transformation does.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental.shard_alike import shard_alike

from .types import PyTree


def zeros_like(params: PyTree, dtype=None) -> PyTree:
    """Zeros shaped and sharded like ``params``, in ``dtype`` or each leaf's own dtype."""
    return full_like(params, 0, dtype)


def full_like(params: PyTree, value, dtype=None) -> PyTree:
    """``value`` everywhere, shaped and sharded like ``params``, in ``dtype`` or each leaf's own.

    Every state buffer shaped like a param is made here. Eagerly, :func:`jax.numpy.full_like`
    places it with the param's sharding. Under ``jit`` (or :func:`jax.eval_shape`, ``vmap``) the
    param is a tracer whose sharding is not known yet, and a constant that depends on no input
    would be laid out as XLA likes (replicated); :func:`~jax.experimental.shard_alike.shard_alike`
    asks the partitioner to give it the param's sharding, whatever that turns out to be. On one
    device it compiles to nothing. If ``jit``'s ``out_shardings`` asks for another layout, the
    state is made like the param and then moved there (once, at ``init``).
    """

    def like(p):
        filled = jnp.full_like(p, value, dtype=dtype)
        return shard_alike(p, filled)[1] if isinstance(p, jax.core.Tracer) else filled

    return jax.tree.map(like, params)


def scalars_like(params: PyTree, value, dtype=None) -> PyTree:
    """One 0-d ``value`` per leaf of ``params`` (a per-layer statistic), each on its leaf's devices.

    Eagerly, a scalar beside a param laid out over a mesh is replicated over that mesh (as a sum
    over the param would be), not left on the first device; under ``jit`` the partitioner places
    it. ``dtype`` is a dtype or a function of the leaf giving one; ``None`` keeps the leaf's.
    """

    def like(p):
        kind = dtype(p) if callable(dtype) else (dtype or p.dtype)
        scalar = jnp.full((), value, kind)
        sharding = None if isinstance(p, jax.core.Tracer) else getattr(p, "sharding", None)
        if isinstance(sharding, jax.sharding.NamedSharding):
            return jax.device_put(scalar, jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec()))
        return scalar

    return jax.tree.map(like, params)


def cast(tree: PyTree, dtype) -> PyTree:
    """Cast every leaf to ``dtype``; ``dtype=None`` leaves the tree as it is."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def cast_like(tree: PyTree, like: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: x.astype(y.dtype), tree, like)


def promoted(*xs: jax.Array) -> tuple:
    """The arrays cast to the dtype standard promotion gives them (as Optax computes mixed
    dtypes, e.g. float32 gradients with a bfloat16 moment), also under strict promotion."""
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(*xs)
    return tuple(jnp.asarray(x).astype(dtype) for x in xs)


def scale(factor, tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: factor * x, tree)


def add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.add, a, b)


def abs_sq(x: jax.Array) -> jax.Array:
    """:math:`|x|^2`, real even for complex ``x``."""
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x**2


def square(tree: PyTree) -> PyTree:
    return jax.tree.map(abs_sq, tree)


def ema(new: PyTree, old: PyTree, decay) -> PyTree:
    r"""Exponential moving average :math:`(1-\beta)\,x_t + \beta\,m_{t-1}` (Optax's term order)."""
    return jax.tree.map(lambda x, m: (1 - decay) * x + decay * m, new, old)


def vdot(a: PyTree, b: PyTree) -> jax.Array:
    """:math:`\\sum \\langle a, b \\rangle` over all leaves, real part, accumulated in float32 or wider."""
    pairs = list(zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    # One dtype for every leaf (mixed float32/float64/bfloat16 trees), as standard promotion
    # would pick it, but never narrower than float32.
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(jnp.float32, *[x for pair in pairs for x in pair])
    total = jnp.zeros([], jnp.finfo(dtype).dtype)
    for x, y in pairs:
        total = total + jnp.vdot(x.astype(dtype), y.astype(dtype)).real
    return total


def norm(tree: PyTree) -> jax.Array:
    """Global L2 norm over every leaf."""
    return jnp.sqrt(vdot(tree, tree))


def where(condition, if_true: PyTree, if_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), if_true, if_false)


def result_dtype(*xs) -> jnp.dtype:
    """The dtype standard promotion gives ``xs`` (also under strict promotion)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*xs)


def compute_dtype(dtype) -> jnp.dtype:
    """The dtype to do arithmetic in: ``dtype``, widened to float32 if it is narrower.

    bfloat16 and float16 leaves are combined with float32 hyperparameters in float32 and
    rounded once, so a decay of 0.999 is not rounded to 1; float32, float64 and complex leaves
    compute in their own dtype, as Optax's Python-number hyperparameters make them.
    """
    with jax.numpy_dtype_promotion("standard"):
        return jnp.promote_types(dtype, jnp.float32)


def blend(a: jax.Array, b: jax.Array, weight_a, weight_b) -> jax.Array:
    """``weight_a * a + weight_b * b`` for hyperparameter scalars, in the dtype the leaves promote to."""
    out = result_dtype(a, b)
    dtype = compute_dtype(out)
    total = jnp.asarray(weight_a).astype(dtype) * a.astype(dtype)
    return (total + jnp.asarray(weight_b).astype(dtype) * b.astype(dtype)).astype(out)


def times(x: jax.Array, factor) -> jax.Array:
    """``factor * x`` for a hyperparameter scalar, keeping ``x``'s dtype."""
    dtype = compute_dtype(x.dtype)
    return (jnp.asarray(factor).astype(dtype) * x.astype(dtype)).astype(x.dtype)
