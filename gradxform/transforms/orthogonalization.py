"""Matrix-aware primitives of Muon: Newton-Schulz orthogonalization and the scale by matrix shape.

Both act on each leaf as a matrix and declare what they do with a leaf that is not one: by
default they take 2-D leaves only, and ``init`` rejects any other leaf with an error naming its
path and shape (send vectors, scalars and conv kernels elsewhere with :func:`gradxform.partition`
and :func:`gradxform.labels_by_ndim`, as :func:`gradxform.muon` does). Given
``weight_dimension_numbers`` (:mod:`gradxform.transforms.matrix_views`), a leaf of any rank is a
stack of matrices: its reduction axes are the rows, its output axes the columns, and every other
axis indexes one matrix.
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper, PyTree
from . import matrix_views as _views
from .matrix_views import DimensionNumbers

Coefficients = Union[Sequence[float], Sequence[Sequence[float]], str]

# Jordan's quintic (a, b, c), fitted to maximize the slope at zero (modded-nanogpt, 2024).
STANDARD_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
# One (a, b, c) per step, from Ahn et al., "Dion: Distributed Orthonormalized Updates", 2025.
DION_COEFFICIENTS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
COEFFICIENT_PRESETS = {"standard": STANDARD_COEFFICIENTS, "dion": DION_COEFFICIENTS}
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
# How eps keeps the first division finite: ||G|| + eps (Optax) or max(||G||, eps) (PyTorch, Jordan).
EPS_MODES = ("add", "max")

NOT_A_MATRIX = (
    "{who}: every leaf must be a matrix (2-D), got shape {shape} at {path}. {who} treats each "
    "leaf as one matrix and has no rule for other ranks: send vectors, scalars and conv kernels "
    "to another optimizer with gx.partition(..., lambda p: gx.labels_by_ndim(p, {{2: ...}}, "
    "default=...)), as gx.muon does, or reshape them to matrices first."
)
BAD_COEFFICIENTS = (
    "{who}: ns_coeffs must be three numbers (a, b, c), a sequence of such triples (one per "
    "step), or a preset name in {presets}, got ns_coeffs={value!r}."
)
TOO_FEW_STEPS = (
    "{who}: ns_coeffs gives {rows} triples, one per step, but ns_steps={steps} allows at most "
    "{steps}. Raise ns_steps to {rows} or give fewer triples."
)


def check_matrices(who: str, tree: PyTree, spec: DimensionNumbers = None) -> None:
    """Raise for the first leaf of ``tree`` that is not matrices: not 2-D where ``spec`` gives it
    no dimension numbers (:data:`NOT_A_MATRIX`), or whose dimension numbers do not fit it."""
    dims = [None] * len(jax.tree.leaves(tree)) if spec is None else _views.per_leaf(who, spec, tree)
    for (path, leaf), leaf_dims in zip(jax.tree_util.tree_leaves_with_path(tree), dims):
        if leaf_dims is not None:
            _views.axes(who, jax.tree_util.keystr(path), np.shape(leaf), leaf_dims)
        elif np.ndim(leaf) != 2:
            raise ValueError(NOT_A_MATRIX.format(
                who=who, shape=tuple(np.shape(leaf)), path=jax.tree_util.keystr(path) or "the root"))


def coefficient_table(who: str, ns_coeffs: Coefficients, ns_steps: int) -> np.ndarray:
    """The (steps, 3) table of Newton-Schulz coefficients, one row per iteration, checked.

    One triple is used ``ns_steps`` times; a sequence of triples is used as given, one per step
    (as Optax does, ``ns_steps`` then only bounds their number).
    """
    _check.non_negative_int(who, ns_steps=ns_steps)
    given = COEFFICIENT_PRESETS.get(ns_coeffs, None) if isinstance(ns_coeffs, str) else ns_coeffs
    try:
        table = np.asarray(given, dtype=np.float64)
    except (TypeError, ValueError):
        table = np.zeros((0,))
    if given is None or table.ndim not in (1, 2) or table.shape[-1] != 3:
        raise ValueError(BAD_COEFFICIENTS.format(
            who=who, presets=list(COEFFICIENT_PRESETS), value=ns_coeffs))
    if table.ndim == 1:
        return np.tile(table, (ns_steps, 1))
    if table.shape[0] > ns_steps:
        raise ValueError(TOO_FEW_STEPS.format(who=who, rows=table.shape[0], steps=ns_steps))
    return table


def _newton_schulz_step(x: jax.Array, gram: jax.Array, abc) -> jax.Array:
    """:math:`a X + (b A + c A^2) X` with :math:`A = X X^*`."""
    a, b, c = abc
    return a * x + (b * gram + c * gram @ gram) @ x


def _first_step(x: jax.Array, abc, preconditioning: str, eps) -> jax.Array:
    """The first iteration, after the rescaling ``preconditioning`` names (the norm's is done)."""
    if preconditioning == "aol":  # rows scaled by 1 / sqrt(sum_j |A_ij|) (Boissin et al. 2025)
        gram = x @ x.T.conj()
        s = jax.lax.rsqrt(jnp.maximum(jnp.abs(gram).sum(axis=-1), eps))[:, None].astype(x.dtype)
        return _newton_schulz_step(x * s, gram * s * s.T, abc)
    if preconditioning == "schatten":  # divided by the Schatten-4 norm (Grishina et al. 2025)
        gram = x @ x.T.conj()  # Optax omits the conjugate: the same for real x, NaN for complex
        s = jax.lax.rsqrt(jnp.maximum(jnp.linalg.norm(gram, ord="fro", axis=(-2, -1)), eps)).astype(x.dtype)
        return _newton_schulz_step(x * s, gram * s**2, abc)
    return _newton_schulz_step(x, x @ x.T.conj(), abc)


def newton_schulz(
    x: jax.Array, table: np.ndarray, preconditioning: str, eps, eps_mode: str = "add"
) -> jax.Array:
    """Approximately orthogonalize the matrix ``x``: iterate :func:`_newton_schulz_step` over ``table``.

    The iteration commutes with transposition, so a tall matrix is iterated as its transpose
    (the Gram matrix is then the smaller one).
    """
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    eps = jnp.asarray(eps).astype(jnp.finfo(x.dtype).dtype)  # real, as the norms are
    if preconditioning in ("frobenius", "spectral"):
        norm = jnp.linalg.norm(x, ord="fro" if preconditioning == "frobenius" else 2)
        x = x / (norm + eps if eps_mode == "add" else jnp.maximum(norm, eps)).astype(x.dtype)
    for k, abc in enumerate(jnp.asarray(table).astype(x.dtype)):
        x = _first_step(x, abc, preconditioning, eps) if k == 0 else _newton_schulz_step(x, x @ x.T.conj(), abc)
    return x.T if tall else x


@_recipe.factory
def orthogonalize_by_newton_schulz(
    ns_coeffs: Coefficients = STANDARD_COEFFICIENTS,
    ns_steps: int = 5,
    eps: Hyper = 1e-8,
    *,
    preconditioning: str = "frobenius",
    adaptive: bool = False,
    eps_mode: str = "add",
    ns_dtype: Any = None,
    weight_dimension_numbers: DimensionNumbers = None,
) -> GradientTransformation:
    r"""Replace each matrix update by an approximately orthogonal matrix with the same singular vectors.

    With :math:`G = U \Sigma V^\top`, the iteration drives every singular value toward 1, so
    :math:`u_t \approx U V^\top` (Muon's quintic overshoots: its singular values end in about
    :math:`[0.7, 1.2]`, which Jordan found not to hurt):

    .. math::
        X_0 = G / (\lVert G \rVert + \epsilon) \ \text{or}\ G / \max(\lVert G \rVert, \epsilon),
        \qquad
        X_{k+1} = a_k X_k + (b_k A_k + c_k A_k^2) X_k, \quad A_k = X_k X_k^*, \qquad
        u_t = X_K

    computed on :math:`G^\top` when :math:`G` has more rows than columns. The norm is the
    Frobenius norm (``preconditioning="frobenius"``) or the spectral norm (``"spectral"``);
    ``"aol"`` instead scales row :math:`i` of :math:`G` by :math:`(\sum_j |A_{ij}| \vee
    \epsilon)^{-1/2}`, ``"schatten"`` divides by :math:`\sqrt{\lVert G G^\top \rVert_F \vee
    \epsilon}`. With ``adaptive=True`` the result is scaled by the dual norm
    :math:`\langle G, X_K \rangle = \sum_{ij} \bar G_{ij} (X_K)_{ij}` (Bernstein & Newhouse).

    Every leaf must be a matrix: ``init`` raises on a leaf of another rank, naming its path and
    shape, unless ``weight_dimension_numbers`` says how to see it as a stack of matrices (each
    orthogonalized on its own; ``adaptive``'s dual norm is then taken over the whole leaf, as in
    Optax).

    Args:
        ns_coeffs: :math:`(a, b, c)`, used at every step; or one triple per step; or a preset
            name, ``"standard"`` (Jordan's, the default) or ``"dion"`` (Ahn et al.'s five).
        ns_steps: :math:`K` when one triple is given; with one triple per step, the number of
            triples must be at most ``ns_steps``, and all of them are used (as in Optax).
        eps: :math:`\epsilon`, added to the norm; ``>= 0``.
        preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``.
        adaptive: scale by the dual norm :math:`\langle G, X_K \rangle`.
        eps_mode: how :math:`\epsilon` guards the division by the Frobenius or spectral norm:
            ``"add"`` divides by :math:`\lVert G \rVert + \epsilon` (Optax), ``"max"`` by
            :math:`\max(\lVert G \rVert, \epsilon)` (PyTorch's ``Muon``, Jordan's code).
        ns_dtype: the dtype the iteration runs in (PyTorch's ``Muon`` iterates in
            ``jnp.bfloat16``); the result is cast back to the update's dtype. ``None`` iterates
            in the update's own dtype.
        weight_dimension_numbers: a :class:`MuonDimensionNumbers` for every leaf, a tree of them
            (``None`` where a leaf is a plain matrix) or a function of the updates returning one
            (Optax's argument); ``None``: every leaf is a matrix. Keyword only.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Jordan, "modded-nanogpt: Speedrunning the NanoGPT baseline", 2024.
        https://github.com/KellerJordan/modded-nanogpt
        Bernstein & Newhouse, "Old Optimizer, New Norm: An Anthology", 2024.
        https://arxiv.org/abs/2409.20325
        Boissin et al., "Turbo-Muon: Accelerating Orthogonality-Based Optimization with
        Pre-Conditioning", 2025. https://arxiv.org/abs/2512.04632
        Grishina et al., "Accelerating Newton-Schulz Iteration for Orthogonalization via
        Chebyshev-type Polynomials", 2025. https://arxiv.org/abs/2506.10935
    """
    who = "orthogonalize_by_newton_schulz"
    table = coefficient_table(who, ns_coeffs, ns_steps)
    _check.non_negative(who, eps=eps)
    _check.choice(who, "preconditioning", preconditioning, PRECONDITIONINGS)
    _check.flag(who, adaptive=adaptive)
    _check.choice(who, "eps_mode", eps_mode, EPS_MODES)
    work_dtype = None if ns_dtype is None else _check.float_dtype(who, ns_dtype=ns_dtype)
    hyper = _hyper.declare(who, eps=eps)

    def init(params):
        check_matrices(who, params, weight_dimension_numbers)
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)

        def iterate(x):
            return newton_schulz(x, table, preconditioning, h("eps"), eps_mode)

        def orthogonalize(g, dims):
            work = g if work_dtype is None else g.astype(work_dtype)
            if _is_one_matrix(g, dims):
                x = iterate(work)
            else:  # a stack of matrices, each orthogonalized
                stacked, restore = _views.as_matrices(work, dims)
                x = restore(jax.vmap(iterate)(stacked))
            x = x.astype(g.dtype)
            return jnp.sum(g.conj() * x) * x if adaptive else x

        leaves, structure = jax.tree.flatten(updates)
        dims = _dims(who, weight_dimension_numbers, updates)
        return structure.unflatten([orthogonalize(g, d) for g, d in zip(leaves, dims)]), EmptyState()

    return primitive(init, update, hyper)


