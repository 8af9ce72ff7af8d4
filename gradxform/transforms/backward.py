"""Changing a gradient on the backward pass only: the forward value is left as it is."""
from __future__ import annotations

import jax
from jax.typing import ArrayLike

from ..core import check as _check
from ..core.types import PyTree


def scale_gradient(inputs: PyTree, scale: ArrayLike) -> PyTree:
    r"""Return ``inputs`` unchanged, but multiply the gradient flowing back through it by ``scale``.

    .. math::  y = x, \qquad \frac{\partial L}{\partial x} = s\,\frac{\partial L}{\partial y}

    ``scale=0`` stops the gradient (:func:`jax.lax.stop_gradient`); ``scale=1`` returns
    ``inputs`` as they are. Used to slow down a part of a model (an encoder shared by two
    heads) without a second optimizer. Same as Optax's ``scale_gradient``.

    Args:
        inputs: an array or a tree of arrays.
        scale: :math:`s`, a finite number (or a scalar array).

    Returns:
        ``inputs``, with the scaled gradient on the backward pass.
    """
    if callable(scale):
        raise TypeError(_check.WRONG_KIND.format(
            who="scale_gradient", name="scale", expected="a number (a schedule has no step here)",
            got=_check.describe(scale)))
    _check.finite("scale_gradient", scale=scale)
    known = _check._concrete(scale)  # None for a traced scale
    if known == 1.0:
        return inputs
    if known == 0.0:
        return jax.lax.stop_gradient(inputs)
    return _scaled_backward(inputs, scale)


@jax.custom_vjp
def _scaled_backward(inputs: PyTree, scale) -> PyTree:
    return inputs


def _forward(inputs, scale):
    return inputs, scale


def _backward(scale, cotangent):
    # The scale takes the gradient's dtype, as Optax's Python-number scale does.
    return jax.tree.map(lambda g: g * jax.numpy.asarray(scale).astype(g.dtype), cotangent), None


_scaled_backward.defvjp(_forward, _backward)
