"""A weight of any rank seen as a stack of matrices: Muon's dimension numbers.

Muon orthogonalizes matrices. A weight of higher rank (a conv kernel, an attention projection
``(d_model, heads, head_dim)``) is one or several matrices once its axes are sorted into
*reduction* axes (the matrix's rows: the inputs a layer sums over), *output* axes (its columns)
and *batch* axes (all others: one matrix each). :class:`MuonDimensionNumbers` names the first
two; :func:`as_matrices` moves the axes to ``(batch, reduction, output)`` and flattens each group
into one, and gives back the function that undoes it.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union, cast

import jax
import numpy as np

from ..core.types import PyTree


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight are the rows (``reduction_axis``) and the columns
    (``output_axis``) of the matrices Muon orthogonalizes; every other axis is a batch axis,
    one matrix per index. An int or a sequence of ints each (negative counts from the end).

    The default, ``(0, 1)``, is a matrix :math:`W` of :math:`y = x W`: shape
    :math:`(n_{in}, n_{out})`. A conv kernel ``(h, w, c_in, c_out)`` is
    ``MuonDimensionNumbers((0, 1, 2), 3)``: one :math:`(h w c_{in}) \\times c_{out}` matrix.
    """

    reduction_axis: Union[int, Sequence[int]] = 0
    output_axis: Union[int, Sequence[int]] = 1


# A spec of dimension numbers: one for every leaf, a tree of them (None: the leaf is not
# treated as matrices), or a function of the params (or updates) returning such a tree.
DimensionNumbers = Union[MuonDimensionNumbers, PyTree, Callable[[PyTree], PyTree]]

WHOLE_MATRIX = MuonDimensionNumbers(0, 1)

BAD_AXES = (
    "{who}: the dimension numbers {dims} do not fit the leaf of shape {shape} at {path}: {why}."
)
NO_DIMS = (
    "{who}: weight_dimension_numbers gives nothing for the leaf at {path}; give a "
    "MuonDimensionNumbers (or None) for every leaf, or a prefix of the tree."
)
NOT_DIMS = (
    "{who}: weight_dimension_numbers must be a MuonDimensionNumbers, a tree of them (None where "
    "a leaf is not treated as matrices) or a function of the params returning one, got {got}."
)


def _is_entry(x: Any) -> bool:
    return x is None or isinstance(x, MuonDimensionNumbers)


def per_leaf(who: str, spec: DimensionNumbers, tree: PyTree) -> list[Optional[MuonDimensionNumbers]]:
    """The dimension numbers of each leaf of ``tree``, in leaf order (``None``: not matrices).

    ``spec`` is one :class:`MuonDimensionNumbers` for every leaf, a tree of them (or of
    ``None``) whose paths are the leaves' paths or prefixes of them, or a function of ``tree``
    returning such a tree.
    """
    resolved = spec(tree) if callable(spec) and not _is_entry(spec) else spec
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if _is_entry(resolved):
        return [cast(Optional[MuonDimensionNumbers], resolved)] * len(leaves)
    try:
        entries = jax.tree_util.tree_flatten_with_path(resolved, is_leaf=_is_entry)[0]
    except Exception:  # not a tree JAX can walk
        entries = []
    if any(not _is_entry(entry) for _, entry in entries) or not entries and leaves:
        raise TypeError(NOT_DIMS.format(who=who, got=_describe(resolved)))
    found = []
    for path, _ in leaves:
        matches = [entry for prefix, entry in entries if tuple(path[:len(prefix)]) == tuple(prefix)]
        if not matches:
            raise ValueError(NO_DIMS.format(who=who, path=jax.tree_util.keystr(path)))
        found.append(matches[0])
    return found


def axes(who: str, path: str, shape: tuple, dims: MuonDimensionNumbers) -> tuple[tuple, tuple, tuple]:
    """``(batch, reduction, output)`` axes of a leaf of ``shape``, each sorted as given and made
    non-negative; a clear error naming ``path`` where they do not fit."""
    def bad(why: str) -> ValueError:
        return ValueError(BAD_AXES.format(who=who, dims=tuple(dims), shape=shape, path=path, why=why))

    groups = []
    for given in (dims.reduction_axis, dims.output_axis):
        group: tuple = tuple(given) if isinstance(given, (list, tuple)) else (given,)
        if not group or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in group):
            raise bad("each of reduction_axis and output_axis must be an int or a non-empty sequence of ints")
        if any(not -len(shape) <= a < len(shape) for a in group):
            raise bad(f"an axis is out of range for rank {len(shape)}")
        groups.append(tuple(int(a) % len(shape) for a in group))
    reduction, output = groups
    if len(set(reduction + output)) != len(reduction) + len(output):
        raise bad("the reduction and output axes must be distinct")
    batch = tuple(a for a in range(len(shape)) if a not in reduction + output)
    return batch, reduction, output


def fans(shape: tuple, dims: MuonDimensionNumbers) -> tuple[int, int]:
    """:math:`(n_{in}, n_{out})`: the products of the reduction axes' and the output axes' lengths."""
    _, reduction, output = axes("fans", "", shape, dims)
    return math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output)


def as_matrices(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """``x`` as a stack ``(batch, n_in, n_out)`` of matrices, and the function that undoes it."""
    batch, reduction, output = axes("as_matrices", "", x.shape, dims)
    order = batch + reduction + output
    moved_shape = tuple(x.shape[a] for a in order)
    stacked = x.transpose(order).reshape(
        math.prod(moved_shape[:len(batch)]),
        math.prod(x.shape[a] for a in reduction),
        math.prod(x.shape[a] for a in output),
    )
    back = tuple(int(i) for i in np.argsort(order))
    return stacked, lambda m: m.reshape(moved_shape).transpose(back)


def _describe(x: Any) -> str:
    return f"{type(x).__name__} {x!r}"[:120]
