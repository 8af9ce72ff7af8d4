"""A slow copy of the parameters, refreshed every few steps (a target network)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ..core import check as _check
from ..core.types import PyTree


def periodic_update(new_tensors: PyTree, old_tensors: PyTree, steps: ArrayLike,
                    update_period: ArrayLike) -> PyTree:
    r"""Return ``new_tensors`` when ``steps`` is a multiple of ``update_period``, else ``old_tensors``.

    .. math::  \theta^-_t = \begin{cases} \theta_t & t \equiv 0 \pmod K \\
                                          \theta^-_{t-1} & \text{otherwise} \end{cases}

    The slow copy :math:`\theta^-` of the online parameters :math:`\theta` serves as the target
    network of DQN or a fixed teacher. Chosen with :func:`jax.lax.cond`, so it jits with a
    traced ``steps``. Same as Optax's ``periodic_update``.

    Args:
        new_tensors: :math:`\theta_t`, the latest parameters.
        old_tensors: :math:`\theta^-_{t-1}`, the slow copy; same tree as ``new_tensors``.
        steps: :math:`t`, the number of updates of the online parameters (an int or int array).
        update_period: :math:`K`, refresh every ``K`` steps; an int ``>= 1``.

    Returns:
        The slow copy for step ``t``.

    References:
        Mnih et al., "Human-level control through deep reinforcement learning", Nature 2015.
        Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020. https://arxiv.org/abs/2006.07733
    """
    _check.int_at_least("periodic_update", 1, " 1 refreshes the copy at every step.",
                        update_period=update_period)
    _check.same_structure("periodic_update", new_tensors=new_tensors, old_tensors=old_tensors)
    return jax.lax.cond(jnp.mod(steps, update_period) == 0,
                        lambda _: new_tensors, lambda _: old_tensors, None)
