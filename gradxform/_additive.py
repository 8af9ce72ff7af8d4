"""Terms added to the update: decoupled weight decay and annealed gradient noise."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from . import _check
from ._core import EmptyState, GradientTransformation

PyTree = Any
Mask = Union[PyTree, Callable[[PyTree], PyTree]]

PARAMS_REQUIRED = (
    "{who}: update() needs params (the current parameters) to decay them, got params=None. "
    "Call update(grads, state, params)."
)


def weight_decay(rate: float, mask: Optional[Mask] = None) -> GradientTransformation:
    r"""Add the parameters, scaled, to the update (decoupled weight decay).

    .. math::  u_t = g_t + \lambda\,\theta_{t-1}

    Chained before :func:`scale_by_learning_rate` this is AdamW's decay
    :math:`-\alpha_t \lambda \theta`. Optax calls it ``add_decayed_weights``. Stateless.

    Args:
        rate: :math:`\lambda`, ``>= 0``.
        mask: a tree of bools shaped like the params (or a function of the params returning
            one); leaves marked ``False`` are not decayed. ``None`` decays every leaf. For
            example ``mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)`` spares biases and
            norm scales.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101
    """
    _check.non_negative("weight_decay", rate=rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(PARAMS_REQUIRED.format(who="weight_decay"))
        decayed = jax.tree.map(lambda g, p: g + rate * p, updates, params)
        if mask is None:
            return decayed, state
        keep = mask(params) if callable(mask) else mask
        _check.same_structure("weight_decay", mask=keep, params=params)
        return jax.tree.map(lambda m, d, g: d if m else g, keep, decayed, updates), state

    return GradientTransformation(init, update)
