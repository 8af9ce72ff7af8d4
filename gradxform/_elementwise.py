"""Stateless element-wise maps that appear as single terms in optimizer recipes."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _check, _tree
from ._core import EmptyState, GradientTransformation


def _elementwise(fn) -> GradientTransformation:
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(fn, updates), state

    return GradientTransformation(init, update)


def sqrt_plus_eps(eps: float = 1e-8, eps_root: float = 0.0) -> GradientTransformation:
    r"""Map each update to its square root plus a small constant (the denominator of Adam).

    .. math::  u_t = \sqrt{g_t + \epsilon_{root}} + \epsilon

    ``eps`` outside the root is Optax's and PyTorch's Adam; ``eps_root`` inside it is Optax's
    RMSprop default (``eps_in_sqrt=True``). Stateless.

    Args:
        eps: :math:`\epsilon`, added after the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added under the square root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.
    """
    _check.non_negative("sqrt_plus_eps", eps=eps, eps_root=eps_root)
    return _elementwise(lambda v: jnp.sqrt(v + eps_root) + eps)


def square() -> GradientTransformation:
    r"""Map each update to its squared magnitude, :math:`u_t = |g_t|^2`. Stateless."""
    return _elementwise(_tree.abs_sq)


def sign() -> GradientTransformation:
    r"""Map each update to its sign, :math:`u_t = \operatorname{sign}(g_t)` (Lion, signSGD). Stateless.

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018.
    """
    return _elementwise(jnp.sign)
