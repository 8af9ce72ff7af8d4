"""Clipping: bounding each update by value, by the root mean square or norm of its leaf, or by
the norm of the whole tree.

The arithmetic mirrors Optax 0.2.8 term for term, so clipped updates round identically.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _check, _tree
from ._core import EmptyState, GradientTransformation


def clip(max_delta: float) -> GradientTransformation:
    r"""Clip every element of the update to the interval :math:`[-\delta, \delta]`.

    .. math::  u_t = \min(\max(g_t, -\delta), \delta)

    Stateless. Real updates only (a complex number has no order).

    Args:
        max_delta: :math:`\delta`, the largest absolute value an element may keep; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.non_negative("clip", max_delta=max_delta)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(lambda g: jnp.clip(g, -max_delta, max_delta), updates), state

    return GradientTransformation(init, update)


def clip_by_block_rms(threshold: float) -> GradientTransformation:
    r"""Scale each leaf (a *block*: a weight matrix, a bias) down to an RMS of at most :math:`\tau`.

    .. math::  u_t = g_t \,/\, \max\!\left(1,\ \sqrt{\operatorname{mean}(|g_t|^2)}\,/\,\tau\right)

    where the mean runs over the elements of one leaf. Leaves already within the bound pass
    unchanged. Stateless.

    Args:
        threshold: :math:`\tau`, the largest root mean square a leaf may keep; ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.positive("clip_by_block_rms", threshold=threshold)

    def shrink(g):
        denominator = jnp.maximum(1.0, jnp.sqrt(jnp.mean(_tree.abs_sq(g))) / threshold)
        return g / denominator

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(shrink, updates), state

    return GradientTransformation(init, update)


def clip_by_norm(max_norm: float) -> GradientTransformation:
    r"""Scale each leaf down to an L2 norm of at most :math:`c`, independently of the others.

    .. math::  u_t = g_t \ \text{if}\ \|g_t\|_2 < c, \quad\text{else}\ (g_t / \|g_t\|_2)\,c

    where :math:`\|g_t\|_2` is the norm of one leaf (all its elements). The per-leaf form of
    :func:`clip_by_global_norm`, with the same arithmetic. Stateless.

    Args:
        max_norm: :math:`c`, the largest norm a leaf may keep; ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.positive("clip_by_norm", max_norm=max_norm)

    def shrink(g):
        norm = jnp.sqrt(jnp.sum(_tree.abs_sq(g)))
        return _rescale(g, norm, max_norm)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(shrink, updates), state

    return GradientTransformation(init, update)


class ClipByGlobalNormState(NamedTuple):
    norm: jax.Array  # float32 scalar: the last update's global norm before clipping; 0 before any


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    r"""Scale the whole update down to a global L2 norm of at most :math:`c`.

    .. math::
        \|g_t\| = \Big(\sum_{\text{leaves}} \sum |g_t|^2\Big)^{1/2}, \qquad
        u_t = g_t \ \text{if}\ \|g_t\| < c, \quad\text{else}\ (g_t / \|g_t\|)\,c

    Every leaf is scaled by the same factor, so the update keeps its direction. The state
    records :math:`\|g_t\|` before clipping, for logging: ``state.norm``.

    Args:
        max_norm: :math:`c`, the largest global norm the update may keep; ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ClipByGlobalNormState`.

    References:
        Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
        ICML 2013. https://arxiv.org/abs/1211.5063
    """
    _check.positive("clip_by_global_norm", max_norm=max_norm)

    def init(params):
        return ClipByGlobalNormState(norm=jnp.zeros([], jnp.float32))

    def update(updates, state, params=None, **extra_args):
        norm = global_norm(updates)
        clipped = jax.tree.map(lambda g: _rescale(g, norm, max_norm), updates)
        return clipped, ClipByGlobalNormState(norm=norm.astype(jnp.float32))

    return GradientTransformation(init, update)


def global_norm(tree) -> jax.Array:
    r"""The global L2 norm :math:`\big(\sum_{\text{leaves}} \sum |x|^2\big)^{1/2}` of a tree.

    Summed leaf by leaf in tree order, as Optax's ``optax.tree.norm``.

    Leaves of different precisions add in the dtype standard promotion gives them (float32 and
    float64 sums add in float64), also under strict promotion. An empty tree has norm 0.
    """
    sums = [jnp.sum(_tree.abs_sq(x)) for x in jax.tree.leaves(tree)]
    if not sums:
        return jnp.zeros([], jnp.float32)
    total = sums[0]
    with jax.numpy_dtype_promotion("standard"):
        for s in sums[1:]:
            total = total + s
    return jnp.sqrt(total)


def _rescale(g, norm, max_norm):
    """``g`` where ``norm < max_norm``, else ``(g / norm) * max_norm``, in Optax's order."""
    unclipped = norm < jnp.asarray(max_norm, norm.dtype)
    clipped = (g / norm.astype(g.dtype)) * jnp.asarray(max_norm, g.dtype)
    return jax.lax.select(unclipped, g, clipped)
