"""Low-rank projection of matrix gradients: GaLore's inner optimizer runs in a small subspace.

Each matrix gradient :math:`G` (:math:`m \times n`) is projected onto its leading singular
vectors, :math:`R = P^\top G` (or :math:`G P`), an inner optimizer keeps its state for
:math:`R` alone, and its update is projected back. The leaves that are not matrices take the
inner optimizer in full; the rule that says which leaves are matrices, and how a leaf of higher
rank is read as one, is checked at ``init``.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import eager as _eager
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.tree_access import is_params_placeholder
from ..core.types import Hyper, PyTree

NOT_A_MATRIX = (
    "scale_by_galore: weight_dimension_numbers marks the leaf at {path} of shape {shape} for "
    "projection, but {why}. Reduction and output axes must be disjoint and together cover every "
    "axis of the leaf (e.g. GaLoreDimensionNumbers(reduction_axis=0, output_axis=(1, 2)) for a "
    "(embed, heads, head_dim) kernel); give None for a leaf that should not be projected."
)
NOT_A_SPEC = (
    "scale_by_galore: weight_dimension_numbers must give a GaLoreDimensionNumbers or None for "
    "each leaf, got {got} at {path}."
)
COMPLEX_MATRIX = (
    "scale_by_galore: the leaf at {path} is complex ({dtype}); the projector is computed from a "
    "real SVD. Give it None in weight_dimension_numbers, or optimize its real and imaginary parts "
    "as two real parameters."
)


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a leaf form the rows (``reduction_axis``) and columns (``output_axis``) of
    the matrix GaLore projects: ``(embed, heads, head_dim)`` with ``reduction_axis=0,
    output_axis=(1, 2)`` is an ``embed x (heads * head_dim)`` matrix. Optax's class of that name."""

    reduction_axis: Union[Sequence[int], int] = 0
    output_axis: Union[Sequence[int], int] = 1


DimensionNumbers = Union[GaLoreDimensionNumbers, PyTree, Callable[[PyTree], PyTree]]


@state_class
class ScaleByGaloreState(NamedTuple):
    inner: PyTree  # the inner optimizer's state, for the projected (low-rank) gradients
    projector: PyTree  # P per leaf: (m, r) or (n, r) in the params' dtype; (0, 0) for leaves not projected


def _is_spec(x: Any) -> bool:
    return x is None or isinstance(x, GaLoreDimensionNumbers)


def _axes(axis: Union[Sequence[int], int], ndim: int) -> tuple[int, ...]:
    if isinstance(axis, Sequence):
        return tuple(operator.index(a) % ndim for a in axis)
    return (operator.index(axis) % ndim,)


class _Matrix(NamedTuple):
    """How one leaf is read as a matrix: the transpose, the matrix's shape, the way back."""

    order: tuple[int, ...]  # reduction axes, then output axes
    rows: int
    cols: int
    transposed_shape: tuple[int, ...]

    def to_matrix(self, x: jax.Array) -> jax.Array:
        return x.transpose(self.order).reshape(self.rows, self.cols)

    def from_matrix(self, y: jax.Array) -> jax.Array:
        back = tuple(sorted(range(len(self.order)), key=lambda i: self.order[i]))
        return y.reshape(self.transposed_shape).transpose(back)

    @property
    def left(self) -> bool:  # project the rows (P^T G) when the matrix is at least as tall as wide
        return self.rows >= self.cols


def _matrix(path, shape: tuple[int, ...], spec: GaLoreDimensionNumbers) -> _Matrix:
    """``shape`` read as a matrix by ``spec``; raises :data:`NOT_A_MATRIX` where it cannot be."""
    where = jax.tree_util.keystr(path) or "the root"
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(NOT_A_MATRIX.format(path=where, shape=shape, why=f"it has rank {ndim} < 2"))
    try:
        reduction, output = _axes(spec.reduction_axis, ndim), _axes(spec.output_axis, ndim)
    except TypeError:
        raise ValueError(NOT_A_MATRIX.format(path=where, shape=shape, why=f"{spec} holds no axes"))
    if set(reduction) & set(output) or sorted(reduction + output) != list(range(ndim)):
        raise ValueError(NOT_A_MATRIX.format(
            path=where, shape=shape, why=f"{spec} gives reduction axes {reduction} and output axes {output}"))
    return _Matrix(reduction + output, math.prod(shape[a] for a in reduction),
                   math.prod(shape[a] for a in output), tuple(shape[a] for a in reduction + output))


