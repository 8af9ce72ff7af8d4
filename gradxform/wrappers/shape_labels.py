"""Labels by shape for :func:`gradxform.partition`: the one-call rule matrix-aware optimizers use."""
from __future__ import annotations

from typing import Hashable, Mapping

import jax
import numpy as np

from ..core import check as _check
from ..core.types import PyTree

NO_RANK_RULE = (
    "labels_by_ndim: no label for rank {ndim} (shape {shape} at {path}); the ranks given are "
    "{ranks}. Add a label for rank {ndim} or pass default=."
)


def labels_by_ndim(
    params: PyTree, labels: Mapping[int, Hashable], default: Hashable = None
) -> PyTree:
    """A label tree for :func:`partition`: each leaf gets the label of its number of axes.

    Args:
        params: the parameter tree (arrays, or anything with a shape, such as
            ``jax.ShapeDtypeStruct``).
        labels: ``{ndim: label}``, e.g. ``{2: "muon"}``.
        default: the label of a leaf whose rank is not in ``labels``; ``None`` makes such a
            leaf an error naming its path and shape.

    Returns:
        A tree of labels shaped like ``params``.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
        >>> gx.labels_by_ndim(params, {2: "muon"}, default="adam")
        {'b': 'adam', 'w': 'muon'}
    """
    if not isinstance(labels, Mapping) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in labels
    ):
        raise TypeError(_check.WRONG_KIND.format(
            who="labels_by_ndim", name="labels", expected="a mapping {ndim: label} with ints >= 0 as keys",
            got=_check.describe(labels),
        ))

    def label(path, leaf):
        shape = tuple(leaf.shape) if hasattr(leaf, "shape") else np.shape(leaf)
        ndim = len(shape)
        found = labels.get(ndim, default)
        if found is None:
            raise ValueError(NO_RANK_RULE.format(
                ndim=ndim, shape=shape, path=jax.tree_util.keystr(path) or "the root",
                ranks=sorted(labels),
            ))
        return found

    return jax.tree_util.tree_map_with_path(label, params)
