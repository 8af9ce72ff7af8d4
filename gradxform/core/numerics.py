r"""Counters that do not overflow; square roots and norms whose gradient is finite at zero.

Optax's ``safe_*`` functions, for code that calls them; gradxform's own step counter
(:mod:`gradxform.core.step`) saturates the same way.
"""
from __future__ import annotations

from typing import Optional, Union

import jax
import jax.numpy as jnp

NOT_A_COUNTER = (
    "safe_increment: count must have an integer or floating-point dtype, got dtype {dtype}. "
    "Make the counter with e.g. jnp.zeros([], jnp.int32)."
)


def safe_increment(count: jax.typing.ArrayLike) -> jax.Array:
    r"""``count + 1``, staying at the largest value of ``count``'s dtype once there.

    .. math::  c' = \begin{cases} c + 1 & c < c_{max} \\ c_{max} & \text{otherwise} \end{cases}

    An int32 counter at :math:`2^{31} - 1` stays there instead of wrapping to :math:`-2^{31}`.

    Args:
        count: an integer or floating-point scalar (or array) counter.

    Returns:
        The incremented counter, in ``count``'s dtype.
    """
    count = jnp.asarray(count)
    dtype = count.dtype
    if jnp.issubdtype(dtype, jnp.integer):
        largest = jnp.array(jnp.iinfo(dtype).max, dtype)
    elif jnp.issubdtype(dtype, jnp.floating):
        largest = jnp.array(jnp.finfo(dtype).max, dtype)
    else:
        raise ValueError(NOT_A_COUNTER.format(dtype=dtype))
    return jnp.where(count < largest, count + jnp.array(1, dtype), largest)


safe_int32_increment = safe_increment  # Optax's older name for the same function


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: Optional[Union[int, float, str]] = None,  # noqa: A002 (NumPy's and Optax's name)
    axis: Union[None, tuple[int, ...], int] = None,
    keepdims: bool = False,
) -> jax.Array:
    r""":math:`\max(\|x\|, n_{min})`, with the gradient 0 (not NaN) where the norm is below the floor.

    Differentiating ``jnp.maximum(jnp.linalg.norm(x), min_norm)`` at ``x = 0`` gives NaN, because
    the norm's gradient there is 0/0 even where the maximum discards it. Here the norm is taken of
    ones wherever it would be clipped, so both branches have finite gradients.

    Args:
        x: an array.
        min_norm: :math:`n_{min}`, the smallest value returned.
        ord: the order of the norm, as in :func:`jax.numpy.linalg.norm`.
        axis: the axes the norm reduces, as in :func:`jax.numpy.linalg.norm`.
        keepdims: keep the reduced axes with size one.

    Returns:
        The clipped norm.
    """
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    clipped = norm <= min_norm
    x = jnp.where(clipped, jnp.ones_like(x), x)
    if not keepdims:
        clipped = jnp.squeeze(clipped, axis=axis)
    return jnp.where(clipped, min_norm, jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims))


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
    r""":math:`\max(\sqrt{\mathrm{mean}(|x|^2)}, r_{min})`, with a finite gradient below the floor.

    As :func:`safe_norm`, for the root mean square over all of ``x``'s elements.

    Args:
        x: an array (complex too: :math:`|x|^2` is real).
        min_rms: :math:`r_{min}`, the smallest value returned.

    Returns:
        The clipped root mean square, a scalar.
    """
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(_abs_sq(x)))
    clipped = rms <= min_rms
    x = jnp.where(clipped, jnp.ones_like(x), x)
    return jnp.where(clipped, min_rms, jnp.sqrt(jnp.mean(_abs_sq(x))))


@jax.custom_jvp
def safe_sqrt(x: jax.typing.ArrayLike) -> jax.Array:
    r""":math:`\sqrt{x}`, with the derivative 0 (not infinite) where :math:`x = 0`.

    .. math::  \frac{d}{dx}\sqrt{x} = \begin{cases} 1 / (2\sqrt{x}) & x > 0 \\ 0 & x = 0 \end{cases}

    The value is ``jnp.sqrt(x)``, bit for bit, and so is the compiled computation when nothing is
    differentiated. An entry of Adam's second moment that is exactly 0 (a parameter whose gradient
    has always been 0) stays 0 under a small change of a hyperparameter, so its tangent is 0, and
    the infinite slope of the root made ``0 * inf = nan`` of every meta-gradient: with the slope
    taken as 0 there, the chain rule gives the derivative of the update, which is 0.

    Args:
        x: an array of non-negative reals.

    Returns:
        Its element-wise square root.
    """
    return jnp.sqrt(x)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    root = jnp.sqrt(x)
    positive = root > 0
    slope = jnp.where(positive, 0.5 / jnp.where(positive, root, jnp.ones_like(root)), jnp.zeros_like(root))
    return root, slope * dx


def _abs_sq(x: jax.Array) -> jax.Array:
    return (jnp.conj(x) * x).real  # Optax's |x|^2, term for term
