"""The one step counter: an int32 scalar that saturates instead of wrapping.

:func:`gradxform.chain` owns the counter and hands it to every link as the extra argument
``step``: the number of updates applied before the current one (0 on the first update), the
convention of Optax's schedules. Bias correction reads :func:`one_based` (``t = step + 1``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from . import check as _check

_MAX = jnp.iinfo(jnp.int32).max


def zero() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def advance(step: jax.Array, n: int) -> jax.Array:
    """``step + n``, staying at ``2**31 - 1`` instead of wrapping past it."""
    step = jnp.asarray(step, jnp.int32)
    return jnp.where(step <= _MAX - n, step + n, _MAX)


def increment(step: jax.Array) -> jax.Array:
    """``step + 1``, staying at ``2**31 - 1`` once there."""
    return advance(step, 1)


def one_based(step: jax.Array) -> jax.Array:
    """The paper's :math:`t` (1 on the first update), saturating like the counter."""
    return advance(step, 1)


def read(extra_args: dict, who: str) -> jax.Array:
    """The step count passed down by :func:`gradxform.chain`, or a clear error if there is none."""
    try:
        return extra_args["step"]
    except KeyError:
        raise ValueError(_check.NO_STEP.format(who=who)) from None


def as_float(step: jax.Array) -> jax.Array:
    """The step in the default float dtype: float32, or float64 under x64 (exact up to 2**24 in float32)."""
    return jnp.asarray(step, jnp.result_type(float))
