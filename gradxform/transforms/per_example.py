"""Per-example clipping: bound each example's gradient, then sum over the batch (DP-SGD).

These are functions of a batch of per-example gradients (every leaf has the batch on axis 0,
as ``jax.vmap(jax.grad(loss))`` returns them), not transformations: they turn ``B`` gradients
into one. The arithmetic is Optax's term for term, so the sums round identically.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ..core import check as _check
from ..core.types import PyTree
from .clipping import sum_of_squares

NO_BATCH_AXIS = (
    "{who}: every leaf of grads must have the batch on axis 0, all of the same size (per-example "
    "gradients, e.g. from jax.vmap(jax.grad(loss))), got shapes {shapes}."
)


def per_example_global_norm_clip(grads: PyTree, l2_norm_clip: ArrayLike) -> tuple[PyTree, jax.Array]:
    r"""Clip each example's gradient to a global L2 norm, then sum over the batch.

    For the gradients :math:`g_1, \dots, g_B` of ``B`` examples (each a whole tree),

    .. math::  \bar g = \sum_{i=1}^B g_i \, \min\!\Big(1, \frac{C}{\|g_i\|}\Big)

    where :math:`\|g_i\|` is the norm of example :math:`i`'s gradient over every leaf (a zero
    gradient keeps multiplier 1). Same as Optax's ``per_example_global_norm_clip``.

    Args:
        grads: a tree whose leaves all have the batch on axis 0 (per-example gradients).
        l2_norm_clip: :math:`C`, the largest norm an example's gradient keeps; ``>= 0``.

    Returns:
        ``(sum, num_clipped)``: the sum of the clipped per-example gradients (the tree without
        its batch axis) and the number of examples whose gradient was scaled down (int32).

    References:
        Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
        Differential Privacy", CCS 2016. https://arxiv.org/abs/1607.00133
    """
    who = "per_example_global_norm_clip"
    _check_batch_axis(who, grads)
    _clip_bound(who, l2_norm_clip=l2_norm_clip)
    return _clip_and_sum(grads, l2_norm_clip)


def per_example_layer_norm_clip(
    grads: PyTree, global_l2_norm_clip: ArrayLike, uniform: bool = True
) -> tuple[PyTree, PyTree]:
    r"""Clip each example's gradient leaf by leaf (layer by layer), then sum over the batch.

    Each of the :math:`K` leaves is clipped per example as by
    :func:`per_example_global_norm_clip`, to its own bound

    .. math::  C_k = \frac{C}{\sqrt K} \ (\text{uniform}), \qquad
               C_k = C \sqrt{D_k / D} \ (\text{otherwise}),

    with :math:`D_k` the number of entries of one example's leaf :math:`k` and :math:`D` their
    total, so that :math:`\sum_k C_k^2 = C^2`: the whole clipped gradient has norm at most
    :math:`C`. With one leaf it is :func:`per_example_global_norm_clip`. Same as Optax's
    ``per_example_layer_norm_clip``.

    Args:
        grads: a tree whose leaves all have the batch on axis 0 (per-example gradients).
        global_l2_norm_clip: :math:`C`, the bound on the whole gradient's norm; ``>= 0``.
        uniform: split :math:`C^2` equally among the leaves (``True``) or in proportion to
            their sizes (``False``).

    Returns:
        ``(sums, num_clipped)``: two trees shaped like ``grads``: each leaf's sum of clipped
        per-example gradients, and each leaf's number of examples scaled down (int32).

    References:
        McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private Recurrent Language
        Models", ICLR 2018. https://arxiv.org/abs/1710.06963
    """
    who = "per_example_layer_norm_clip"
    _check_batch_axis(who, grads)
    _clip_bound(who, global_l2_norm_clip=global_l2_norm_clip)
    _check.flag(who, uniform=uniform)
    leaves = jax.tree.leaves(grads)
    if uniform:
        bounds = jax.tree.map(lambda _: global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5, grads)
    else:
        total = sum(g[0].size for g in leaves)
        bounds = jax.tree.map(lambda g: global_l2_norm_clip * (g[0].size / total) ** 0.5, grads)
    pairs = jax.tree.map(_clip_and_sum, grads, bounds)
    return jax.tree.transpose(jax.tree.structure(grads), jax.tree.structure((0, 0)), pairs)


def _clip_and_sum(grads: PyTree, bound) -> tuple[PyTree, jax.Array]:
    # One global norm per example, Optax's: under vmap, global_norm's overflow-safe second pass
    # would run for every example whenever one overflows.
    norms = jax.vmap(lambda g: jnp.sqrt(sum_of_squares(jax.tree.leaves(g))))(grads)
    # A zero gradient gives bound / 0 = inf and min(inf, 1) = 1; 0 / 0 (bound 0) is NaN -> 1,
    # as Optax does.
    multipliers = jnp.nan_to_num(jnp.minimum(bound / norms, 1.0), nan=1.0)
    num_clipped = jnp.sum(multipliers < 1.0)
    # The multipliers in each leaf's dtype: a complex leaf, or a float32 one beside float64 leaves.
    return jax.tree.map(lambda g: jnp.tensordot(multipliers.astype(g.dtype), g, axes=1), grads), num_clipped


def _check_batch_axis(who: str, grads: PyTree) -> None:
    leaves = jax.tree.leaves(grads)
    if not leaves or any(jnp.ndim(g) < 1 or g.shape[0] != leaves[0].shape[0] for g in leaves):
        shapes = jax.tree.map(jnp.shape, grads)
        raise ValueError(NO_BATCH_AXIS.format(who=who, shapes=shapes))


def _clip_bound(who: str, **values) -> None:
    """A clipping bound: a number ``>= 0``; ``inf`` (never clip) is allowed."""
    for name, value in values.items():
        _check.in_interval(who, 0.0, float("inf"), "both", **{name: value})
