"""Unit-wise norms and clipping: the building blocks of adaptive gradient clipping (AGC).

A *unit* is the slice of a parameter feeding one output (a column of an ``(in, out)`` kernel);
:func:`gradxform.adaptive_grad_clip` bounds each unit's update by its weights' norm with these.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.types import Axes
from .clipping import _DIV_EPS, _unit_axis_argument, _unitwise_norm

SHAPES_DIFFER = (
    "unitwise_clip: g_norm, max_norm and grad must have one shape (norms broadcast to the "
    "gradient's shape, as unitwise_norm returns them), got g_norm {g_norm}, max_norm {max_norm} "
    "and grad {grad}."
)


def unitwise_norm(x: jax.Array, axis: Axes = None) -> jax.Array:
    r"""The L2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

    .. math::  n_i = \Big(\sum_{j \in \text{unit}(i)} |x_j|^2\Big)^{1/2}

    Without ``axis``, the units follow the usual layouts: a leaf with at most one axis longer
    than 1 (a scalar, a bias) is one unit; rank 2 and 3 (``(in, out)``, multi-head kernels) sum
    over axis 0; rank 4 (``HWIO`` convolutions) over axes 0, 1, 2; rank 5 (``DHWIO``) over axes
    0 to 3; other ranks need ``axis``. Same as Optax's ``unitwise_norm``.

    Args:
        x: an array.
        axis: ``None`` for the conventions above, or the axis (an int) or axes (a tuple of ints)
            one unit's norm sums over.

    Returns:
        An array shaped like ``x``: each entry holds the norm of its unit.
    """
    axis = _unit_axis_argument("unitwise_norm", axis)
    x = jnp.asarray(x)
    return jnp.broadcast_to(_unitwise_norm(x, axis, "unitwise_norm", ()), x.shape)


def unitwise_clip(g_norm: jax.Array, max_norm: jax.Array, grad: jax.Array,
                  div_eps: float = _DIV_EPS) -> jax.Array:
    r"""Scale each unit of ``grad`` whose norm is not below ``max_norm`` down to ``max_norm``.

    .. math::  u = g \ \text{if}\ \|g\| < c, \quad\text{else}\ \ g\,\frac{c}{\max(\|g\|, \delta)}

    entry by entry, with the unit norms :math:`\|g\|` and bounds :math:`c` given at every
    entry (as :func:`unitwise_norm` returns them). Same as Optax's ``unitwise_clip``.

    Args:
        g_norm: :math:`\|g\|`, the unit norms of ``grad``, shaped like it.
        max_norm: :math:`c`, the bound of each unit, shaped like ``grad``.
        grad: the gradient (one leaf).
        div_eps: :math:`\delta`, a floor on the norm in the divisor that only guards against
            dividing by zero (a norm below it is also below any positive bound).

    Returns:
        The clipped gradient, shaped like ``grad``.
    """
    shapes = (jnp.shape(g_norm), jnp.shape(max_norm), jnp.shape(grad))
    if not shapes[0] == shapes[1] == shapes[2]:
        raise ValueError(SHAPES_DIFFER.format(g_norm=shapes[0], max_norm=shapes[1], grad=shapes[2]))
    clipped = grad * (max_norm / jnp.maximum(g_norm, div_eps))
    return jnp.where(g_norm < max_norm, grad, clipped)

