"""Optimize only the parameters a mask leaves unfrozen; the frozen ones keep no optimizer state."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.types import PyTree
from .masking import _zero, partition

NOT_A_FREEZE_MASK = (
    "selective_transform: freeze_mask must be True or False, or a tree of them shaped like the "
    "params (True freezes a parameter), got {got}."
)


@_recipe.factory
def selective_transform(optimizer: Branch, *, freeze_mask: Any) -> GradientTransformation:
    r"""Run ``optimizer`` on the parameters that ``freeze_mask`` leaves ``False``; zero the rest.

    .. math::  u_i = 0 \text{ where } m_i, \qquad u = \mathrm{opt}(g) \text{ on the others}

    As with :func:`gradxform.freeze` inside a :func:`gradxform.chain`, the frozen parameters
    are left out of ``optimizer`` altogether (a :func:`gradxform.partition` with the labels
    ``"train"`` and ``"freeze"``), so it keeps no moments for them. Same as Optax's ``selective_transform``.

    Args:
        optimizer: the transformation (or list of them) for the trained parameters.
        freeze_mask: ``True`` (freeze everything), ``False`` (freeze nothing), or a tree of bools
            shaped like the params or a prefix of them, fixed before training; keyword only.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`PartitionState`, with the
        optimizer's state under ``"train"``.
    """
    for leaf in jax.tree.leaves(freeze_mask):
        if not isinstance(leaf, (bool, np.bool_)) and not (
                getattr(leaf, "shape", None) == () and getattr(leaf, "dtype", None) == np.bool_):
            raise TypeError(NOT_A_FREEZE_MASK.format(got=_check.describe(freeze_mask)))

    def labels(params: PyTree) -> PyTree:
        return jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)

    return partition({"train": optimizer, "freeze": _zero()}, labels)
