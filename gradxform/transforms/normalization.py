"""Normalizing the whole update by its global norm."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import ScalarOrSchedule
from .clipping import global_norm


@_recipe.factory
def normalize_by_update_norm(
    scale_factor: ScalarOrSchedule = 1.0, eps: ScalarOrSchedule = 1e-6
) -> GradientTransformation:
    r"""Divide the update by its global norm, so that it has norm :math:`s` (up to :math:`\epsilon`).

    .. math::  u_t = \frac{s_t}{\|g_t\| + \epsilon_t}\, g_t

    with :math:`\|g_t\|` the L2 norm over every leaf, computed as
    ``g / ((norm + eps) / scale_factor)``, Optax's order of operations. Same as Optax's
    ``normalize_by_update_norm``: pass ``scale_factor=-learning_rate`` for normalized descent.

    Args:
        scale_factor: :math:`s_t`, the norm of the output; a finite number other than 0 (negative
            to descend), or a schedule.
        eps: :math:`\epsilon_t`, added to the norm so that a zero update stays zero; ``>= 0``,
            or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).
    """
    who = "normalize_by_update_norm"
    _check.finite(who, scale_factor=scale_factor)
    if _check._concrete(scale_factor) == 0:
        raise ValueError(_check.RANGE.format(
            who=who, name="scale_factor", expected="a finite number other than 0", value=scale_factor,
            hint=" It is the norm of the output; 0 would divide by zero. Try -learning_rate."))
    _check.non_negative(who, eps=eps)
    hyper = _hyper.declare(who, scale_factor=scale_factor, eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        norm = global_norm(updates)
        # Optax's Python hyperparameters take the norm's dtype (weak typing).
        divisor = (norm + h("eps").astype(norm.dtype)) / h("scale_factor").astype(norm.dtype)
        return jax.tree.map(lambda g: g / divisor.astype(g.dtype), updates), EmptyState()

    return primitive(init, update, hyper)



@_recipe.factory
def normalize() -> GradientTransformation:
    r"""Divide the update by its global norm: a unit-norm direction (Optax's ``contrib.normalize``).

    .. math::  u_t = g_t / \|g_t\|

    with :math:`\|g_t\|` the L2 norm over every leaf. No :math:`\epsilon`: a zero update stays
    zero (Optax's is 0/0, NaN in every entry, which would poison SAM's state); otherwise the same
    numbers as Optax. :func:`normalize_by_update_norm` adds an :math:`\epsilon` and scales the
    result. SAM uses it to step to the worst point of its neighbourhood.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021, Eq. 2. https://arxiv.org/abs/2010.01412
    """

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        norm = global_norm(updates)
        norm = jnp.where(norm > 0, norm, 1)  # a zero update stays zero (Optax's is 0/0 = NaN)
        return jax.tree.map(lambda g: g / norm.astype(g.dtype), updates), EmptyState()

    return primitive(init, update)

@_recipe.formula("normalize_by_update_norm")
def _normalize_rule(a, x, fresh):
    return rf"\frac{{{a['scale_factor']}}}{{\|{x}\| + {a['eps']}}}\,{_recipe.group(x)}", []


@_recipe.formula("normalize")
def _unit_norm_rule(a, x, fresh):
    return rf"\frac{{{x}}}{{\|{x}\|}}", []
