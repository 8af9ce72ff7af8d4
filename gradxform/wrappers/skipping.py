"""Tests that tell :class:`gradxform.MultiSteps` to ignore a micro-batch (``should_skip_update_fn``).

:func:`gradxform.skip_not_finite` (in :mod:`gradxform.wrappers.accumulation`) skips updates
holding a NaN or an Inf; :func:`skip_large_updates` skips updates whose squared norm is too large.
"""
from __future__ import annotations

from typing import Optional, Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ..core import check as _check
from ..core import tree as _tree
from ..core.types import PyTree


class ShouldSkipUpdateFunction(Protocol):
    """The type of ``MultiSteps``'s ``should_skip_update_fn`` (Optax's name and contract).

    ``fn(updates, gradient_step, params) -> (skip, skip_state)``: ``skip`` is a bool scalar
    array, true to ignore this micro-batch; ``skip_state`` is any tree, stored in
    :attr:`MultiStepsState.skip_state` for monitoring. ``gradient_step`` is the number of
    optimizer steps taken so far (to anneal a threshold); ``params`` may be ``None``.
    """

    def __call__(
        self, updates: PyTree, gradient_step: jax.Array, params: Optional[PyTree]
    ) -> tuple[jax.Array, PyTree]: ...


def skip_large_updates(
    updates: PyTree, gradient_step: jax.Array, params: Optional[PyTree], max_squared_norm: ArrayLike
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""A ``should_skip_update_fn`` that skips updates whose squared global norm is too large.

    .. math::  \mathrm{skip} = \neg\big(\textstyle\sum_{\text{leaves}} \sum g^2 < M\big)

    so a NaN norm is skipped too. Bind the bound first:
    ``MultiSteps(opt, k, should_skip_update_fn=functools.partial(skip_large_updates,
    max_squared_norm=M))``. Same as Optax's ``skip_large_updates``.

    Args:
        updates: the micro-batch's updates.
        gradient_step: unused (part of the :class:`ShouldSkipUpdateFunction` contract).
        params: unused.
        max_squared_norm: :math:`M`; updates with a squared norm below it are kept; ``> 0``.

    Returns:
        ``(skip, {"should_skip": skip, "norm_squared": n})``: ``skip`` a bool scalar and ``n``
        the squared norm of ``updates``.
    """
    _check.in_interval("skip_large_updates", 0.0, float("inf"), "right",
                       max_squared_norm=max_squared_norm)
    sums = [jnp.sum(x**2) for x in jax.tree.leaves(updates)]
    norm_squared = jnp.sum(jnp.stack(_tree.promoted(*sums))) if sums else jnp.zeros([])
    bound = jnp.asarray(max_squared_norm).astype(norm_squared.dtype)  # as a Python number would
    should_skip = jnp.logical_not(norm_squared < bound)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}
