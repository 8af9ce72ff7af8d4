r"""Kronecker-factored preconditioners: Shampoo's inverse roots and SOAP's eigenbasis.

Each leaf is treated as a matrix :math:`G \in \mathbb{R}^{m \times n}` with two statistics, one
per side (Gupta, Koren & Singer 2018):

.. math::  L_t = \beta L_{t-1} + (1-\beta)\,G_t G_t^\top, \qquad
           R_t = \beta R_{t-1} + (1-\beta)\,G_t^\top G_t

(or plain sums, :math:`L_t = L_{t-1} + G_t G_t^\top`, as in the Shampoo paper). The
expensive work on them (an eigendecomposition, or a step of power iteration with a QR
factorization) runs every ``precondition_frequency`` steps, inside the jitted update, under
:func:`jax.lax.cond`: one compiled program serves every step.

Shapes (validated by ``init``):

* a matrix is its own :math:`G`; a leaf with more axes is the matrix of its last axis against
  all the others, :math:`G = \mathrm{reshape}(g, (\prod_{i<k} d_i, d_k))` (a conv kernel
  ``(h, w, c_in, c_out)`` is ``(h w c_in, c_out)``), and its update is reshaped back;
* a side longer than ``max_precond_dim`` keeps no statistic: it is preconditioned by the
  identity there, as in the SOAP reference code;
* vectors and scalars: :func:`scale_by_kronecker_roots` refuses them (send them elsewhere with
  :func:`gradxform.partition`, as :func:`gradxform.shampoo` does); :func:`in_kronecker_eigenbasis`
  keeps the identity basis for them, so SOAP runs plain Adam there (the SOAP reference's
  default, ``precondition_1d=False``).

The building blocks on one matrix (:func:`kronecker_factors`, :func:`inverse_root`,
:func:`eigenbasis`, :func:`refined_eigenbasis`, :func:`to_eigenbasis`, :func:`from_eigenbasis`)
are pure functions; the transformations keep their state as arrays (a side with no statistic
holds a ``(0, 0)`` array). A factor shaped like its param (a square matrix's) is sharded like
it. The statistics and bases are stored in the params' dtype; the decompositions run in float32
at least (there are none for bfloat16).
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax.experimental.shard_alike import shard_alike

from ..core import check as _check
from ..core import eager as _eager
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import primitive
from ..core.link import Branch
from ..core.masked_node import is_masked
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import fast_node, state_class
from ..core.types import Hyper, PyTree

_HIGHEST = jax.lax.Precision.HIGHEST  # the statistics and rotations in full precision (no TF32)

NOT_A_MATRIX_LEAF = (
    "{who}: every leaf must have at least 2 axes, got shape {shape} at {path}. {who} "
    "preconditions each leaf as a matrix and has no rule for vectors and scalars: send them to "
    "another transformation with gx.partition(..., lambda p: gx.labels_by_ndim(p, {{0: 'other', "
    "1: 'other'}}, default='matrix')), as gx.shampoo does."
)
NOT_REAL = (
    "{who}: every leaf must be a real floating-point array, got dtype {dtype} at {path}. "
    "Kronecker factors of complex matrices are not supported."
)
OUTSIDE_EIGENBASIS = (
    "{who}: found no eigenbasis to rotate with. Use it inside gx.in_kronecker_eigenbasis(...), "
    "which passes its bases to the transformations it runs."
)


# --- The shape rule ----------------------------------------------------------------------------


def matrix_shape(shape: tuple[int, ...]) -> Optional[tuple[int, int]]:
    """The matrix a leaf of ``shape`` is preconditioned as: itself (2 axes), its last axis
    against the others (more), or ``None`` (a vector or a scalar)."""
    if len(shape) < 2:
        return None
    return math.prod(shape[:-1]), shape[-1]


def _side(size: int, max_precond_dim: int) -> int:
    """The size of one side's statistic: the side's length, or 0 (identity) above the limit."""
    return size if size <= max_precond_dim else 0


def _factor_shapes(shape: tuple[int, ...], max_precond_dim: int) -> tuple[tuple[int, int], tuple[int, int]]:
    matrix = matrix_shape(shape)
    m, n = (0, 0) if matrix is None else (_side(matrix[0], max_precond_dim), _side(matrix[1], max_precond_dim))
    return (m, m), (n, n)


def _check_real(who: str, params: PyTree) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(NOT_REAL.format(who=who, dtype=dtype, path=jax.tree_util.keystr(path) or "<root>"))


def _check_matrices(who: str, params: PyTree) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if matrix_shape(jnp.shape(leaf)) is None:
            raise ValueError(NOT_A_MATRIX_LEAF.format(
                who=who, shape=tuple(jnp.shape(leaf)), path=jax.tree_util.keystr(path) or "the root"))


def _same_tree(who: str, updates: PyTree, state_tree: PyTree) -> None:
    """Raise, listing the paths on one side only, unless ``updates`` has the tree of ``state_tree``
    (a per-leaf field of the state), a leaf hidden by a mask (a :class:`MaskedNode`: a leaf of
    another group of a :func:`partition`) counting as a leaf. A leaf hidden on one side only has
    moved between groups, as a change of its rank moves it under :func:`labels_by_ndim`: that step
    fails inside JAX, and the chain around it names the shape that changed."""
    _check.same_structure(who, updates=_masked_as_leaves(updates), state=_masked_as_leaves(state_tree))


def _masked_as_leaves(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: 0 if is_masked(x) else x, tree, is_leaf=is_masked)


def _placed_like(param: Any, x: jax.Array) -> jax.Array:
    """``x``, sharded like ``param`` where their shapes agree (a square matrix's factors)."""
    if x.shape != jnp.shape(param):
        return x
    if isinstance(param, jax.core.Tracer):
        return shard_alike(param, x)[1]
    if not getattr(param, "committed", False):  # a param JAX may still move: so may x
        return x
    return jax.device_put(x, param.sharding)


def _factor_zeros(params: PyTree, max_precond_dim: int) -> tuple[PyTree, PyTree]:
    def zeros(p, side):
        return _placed_like(p, jnp.zeros(_factor_shapes(jnp.shape(p), max_precond_dim)[side], p.dtype))

    return jax.tree.map(lambda p: zeros(p, 0), params), jax.tree.map(lambda p: zeros(p, 1), params)


# --- Building blocks on one matrix ---------------------------------------------------------------


def kronecker_factors(left: jax.Array, right: jax.Array, g: jax.Array, decay: Any = None,
                      one_minus_decay: Any = None) -> tuple[jax.Array, jax.Array]:
    r"""Shampoo's two statistics of one matrix, updated with its gradient :math:`G`.

    .. math::  L \leftarrow \beta L + (1-\beta)\,G G^\top, \qquad R \leftarrow \beta R + (1-\beta)\,G^\top G

    or, with ``decay=None``, the sums :math:`L + G G^\top`, :math:`R + G^\top G`. A side held
    as a ``(0, 0)`` array (longer than ``max_precond_dim``) stays as it is.
    """
    return (_statistic(left, g, decay, one_minus_decay),
            _statistic(right, g.T, decay, one_minus_decay))


def _statistic(factor: jax.Array, g: jax.Array, decay: Any, one_minus_decay: Any) -> jax.Array:
    r"""One side of :func:`kronecker_factors`: ``factor`` updated with :math:`G G^\top`."""
    if factor.size == 0:
        return _empty_like(factor)
    outer = jnp.matmul(g, g.T, precision=_HIGHEST)
    if decay is None:
        return factor + outer
    return factor * jnp.asarray(decay, factor.dtype) + outer * jnp.asarray(one_minus_decay, factor.dtype)


def inverse_root(matrix: jax.Array, exponent: float, eps: jax.Array) -> jax.Array:
    r""":math:`(A + \epsilon I)^{-1/p}` of a symmetric positive semi-definite :math:`A`, by
    eigendecomposition: :math:`A = U \operatorname{diag}(\lambda) U^\top`,
    :math:`U \operatorname{diag}((\max(\lambda, 0) + \epsilon)^{-1/p}) U^\top`.

    Eigenvalues below 0 (round-off of a semi-definite matrix) are taken as 0. ``exponent`` is
    :math:`p`; Shampoo uses 4 on each side of a matrix.
    """
    if matrix.size == 0:
        return _empty_like(matrix)
    eigenvalues, vectors = jnp.linalg.eigh(_wide(matrix))
    scaled = jnp.maximum(eigenvalues, 0) + jnp.asarray(eps, eigenvalues.dtype)
    root = jnp.matmul(vectors * (scaled ** (-1.0 / exponent))[None, :], vectors.T, precision=_HIGHEST)
    return root.astype(matrix.dtype)


def eigenbasis(matrix: jax.Array) -> jax.Array:
    """The eigenvectors of a symmetric matrix, as columns (ascending eigenvalues; ``eigh``)."""
    if matrix.size == 0:
        return _empty_like(matrix)
    return jnp.linalg.eigh(_wide(matrix))[1].astype(matrix.dtype)


def refined_eigenbasis(matrix: jax.Array, basis: jax.Array) -> jax.Array:
    r"""One step of power iteration from ``basis`` (Vyas et al. 2024, Algorithm 4):
    :math:`Q \leftarrow \mathrm{QR}(A Q)`, the orthogonal factor of the QR factorization."""
    if matrix.size == 0:
        return _empty_like(matrix)
    product = jnp.matmul(_wide(matrix), _wide(basis), precision=_HIGHEST)
    return jnp.linalg.qr(product)[0].astype(matrix.dtype)


def to_eigenbasis(g: jax.Array, left: jax.Array, right: jax.Array) -> jax.Array:
    r""":math:`Q_L^\top G Q_R`; a side held as a ``(0, 0)`` array is the identity."""
    if left.size:
        g = jnp.matmul(left.T, g, precision=_HIGHEST)
    if right.size:
        g = jnp.matmul(g, right, precision=_HIGHEST)
    return g


def from_eigenbasis(g: jax.Array, left: jax.Array, right: jax.Array) -> jax.Array:
    r""":math:`Q_L G Q_R^\top`, the inverse of :func:`to_eigenbasis` (the bases are orthogonal)."""
    if left.size:
        g = jnp.matmul(left, g, precision=_HIGHEST)
    if right.size:
        g = jnp.matmul(g, right.T, precision=_HIGHEST)
    return g


def _wide(x: jax.Array) -> jax.Array:
    """``x`` in float32 at least: the decompositions have no bfloat16 or float16 kernels."""
    return x if jnp.finfo(x.dtype).bits >= 32 else x.astype(jnp.float32)


def _empty_like(x: jax.Array) -> jax.Array:
    """A new ``(0, 0)`` array for a side with no statistic: a state never shares a buffer, so that
    it can be donated to a jitted step."""
    return jnp.zeros_like(x)


def _as_matrix(g: jax.Array) -> jax.Array:
    matrix = matrix_shape(g.shape)
    return g if matrix is None or g.ndim == 2 else g.reshape(matrix)


def _on_matrices(fn: Callable, updates: PyTree, *factor_trees: PyTree) -> PyTree:
    """``fn(G, *factors)`` on each leaf seen as its matrix, reshaped back to the leaf's shape."""
    return jax.tree.map(lambda g, *fs: fn(_as_matrix(g), *fs).reshape(g.shape), updates, *factor_trees)


def _factors_of(updates, left, right, decay, one_minus_decay):
    """Every leaf's :func:`kronecker_factors`, as the trees of left and of right factors."""
    return (jax.tree.map(lambda g, f: _statistic(f, _as_matrix(g), decay, one_minus_decay), updates, left),
            jax.tree.map(lambda g, f: _statistic(f, _as_matrix(g).T, decay, one_minus_decay), updates, right))


def _placed_tree(updates: PyTree, tree: PyTree) -> PyTree:
    return jax.tree.map(_placed_like, updates, tree)


def _decay_values(hyper, extra_args, decay):
    if decay is None:
        return None, None
    h = hyper.read(extra_args)
    return h("decay"), h("decay", lambda b: 1 - b)


# --- Shampoo: the inverse roots -------------------------------------------------------------------


@state_class
class ScaleByKroneckerRootsState(NamedTuple):
    left: PyTree  # L, (m, m) per leaf (its matrix is m x n); (0, 0) for a side above max_precond_dim
    right: PyTree  # R, (n, n) per leaf, or (0, 0)
    left_root: PyTree  # (L + eps I)^(-1/4) as last recomputed; shaped like left
    right_root: PyTree  # (R + eps I)^(-1/4) as last recomputed; shaped like right


@_recipe.factory
def scale_by_kronecker_roots(
    decay: Optional[Hyper] = None,
    eps: Hyper = 1e-6,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
) -> GradientTransformation:
    r"""Precondition each matrix by the inverse fourth roots of its Kronecker factors (Shampoo).

    .. math::
        L_t = L_{t-1} + G_t G_t^\top, \qquad R_t = R_{t-1} + G_t^\top G_t, \qquad
        u_t = P^L_t\, G_t\, P^R_t, \\
        P^L_t = (L_t + \epsilon I)^{-1/4}, \quad P^R_t = (R_t + \epsilon I)^{-1/4}
        \ \text{if } t \bmod f = 0, \text{ else } P^L_{t-1}, P^R_{t-1}

    (:math:`t` zero-based; with ``decay`` :math:`\beta`, the statistics are running means,
    :math:`L_t = \beta L_{t-1} + (1-\beta) G_t G_t^\top`). With the sums, :math:`L_0 = 0` and
    :math:`\epsilon` inside the root, this is the paper's Algorithm 1 with :math:`L_0 = \epsilon
    I`. The roots are computed by :func:`inverse_root` (an eigendecomposition) under
    :func:`jax.lax.cond`, so the jitted step is one program; between refreshes the last roots
    are used. A leaf with more than two axes is its matrix of the last axis against the others
    (reshaped back after); a side longer than ``max_precond_dim`` is not preconditioned.

    Args:
        decay: :math:`\beta`, in ``[0, 1)``; ``None`` sums the statistics (the paper).
        eps: :math:`\epsilon`, ``> 0``, added to the eigenvalues before the root.
        precondition_frequency: :math:`f`, an int ``>= 1``: the roots are recomputed every
            :math:`f` steps, starting with the first.
        max_precond_dim: an int ``>= 1``: sides longer than this keep the identity.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByKroneckerRootsState`.
        ``init`` raises for a leaf with fewer than two axes or a non-real dtype.

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML
        2018, Algorithm 1. https://arxiv.org/abs/1802.09568
    """
    who = "scale_by_kronecker_roots"
    if decay is not None:
        _check.decay(who, decay=decay)
    _check.positive(who, eps=eps)
    _check.int_at_least(who, 1, precondition_frequency=precondition_frequency)
    _check.int_at_least(who, 1, max_precond_dim=max_precond_dim)
    hyper = _hyper.declare(who, eps=eps) if decay is None else _hyper.declare(who, decay=decay, eps=eps)

    def init(params):
        _check_real(who, params)
        _check_matrices(who, params)
        # Four distinct buffers (a state may be donated to a jitted step).
        return ScaleByKroneckerRootsState(*_factor_zeros(params, max_precond_dim),
                                          *_factor_zeros(params, max_precond_dim))

    def update(updates, state, params=None, **extra_args):
        _same_tree(who, updates, state.left)
        step = _step.read(extra_args, who)
        eps_t = hyper.read(extra_args)("eps")
        left, right = _factors_of(updates, state.left, state.right, *_decay_values(hyper, extra_args, decay))

        def recomputed(factors):
            return jax.tree.map(lambda a: inverse_root(a, 4.0, eps_t), factors)

        left_root, right_root = _eager.cond(
            step % precondition_frequency == 0, recomputed, lambda _: (state.left_root, state.right_root),
            (left, right))
        out = _on_matrices(_preconditioned, updates, left_root, right_root)
        placed = (_placed_tree(updates, t) for t in (left, right, left_root, right_root))
        return out, ScaleByKroneckerRootsState(*placed)

    return primitive(init, update, hyper, reads_step=True)


def _preconditioned(g: jax.Array, left_root: jax.Array, right_root: jax.Array) -> jax.Array:
    """:math:`P^L G P^R`; a side held as a ``(0, 0)`` array is the identity."""
    if left_root.size:
        g = jnp.matmul(left_root, g, precision=_HIGHEST)
    if right_root.size:
        g = jnp.matmul(g, right_root, precision=_HIGHEST)
    return g


# --- SOAP: a transformation run in the eigenbasis -------------------------------------------------


@state_class
class InKroneckerEigenbasisState(NamedTuple):
    left: PyTree  # L, (m, m) per leaf (its matrix is m x n); (0, 0) for vectors, scalars, sides above max_precond_dim
    right: PyTree  # R, (n, n) per leaf, or (0, 0)
    left_basis: PyTree  # Q_L, the eigenbasis of L as last refreshed; shaped like left
    right_basis: PyTree  # Q_R, shaped like right
    inner: PyTree  # the inner transformation's state


@fast_node
class Eigenbasis(NamedTuple):
    """The bases :func:`in_kronecker_eigenbasis` passes to its inner transformation."""

    left: PyTree  # Q_L per leaf
    right: PyTree  # Q_R per leaf


@_recipe.factory
def in_kronecker_eigenbasis(
    inner: Branch,
    decay: Hyper = 0.95,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
) -> GradientTransformation:
    r"""Run ``inner`` with the eigenbases of Shampoo's statistics at hand, and refresh them.

    The inner transformation sees the updates as they are and the bases
    :math:`(Q_L, Q_R)` of each leaf as the extra argument ``eigenbasis``, which
    :func:`rotate_to_eigenbasis` and :func:`rotate_back` read. After the inner step (so that
    this step's gradient does not rotate itself), the statistics and the bases are updated:

    .. math::
        L_t = \beta L_{t-1} + (1-\beta) G_t G_t^\top, \qquad
        R_t = \beta R_{t-1} + (1-\beta) G_t^\top G_t, \\
        Q_{L} \leftarrow \begin{cases} \mathrm{eigh}(L_t) & t = 0 \\
                                      \mathrm{QR}(L_t Q_L) & t \bmod f = 0,\ t > 0 \\
                                      Q_L & \text{otherwise} \end{cases}

    (likewise :math:`Q_R`; :math:`t` zero-based, :math:`Q_L = Q_R = I` before the first
    refresh). The refresh is Algorithm 4 of the paper, one step of power iteration with a QR
    factorization, started from the eigenvectors of the first statistics (as the reference code
    does); the reference code's reordering by estimated eigenvalue is not done. It runs under
    :func:`jax.lax.cond`: one compiled program for every step. Vectors and scalars keep the
    identity basis; a leaf with more axes is its matrix of the last axis against the others; a
    side longer than ``max_precond_dim`` keeps the identity.

    Args:
        inner: a transformation or a list of them (in sequence).
        decay: :math:`\beta`, the statistics' decay; in ``[0, 1)``.
        precondition_frequency: :math:`f`, an int ``>= 1``.
        max_precond_dim: an int ``>= 1``: sides longer than this keep the identity.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`InKroneckerEigenbasisState`.

    References:
        Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving
        and Stabilizing Shampoo using Adam", ICLR 2025, Algorithms 3 and 4.
        https://arxiv.org/abs/2409.11321
    """
    who = "in_kronecker_eigenbasis"
    _check.decay(who, decay=decay)
    _check.int_at_least(who, 1, precondition_frequency=precondition_frequency)
    _check.int_at_least(who, 1, max_precond_dim=max_precond_dim)
    hyper = _hyper.declare(who, decay=decay)
    run = _link.branch(inner, who)

    def init(params):
        _check_real(who, params)
        left, right = _factor_zeros(params, max_precond_dim)
        identity = jax.tree.map(lambda p, f: _placed_like(p, jnp.eye(f.shape[0], dtype=f.dtype)), params, left)
        identity_right = jax.tree.map(lambda p, f: _placed_like(p, jnp.eye(f.shape[0], dtype=f.dtype)), params, right)
        return InKroneckerEigenbasisState(left, right, identity, identity_right, run.raw.init(params))

    def update(updates, state, params=None, **extra_args):
        _same_tree(who, updates, state.left)  # before the inner's own checks
        step = _step.read(extra_args, who)
        bases = Eigenbasis(state.left_basis, state.right_basis)
        out, inner_state = run.raw.update(updates, state.inner, params, **extra_args, eigenbasis=bases)
        left, right = _factors_of(updates, state.left, state.right, *_decay_values(hyper, extra_args, decay))

        def first(operands):
            factors, _ = operands
            return jax.tree.map(eigenbasis, factors)

        def refined(operands):
            factors, old = operands
            return jax.tree.map(refined_eigenbasis, factors, old)

        def kept(operands):
            return operands[1]

        branch = jnp.where(step == 0, 0, jnp.where(step % precondition_frequency == 0, 1, 2))
        left_basis, right_basis = _eager.switch(
            branch, (first, refined, kept), ((left, right), (state.left_basis, state.right_basis)))
        new_state = InKroneckerEigenbasisState(
            *(_placed_tree(updates, t) for t in (left, right, left_basis, right_basis)), inner_state)
        return out, new_state

    return primitive(init, update, hyper, reads_step=True, parts={"inner": run})


def _bases(extra_args: dict, who: str) -> Eigenbasis:
    bases = extra_args.get("eigenbasis")
    if not isinstance(bases, Eigenbasis):
        raise ValueError(OUTSIDE_EIGENBASIS.format(who=who))
    return bases


@_recipe.factory
def rotate_to_eigenbasis() -> GradientTransformation:
    r"""Rotate each update into the eigenbasis of its Kronecker factors: :math:`u = Q_L^\top G Q_R`.

    Reads the bases that :func:`in_kronecker_eigenbasis` passes (it must run inside one); a
    leaf is seen as the matrix of :func:`matrix_shape` and reshaped back; vectors and scalars
    are left as they are.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.

    References:
        Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025,
        Algorithm 3, lines 3 and 5. https://arxiv.org/abs/2409.11321
    """

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        bases = _bases(extra_args, "rotate_to_eigenbasis")
        return _on_matrices(to_eigenbasis, updates, bases.left, bases.right), EmptyState()

    return primitive(init, update)


@_recipe.factory
def rotate_back() -> GradientTransformation:
    r"""Rotate each update back from the eigenbasis of its Kronecker factors: :math:`u = Q_L N Q_R^\top`.

    The inverse of :func:`rotate_to_eigenbasis`, which it follows inside
    :func:`in_kronecker_eigenbasis`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.

    References:
        Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025,
        Algorithm 3, line 10. https://arxiv.org/abs/2409.11321
    """

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        bases = _bases(extra_args, "rotate_back")
        return _on_matrices(from_eigenbasis, updates, bases.left, bases.right), EmptyState()

    return primitive(init, update)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("rotate_to_eigenbasis")
def _rotate_to_eigenbasis_rule(a, x, fresh):
    return rf"Q_L^\top {_recipe.group(x)}\, Q_R", []


@_recipe.formula("rotate_back")
def _rotate_back_rule(a, x, fresh):
    return rf"Q_L {_recipe.group(x)}\, Q_R^\top", []


@_recipe.formula("in_kronecker_eigenbasis")
def _in_kronecker_eigenbasis_rule(a, x, fresh):
    inner = a[_recipe.INNER][0](x)
    b, f, g = a.get("decay", "0.95"), a.get("precondition_frequency", "10"), _recipe.group(x)
    return inner, [
        rf"L_t &= {b}\,L_{{t-1}} + (1 - {b})\,{g} {g}^\top, \quad R_t = {b}\,R_{{t-1}} + (1 - {b})\,{g}^\top {g}",
        rf"Q_L &\leftarrow \mathrm{{eigh}}(L_t) \text{{ after the first update}}, \ \mathrm{{QR}}(L_t Q_L) "
        rf"\text{{ after every }} {f}\text{{-th}} \quad (\text{{likewise }} Q_R \text{{ from }} R_t)",
    ]