@_recipe.factory
def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: Hyper = 1.0,
    base_optimizer: Optional[Branch] = None,
    weight_dimension_numbers: Optional[DimensionNumbers] = None,
) -> GradientTransformation:
    r"""Run an optimizer on low-rank projections of matrix gradients and project its updates back.

    For a leaf read as an :math:`m \times n` matrix :math:`G_t`, with :math:`r = \min(\text{rank},
    m, n)` and :math:`T` = ``update_proj_gap``:

    .. math::
        P_t = \begin{cases} U_{:, :r} \text{ of } \operatorname{svd}(G_t) & t \bmod T = 0 \\
              P_{t-1} & \text{else} \end{cases}, \qquad
        R_t = P_t^\top G_t, \qquad u_t = s\,P_t\,\rho(R_t) \qquad (m \ge n)

    and :math:`P_t = V_{:, :r}`, :math:`R_t = G_t P_t`, :math:`u_t = s\,\rho(R_t) P_t^\top` when
    :math:`m < n`; :math:`t` counts updates from 0 and :math:`\rho` is ``base_optimizer``, whose
    state holds :math:`r \times n` (or :math:`m \times r`) moments. The SVD is computed in
    float32 and :math:`P` stored in the leaf's dtype, as Optax does.

    Which leaves are matrices: with ``weight_dimension_numbers=None``, the leaves of rank 2
    (rows: axis 0); every other leaf (vectors, scalars, kernels of rank 3 and more) goes through
    ``base_optimizer`` unprojected. A :class:`GaLoreDimensionNumbers` applies to every leaf of
    rank :math:`\ge 2`; a tree of them (``None`` where not projected), or a function of the
    params returning one, marks leaves one by one. ``init`` raises a ``ValueError`` naming the
    leaf where a marked leaf cannot be read as a matrix (rank < 2, axes that overlap or miss
    one), or is complex. Same as Optax's ``contrib.scale_by_galore``; ``base_optimizer`` is
    given ``params=None`` (its updates are low-rank), so it must not read the params.

    Args:
        rank: the largest rank of the projection; an int ``>= 1``.
        update_proj_gap: :math:`T`, the updates between two SVDs; an int ``>= 1``.
        scale: :math:`s`, applied to the updates projected back; a finite number or a schedule.
        base_optimizer: :math:`\rho`, a transformation (or a list run in sequence);
            ``None`` is :func:`gradxform.scale_by_adam`.
        weight_dimension_numbers: which leaves to project and how, as above.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByGaloreState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Zhao, Zhang, Chen, Wang, Anandkumar & Tian, "GaLore: Memory-Efficient LLM Training by
        Gradient Low-Rank Projection", ICML 2024, Algorithm 2. https://arxiv.org/abs/2403.03507
    """
    who = "scale_by_galore"
    _check.int_at_least(who, 1, rank=rank)
    _check.int_at_least(who, 1, " update_proj_gap=1 recomputes the SVD at every update.",
                        update_proj_gap=update_proj_gap)
    _check.finite(who, scale=scale)
    if base_optimizer is None:
        from ..aliases.adam_family import scale_by_adam  # the default, as Optax's

        base_optimizer = scale_by_adam()
    inner = _link.branch(base_optimizer, who)
    hyper = _hyper.declare(who, scale=scale)

    def specs(tree):
        """A GaLoreDimensionNumbers or None per leaf of ``tree``, checked."""
        if weight_dimension_numbers is None:
            found = jax.tree.map(lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, tree)
        elif isinstance(weight_dimension_numbers, GaLoreDimensionNumbers):
            found = jax.tree.map(lambda p: weight_dimension_numbers if p.ndim >= 2 else None, tree)
        elif callable(weight_dimension_numbers):
            found = weight_dimension_numbers(tree)
        else:
            found = weight_dimension_numbers
        for path, spec in jax.tree_util.tree_leaves_with_path(found, is_leaf=_is_spec):
            if not _is_spec(spec):
                raise TypeError(NOT_A_SPEC.format(got=_check.describe(spec),
                                                  path=jax.tree_util.keystr(path) or "the root"))
        return found

    def plans(tree) -> tuple[list, list, Any]:
        """The leaves of ``tree``, a :class:`_Matrix` or None for each, and its structure."""
        with_paths, structure = jax.tree_util.tree_flatten_with_path(tree)
        treedef: Any = structure  # flatten_up_to is untyped
        given = treedef.flatten_up_to(specs(tree))
        found = [None if spec is None else _matrix(path, tuple(jnp.shape(leaf)), spec)
                 for (path, leaf), spec in zip(with_paths, given)]
        return with_paths, found, treedef

    def init(params):
        if is_params_placeholder(params):
            return ScaleByGaloreState(inner.raw.init(params), params)
        _check.inexact_leaves(who, params)
        with_paths, found, treedef = plans(params)
        for (path, leaf), m in zip(with_paths, found):
            _real_if_projected(path, leaf, m)
        leaves = [leaf for _, leaf in with_paths]
        projectors = [_zero_projector(p, m, rank) for p, m in zip(leaves, found)]
        proxies = [_proxy(p, m, rank) for p, m in zip(leaves, found)]
        return ScaleByGaloreState(inner.raw.init(treedef.unflatten(proxies)), treedef.unflatten(projectors))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, projector=state.projector)
        h = hyper.read(extra_args)
        refresh = _step.read(extra_args, who) % update_proj_gap == 0
        with_paths, found, treedef = plans(updates)
        grads = [g for _, g in with_paths]
        pairs = [_project(g, p, m, rank, refresh)
                 for g, p, m in zip(grads, treedef.flatten_up_to(state.projector), found)]
        low_rank = treedef.unflatten([low for low, _ in pairs])
        projectors = [projector for _, projector in pairs]
        inner_updates, inner_state = inner.raw.update(low_rank, state.inner, None, **extra_args)
        s = h("scale")
        out = [_project_back(u, g, p, m, s)
               for u, g, p, m in zip(treedef.flatten_up_to(inner_updates), grads, projectors, found)]
        return treedef.unflatten(out), ScaleByGaloreState(inner_state, treedef.unflatten(projectors))

    return primitive(init, update, hyper, reads_step=True, parts={"base_optimizer": inner})