def _dims(who: str, spec: DimensionNumbers, tree: PyTree) -> list:
    """Each leaf's dimension numbers (``None``: a plain matrix)."""
    return [None] * len(jax.tree.leaves(tree)) if spec is None else _views.per_leaf(who, spec, tree)


def _is_one_matrix(x: jax.Array, dims: Any) -> bool:
    """Whether ``dims`` sees ``x`` as itself: a matrix whose rows are axis 0."""
    return dims is None or (x.ndim == 2 and _views.axes("", "", x.shape, dims) == ((), (0,), (1,)))


@_recipe.factory
def scale_by_shape(consistent_rms: Any = None, *, fan_in_axis: int = 0,
                   weight_dimension_numbers: DimensionNumbers = None) -> GradientTransformation:
    r"""Scale each matrix update by a factor of its shape :math:`(n_{in}, n_{out})`.

    .. math::
        u_t = \sqrt{\max(1,\ n_{out} / n_{in})}\; g_t \quad \text{(Jordan's width scaling)},
        \qquad
        u_t = \rho \sqrt{\max(n_{in}, n_{out})}\; g_t \quad \text{(consistent RMS, } \rho
        \text{ given)}

    with :math:`n_{in}` the length of axis ``fan_in_axis`` and :math:`n_{out}` of the other: axis
    0 in Optax's layout (:math:`y = x W`, shape :math:`(n_{in}, n_{out})`), axis 1 in PyTorch's
    (``torch.nn.Linear`` keeps :math:`(n_{out}, n_{in})`, and ``torch.optim.Muon`` scales its
    learning rate by :math:`\sqrt{\max(1, A/B)}` for a shape :math:`(A, B)`). The second
    form gives an orthogonal update the root-mean-square :math:`\rho` whatever its shape, as
    AdamW's (Liu et al. recommend :math:`\rho = 0.2`). Every leaf must be a matrix: ``init``
    raises on a leaf of another rank, unless ``weight_dimension_numbers`` gives it dimension
    numbers: :math:`n_{in}` is then the product of its reduction axes' lengths, :math:`n_{out}`
    of its output axes' (as in Optax).

    Args:
        consistent_rms: :math:`\rho`, ``>= 0``; ``None`` for the width scaling.
        fan_in_axis: the input axis, ``0`` (Optax's convention) or ``1`` (PyTorch's); keyword only.
        weight_dimension_numbers: as in :func:`orthogonalize_by_newton_schulz`; keyword only, and
            not with ``fan_in_axis=1`` (``MuonDimensionNumbers(1, 0)`` says the same).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024.
        https://kellerjordan.github.io/posts/muon/
        Liu et al., "Muon is Scalable for LLM Training", 2025. https://arxiv.org/abs/2502.16982
    """
    who = "scale_by_shape"
    if consistent_rms is not None:
        _check.non_negative(who, consistent_rms=consistent_rms)
    _check.choice(who, "fan_in_axis", fan_in_axis, (0, 1))
    if fan_in_axis == 1 and weight_dimension_numbers is not None:
        raise ValueError(f"{who}: give fan_in_axis=1 or weight_dimension_numbers, not both "
                         "(MuonDimensionNumbers(reduction_axis=1, output_axis=0) is fan_in_axis=1).")
    whole = _views.MuonDimensionNumbers(fan_in_axis, 1 - fan_in_axis)
    hyper = _hyper.declare(who, **({} if consistent_rms is None else {"rms": consistent_rms}))

    def init(params):
        check_matrices(who, params, weight_dimension_numbers)
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)

        def scaled(g, dims):
            fan_in, fan_out = _views.fans(g.shape, whole if dims is None else dims)
            if consistent_rms is None:
                width = fan_out / fan_in if fan_in else 1  # an empty matrix: any factor
                return _tree.times(g, jnp.sqrt(jnp.maximum(1, width)))
            return _tree.times(g, jnp.sqrt(jnp.maximum(fan_in, fan_out)) * h("rms"))

        leaves, structure = jax.tree.flatten(updates)
        dims = _dims(who, weight_dimension_numbers, updates)
        return structure.unflatten([scaled(g, d) for g, d in zip(leaves, dims)]), EmptyState()

    return primitive(init, update, hyper)
