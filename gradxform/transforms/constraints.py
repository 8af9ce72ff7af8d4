"""Constraints on the parameters that the update must respect."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation


@_recipe.factory
def keep_params_nonnegative() -> GradientTransformation:
    r"""Shorten any update that would take a parameter below zero, so that it lands on zero.

    .. math::  u_i = \begin{cases} -p_i & p_i + g_i < 0 \\ g_i & \text{otherwise} \end{cases}

    so that :math:`p_i + u_i \ge 0` after :func:`gradxform.apply_updates`. It acts on the final
    update: put it last in a chain. A parameter that is already negative is moved to 0. Same as
    Optax's ``keep_params_nonnegative``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`. ``update`` needs
        ``params``.
    """

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(
                who="keep_params_nonnegative", why="(to know how far each one may move)"))
        _check.same_structure("keep_params_nonnegative", updates=updates, params=params)
        out = jax.tree.map(lambda g, p: jnp.where((p + g) < 0.0, -p, g), updates, params)
        return out, EmptyState()

    return primitive(init, update)


@_recipe.formula("keep_params_nonnegative")
def _nonnegative_rule(a, x, fresh):
    return rf"\max\left({x}, -\theta_t\right)", []
