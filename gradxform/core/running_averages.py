r"""Running averages of whole trees as plain functions, under Optax's names.

For code written against Optax's ``update_moment`` family and ``incremental_update``. gradxform's
own transformations keep their running means with the primitives of
:mod:`gradxform.transforms.moments`; these functions compute the same terms in Optax's order, so
they round as Optax's do. ``None`` leaves of the new values stay ``None``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .types import PyTree


def _map(fn, new: PyTree, old: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: None if x is None else fn(x, y), new, old,
                        is_leaf=lambda x: x is None)


def incremental_update(new_tensors: PyTree, old_tensors: PyTree,
                       step_size: jax.typing.ArrayLike) -> PyTree:
    r"""Polyak averaging: :math:`\bar\theta \leftarrow \eta\,\theta + (1 - \eta)\,\bar\theta`.

    Args:
        new_tensors: :math:`\theta`, the latest values.
        old_tensors: :math:`\bar\theta`, their running average; the same tree.
        step_size: :math:`\eta`, the weight of the latest values, in ``[0, 1]``.

    Returns:
        The new running average, shaped like ``new_tensors``.

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM Journal
        on Control and Optimization, 1992. https://doi.org/10.1137/0330046
    """
    return _map(lambda new, old: step_size * new + (1.0 - step_size) * old, new_tensors, old_tensors)


def update_moment(updates: PyTree, moments: PyTree, decay: jax.typing.ArrayLike,
                  order: int) -> PyTree:
    r"""The running mean of the ``order``-th power: :math:`m \leftarrow (1-\beta)\,g^k + \beta\,m`.

    Args:
        updates: :math:`g`, the new values.
        moments: :math:`m`, the running mean so far; the same tree.
        decay: :math:`\beta`, the weight kept from the running mean.
        order: :math:`k`, the power (1 for the mean, 2 for the uncentered variance).

    Returns:
        The new running mean.
    """
    return _map(lambda g, m: (1 - decay) * (g**order) + decay * m, updates, moments)


def update_moment_per_elem_norm(updates: PyTree, moments: PyTree, decay: jax.typing.ArrayLike,
                                order: int) -> PyTree:
    r"""The running mean of :math:`|g|^k`: :math:`m \leftarrow (1-\beta)\,|g|^k + \beta\,m`.

    As :func:`update_moment`, with each element's modulus raised to the power, so that for
    complex values the moment is real (:math:`|g|^2 = g\bar g`); for real values it is
    :math:`g^k`, as Optax computes it (not :math:`|g|^k` for odd :math:`k`).

    Returns:
        The new running mean.
    """

    def power(g):
        if jnp.isrealobj(g):
            return g**order
        half = order / 2
        return (jnp.conj(g) * g).real ** (int(half) if half.is_integer() else half)

    return _map(lambda g, m: (1 - decay) * power(g) + decay * m, updates, moments)


def update_infinity_moment(updates: PyTree, moments: PyTree, decay: jax.typing.ArrayLike,
                           eps: jax.typing.ArrayLike) -> PyTree:
    r"""AdaMax's weighted maximum: :math:`u \leftarrow \max(|g| + \epsilon,\ \beta\,u)`.

    Args:
        updates: :math:`g`, the new values.
        moments: :math:`u`, the weighted maximum so far; the same tree.
        decay: :math:`\beta`, the weight kept from the previous maximum.
        eps: :math:`\epsilon`, added to each magnitude.

    Returns:
        The new weighted maximum.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1.
    """
    return _map(lambda g, u: jnp.maximum(jnp.abs(g) + eps, decay * u), updates, moments)