def _real_if_projected(path, leaf: jax.Array, m: Optional[_Matrix]) -> None:
    if m is not None and jnp.iscomplexobj(leaf):
        raise TypeError(COMPLEX_MATRIX.format(path=jax.tree_util.keystr(path),
                                              dtype=jnp.result_type(leaf)))


def _shapes(m: _Matrix, rank: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The projector's shape and the projected gradient's, for rank ``min(rank, m, n)``."""
    r = min(rank, m.rows, m.cols)
    if m.left:
        return (m.rows, r), (r, m.cols)
    return (m.cols, r), (m.rows, r)


def _zero_projector(p: jax.Array, m: Optional[_Matrix], rank: int) -> jax.Array:
    return jnp.zeros((0, 0) if m is None else _shapes(m, rank)[0], p.dtype)


def _proxy(p: jax.Array, m: Optional[_Matrix], rank: int) -> jax.Array:
    """A zero array shaped like what the inner optimizer sees for ``p``: projected, or ``p``'s."""
    return jnp.zeros_like(p) if m is None else jnp.zeros(_shapes(m, rank)[1], p.dtype)


def _project(g: jax.Array, projector: jax.Array, m: Optional[_Matrix], rank: int, refresh):
    """(the projected gradient, the projector in force), for one leaf."""
    if m is None:
        return g, projector
    r = min(rank, m.rows, m.cols)
    matrix = m.to_matrix(g)

    def fresh():
        u, _, vh = jnp.linalg.svd(matrix.astype(jnp.float32), full_matrices=False)
        basis = u[:, :r] if m.left else vh[:r, :].T
        return basis.astype(g.dtype)

    new = _eager.cond(refresh, fresh, lambda: projector)
    return (new.T @ matrix if m.left else matrix @ new), new


def _project_back(u: jax.Array, g: jax.Array, projector: jax.Array, m: Optional[_Matrix], scale):
    if m is None:
        return u
    full = projector @ u if m.left else u @ projector.T
    return (scale.astype(g.dtype) * m.from_matrix(full)).astype(g.dtype)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_galore")
def _galore_rule(a, x, fresh):
    projected = fresh("R")
    if _recipe.INNER in a:
        inner, equations = a[_recipe.INNER][0](f"{projected}_t"), []
    else:
        from ..aliases.adam_family import scale_by_adam  # the default, as in scale_by_galore

        inner, equations = _recipe.term(scale_by_adam(), f"{projected}_t", fresh)
    basis, scale = fresh("P"), a.get("scale", "1.0")
    scale = _recipe.coefficient(scale)
    return rf"{scale}{basis}_t\,{_recipe.group(inner)}", equations + [
        rf"{basis}_t &= \begin{{cases}} U_{{:, :r}} \text{{ of }} \operatorname{{svd}}({x}) & "
        rf"(t - 1) \bmod {a.get('update_proj_gap', '200')} = 0 \\ {basis}_{{t-1}} & \text{{else}} \end{{cases}}, \quad "
        rf"r = \min({a.get('rank', '128')}, m, n)",
        rf"{projected}_t &= {basis}_t^\top {_recipe.group(x)} \quad (m \times n \text{{ with }} m \ge n"
        rf"\text{{; transposed for }} m < n)",
    ]
