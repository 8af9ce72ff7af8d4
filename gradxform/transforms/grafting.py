r"""Grafting: the direction of one optimizer with the per-layer step size of another.

Agarwal, Anil, Hazan, Koren & Zhang ("Disentangling Adaptive Gradient Methods from Learning
Rates", 2020) take each layer's step *direction* from one method and its *norm* from another;
Shampoo is usually run this way, grafted onto Adagrad or RMSprop. :func:`graft` is a
combinator: both branches see the same updates, as in :func:`gradxform.ratio`.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import link as _link
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree


@state_class
class GraftState(NamedTuple):
    direction: PyTree  # the direction branch's state
    magnitude: PyTree  # the magnitude branch's state


def _grafted(d: jax.Array, m: jax.Array) -> jax.Array:
    d_norm, m_norm = jnp.linalg.norm(d), jnp.linalg.norm(m.astype(d.dtype))
    ratio = jnp.where(d_norm > 0, m_norm / jnp.where(d_norm > 0, d_norm, 1), 0)
    return d * ratio


@_recipe.factory
def graft(direction: Branch, magnitude: Branch) -> GradientTransformation:
    r"""One branch's direction with another's norm, leaf by leaf: :math:`u = D(g)\,\|M(g)\|_F / \|D(g)\|_F`.

    Both branches see the same updates. A leaf whose direction is zero gets a zero update.

    Args:
        direction: the transformation (or list of them, in sequence) giving the direction
            :math:`D`, e.g. Shampoo's preconditioning.
        magnitude: the one giving the step size :math:`M`, e.g. Adagrad's scaling.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`GraftState`.

    References:
        Agarwal, Anil, Hazan, Koren & Zhang, "Disentangling Adaptive Gradient Methods from
        Learning Rates", 2020, Algorithm 1 (layer-wise grafting). https://arxiv.org/abs/2002.11803
    """
    d_link, m_link = _link.branch(direction, "graft"), _link.branch(magnitude, "graft")

    def init(params):
        return GraftState(direction=d_link.raw.init(params), magnitude=m_link.raw.init(params))

    def update(updates, state, params=None, **extra_args):
        d, d_state = d_link.raw.update(updates, state.direction, params, **extra_args)
        m, m_state = m_link.raw.update(updates, state.magnitude, params, **extra_args)
        return jax.tree.map(_grafted, d, m), GraftState(d_state, m_state)

    return primitive(init, update, parts={"direction": d_link, "magnitude": m_link})
