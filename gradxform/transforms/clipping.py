"""Clipping: bounding each update by value, by the root mean square or norm of its leaf, by the
norm of the whole tree, or unit by unit relative to the weights' norm; and centralization, which
removes each unit's mean from the update.

The arithmetic mirrors Optax 0.2.8 term for term, so clipped updates round identically. Every
bound is a hyperparameter kept in the state (:func:`gradxform.hyperparams`,
:func:`gradxform.set_hyperparams`) and may be a schedule of the step count.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import eager as _eager
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Axes, PyTree, ScalarOrSchedule


@_recipe.factory
def clip(max_delta: ScalarOrSchedule) -> GradientTransformation:
    r"""Clip every element of the update to the interval :math:`[-\delta, \delta]`.

    .. math::  u_t = \min(\max(g_t, -\delta_t), \delta_t)

    Real updates only (a complex number has no order).

    Args:
        max_delta: :math:`\delta_t`, the largest absolute value an element may keep; ``>= 0``,
            or a schedule of the step count.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.non_negative("clip", max_delta=max_delta)
    hyper = _hyper.declare("clip", max_delta=max_delta)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        delta = h("max_delta")

        def clip_leaf(g):
            bound = delta.astype(g.dtype)  # Optax's Python bound takes the update's dtype
            return jnp.clip(g, -bound, bound)

        return jax.tree.map(clip_leaf, updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def clip_by_block_rms(threshold: ScalarOrSchedule) -> GradientTransformation:
    r"""Scale each leaf (a *block*: a weight matrix, a bias) down to an RMS of at most :math:`\tau`.

    .. math::  u_t = g_t \,/\, \max\!\left(1,\ \sqrt{\operatorname{mean}(|g_t|^2)}\,/\,\tau_t\right)

    where the mean runs over the elements of one leaf. Leaves already within the bound pass
    unchanged.

    Args:
        threshold: :math:`\tau_t`, the largest root mean square a leaf may keep; ``> 0``, or a
            schedule of the step count.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.positive("clip_by_block_rms", threshold=threshold)
    hyper = _hyper.declare("clip_by_block_rms", threshold=threshold)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        tau = h("threshold")

        def shrink(g):
            rms = jnp.sqrt(jnp.mean(_tree.abs_sq(g)))
            denominator = jnp.maximum(1.0, rms / tau.astype(rms.dtype))
            if jnp.iscomplexobj(g):  # a real rms: divide in g's complex dtype (strict promotion)
                denominator = denominator.astype(g.dtype)
            return g / denominator

        return jax.tree.map(shrink, updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def clip_by_norm(max_norm: ScalarOrSchedule) -> GradientTransformation:
    r"""Scale each leaf down to an L2 norm of at most :math:`c`, independently of the others.

    .. math::  u_t = g_t \ \text{if}\ \|g_t\|_2 < c_t, \quad\text{else}\ (g_t / \|g_t\|_2)\,c_t

    where :math:`\|g_t\|_2` is the norm of one leaf (all its elements). The per-leaf form of
    :func:`clip_by_global_norm`, with the same arithmetic.

    Args:
        max_norm: :math:`c_t`, the largest norm a leaf may keep; ``> 0``, or a schedule of the
            step count.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.positive("clip_by_norm", max_norm=max_norm)
    hyper = _hyper.declare("clip_by_norm", max_norm=max_norm)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        bound = h("max_norm")

        def shrink(g):
            norm = jnp.sqrt(jnp.sum(_tree.abs_sq(g)))
            return _rescale(g, norm, bound, _within(norm, bound))

        return jax.tree.map(shrink, updates), EmptyState()

    return primitive(init, update, hyper)


@state_class
class ClipByGlobalNormState(NamedTuple):
    norm: jax.Array  # float32 scalar: the last update's global norm before clipping; 0 before any
    clipped_steps: jax.Array  # int32 scalar: updates rescaled so far (norm >= max_norm); saturates
    steps: jax.Array  # int32 scalar: updates seen so far; saturates at 2**31 - 1

    def diagnostics(self) -> dict:
        """The norm before clipping and the fraction of updates clipped, for a logger."""
        fraction = self.clipped_steps / jnp.maximum(self.steps, 1)
        return {"grad_norm": self.norm, "clipped_fraction": fraction.astype(self.norm.dtype)}


@_recipe.factory
def clip_by_global_norm(max_norm: ScalarOrSchedule) -> GradientTransformation:
    r"""Scale the whole update down to a global L2 norm of at most :math:`c`.

    .. math::
        \|g_t\| = \Big(\sum_{\text{leaves}} \sum |g_t|^2\Big)^{1/2}, \qquad
        u_t = g_t \ \text{if}\ \|g_t\| < c_t, \quad\text{else}\ (g_t / \|g_t\|)\,c_t

    Every leaf is scaled by the same factor, so the update keeps its direction. For logging,
    the state records :math:`\|g_t\|` before clipping (``norm``, float32), the number of updates
    rescaled so far (``clipped_steps``: those with :math:`\|g_t\| \ge c_t`, a non-finite norm
    included) and of updates seen (``steps``); both counts are int32 and saturate. The fraction
    of steps clipped is ``clipped_steps / max(steps, 1)``; inside an optimizer, find the state
    by its place (``state[0]`` of a :func:`gradxform.chain`), for example:

    >>> import jax.numpy as jnp, gradxform as gx
    >>> opt = gx.chain(gx.clip_by_global_norm(1.0), gx.scale_by_learning_rate(0.1))
    >>> _, state = opt.update(jnp.array([3.0, 4.0]), opt.init(jnp.zeros(2)))
    >>> clip = state[0]
    >>> float(clip.norm), int(clip.clipped_steps), int(clip.steps)
    (5.0, 1, 1)

    Args:
        max_norm: :math:`c_t`, the largest global norm the update may keep; ``> 0``, or a
            schedule of the step count.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ClipByGlobalNormState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
        ICML 2013. https://arxiv.org/abs/1211.5063
    """
    _check.positive("clip_by_global_norm", max_norm=max_norm)
    hyper = _hyper.declare("clip_by_global_norm", max_norm=max_norm)

    def init(params):
        return ClipByGlobalNormState(
            norm=jnp.zeros([], jnp.float32),
            clipped_steps=_step.zero(),
            steps=_step.zero(),
        )

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        bound = h("max_norm")
        norm = global_norm(updates)
        within = _within(norm, bound)
        clipped = jax.tree.map(lambda g: _rescale(g, norm, bound, within), updates)
        return clipped, ClipByGlobalNormState(
            norm=norm.astype(jnp.float32),
            clipped_steps=jnp.where(within, state.clipped_steps, _step.increment(state.clipped_steps)),
            steps=_step.increment(state.steps),
        )

    return primitive(init, update, hyper)


def global_norm(updates: PyTree) -> jax.Array:
    r"""The global L2 norm :math:`\big(\sum_{\text{leaves}} \sum |x|^2\big)^{1/2}` of a tree.

    ``updates`` is any tree of arrays (the argument is named as Optax names it).

    Summed leaf by leaf in tree order, as Optax's ``optax.tree.norm``.

    Leaves of different precisions add in the dtype standard promotion gives them (float32 and
    float64 sums add in float64), also under strict promotion. An empty tree has norm 0.

    Overflow-safe: where the sum of squares overflows (a float32 entry of 1e20 squares to inf)
    though every entry is finite, the norm is taken again with every entry divided by the
    largest magnitude :math:`M`, :math:`M \big(\sum |x / M|^2\big)^{1/2}`, so that 1e30
    gradients have norm about 1e30, not inf (with which clipping would return zeros). That
    second pass runs only then (a :func:`jax.lax.cond` per leaf), so every other norm is
    Optax's, bit for bit. A norm that is inf because an entry is inf stays inf; NaN stays NaN.
    """
    leaves = jax.tree.leaves(updates)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    total = sum_of_squares(leaves)
    overflowed = jnp.isinf(total)
    return jnp.where(overflowed, _rescaled_norm(leaves, overflowed).astype(total.dtype), jnp.sqrt(total))


def sum_of_squares(leaves: list) -> jax.Array:
    """The sum of ``|x|^2`` over every entry of ``leaves``, leaf by leaf in order, as Optax adds it
    (its square root is Optax's ``optax.tree.norm``, which can overflow)."""
    return _added([jnp.sum(_tree.abs_sq(x)) for x in leaves])


def _added(sums: list) -> jax.Array:
    """``sums[0] + sums[1] + ...`` in order, in the dtype standard promotion gives them."""
    total = sums[0]
    with jax.numpy_dtype_promotion("standard"):
        for s in sums[1:]:
            total = total + s
    return total


def _only_if(needed, fn, x, *scalars):
    """``fn(x, *scalars)`` (a scalar) where ``needed``, else 0, computed only then: one
    :func:`jax.lax.cond` per leaf, so that each cond reads one leaf (``gx.flatten`` can still
    split the norm into buffers)."""
    out = jax.eval_shape(fn, x, *scalars)
    return _eager.cond(needed, fn, lambda *_: jnp.zeros(out.shape, out.dtype), x, *scalars)


def _rescaled_norm(leaves: list, needed) -> jax.Array:
    """The norm as ``2**e * norm(x / 2**e)``, ``2**e`` about the largest magnitude: no square
    overflows. The scaling is by powers of two in two halves, so that no factor is subnormal
    (XLA's CPU backend flushes those to 0) and the scaled entries are exact. Its passes over the
    leaves run only where ``needed``.

    If an entry is inf, the norm is inf (``x / inf`` would be NaN there)."""
    with jax.numpy_dtype_promotion("standard"):
        largest = functools.reduce(
            jnp.maximum, [_only_if(needed, lambda x: jnp.max(jnp.abs(x), initial=0), x) for x in leaves])
    _, exponent = jnp.frexp(largest)  # largest = f * 2**exponent, f in [0.5, 1)
    first, second = exponent // 2, exponent - exponent // 2

    def by_power_of_two(x, sign, first, second):
        real = jnp.abs(x).dtype
        halves = [jnp.ldexp(jnp.ones([], real), sign * e).astype(x.dtype) for e in (first, second)]
        return x * halves[0] * halves[1]

    def scaled_sum(x, first, second):
        return jnp.sum(_tree.abs_sq(by_power_of_two(x, -1, first, second)))

    root = jnp.sqrt(_added([_only_if(needed, scaled_sum, x, first, second) for x in leaves]))
    return jnp.where(jnp.isinf(largest), largest, by_power_of_two(root.astype(largest.dtype), 1, first, second))


def _within(norm, max_norm) -> jax.Array:
    """Whether ``norm < max_norm``, the bound in the norm's dtype (as Optax's Python bound)."""
    return norm < max_norm.astype(norm.dtype)


def _rescale(g, norm, max_norm, within):
    """``g`` where ``within``, else ``(g / norm) * max_norm``, in Optax's order and dtypes."""
    clipped = (g / norm.astype(g.dtype)) * max_norm.astype(g.dtype)
    return jax.lax.select(within, g, clipped)


# Without ``axis``, the axes one unit's norm sums over, by rank (Optax's and the NFNet code's
# convention for Flax/Haiku layouts: (in, out), (heads, in, out) or (in, heads, out), HWIO,
# DHWIO). Scalars, vectors and any leaf with at most one axis longer than 1 are one unit.
_UNIT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}
# Optax's floor on the update norm in the divisor; only guards against 0 / 0 (an update norm
# below it is also below the bound, and then the update is kept as it is).
_DIV_EPS = 1e-6


@_recipe.factory
def adaptive_grad_clip(
    clipping: ScalarOrSchedule = 0.01, eps: ScalarOrSchedule = 1e-3, axis: Axes = None
) -> GradientTransformation:
    r"""Scale each unit's update down to at most :math:`\lambda` times the norm of its weights.

    A *unit* is the slice of a parameter feeding one output (a column of an ``(in, out)``
    kernel). For the update :math:`G_i` and the weights :math:`W_i` of unit :math:`i`,

    .. math::
        u_i = G_i \ \text{if}\ \|G_i\| < \lambda_t \max(\|W_i\|, \epsilon_t), \quad\text{else}\ \
        G_i \, \frac{\lambda_t \max(\|W_i\|, \epsilon_t)}{\max(\|G_i\|, 10^{-6})}

    with Frobenius norms (:math:`|\cdot|^2` for complex leaves). Without ``axis`` the units
    follow Optax's ``unitwise_norm``: a leaf with at most one axis longer than 1 (a scalar, a
    bias) is one unit; rank 2 and 3 (``(in, out)``, multi-head kernels) sum over axis 0; rank 4
    (``HWIO`` convolutions) over axes 0, 1, 2; rank 5 (``DHWIO``) over axes 0 to 3. Other ranks
    need ``axis``. The arithmetic is Optax's term for term; the update keeps its dtype. The
    paper leaves the final classifier layer unclipped: wrap this in :func:`gradxform.masked` to
    do the same.

    Args:
        clipping: :math:`\lambda_t`, the largest ratio of a unit's update norm to its weight
            norm; ``> 0``, or a schedule of the step count. The paper finds that larger
            batches need smaller values; its NFNets use 0.01 at batch size 4096.
        eps: :math:`\epsilon_t`, the weight norm assumed for units whose weights are smaller
            (zero-initialized ones), so that they can move; ``>= 0``, or a schedule.
        axis: ``None`` for the conventions above, or the axis (an int) or axes (a tuple of
            ints) one unit's norm sums over, for every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
        ``update`` needs ``params``.

    References:
        Brock, De, Smith & Simonyan, "High-Performance Large-Scale Image Recognition Without
        Normalization", ICML 2021, Section 4.1. https://arxiv.org/abs/2102.06171
    """
    who = "adaptive_grad_clip"
    _check.positive(who, clipping=clipping)
    _check.non_negative(who, eps=eps)
    axis = _unit_axis_argument(who, axis)
    hyper = _hyper.declare("adaptive_grad_clip", clipping=clipping, eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(
                who=who, why="(the current parameters) to bound each unit's update by its weights' norm"))
        _check.same_structure(who, updates=updates, params=params)
        h = hyper.read(extra_args)
        clipping_t, eps_t = h("clipping"), h("eps")

        def clip_unitwise(path, g, p):
            if g.shape != p.shape:
                raise ValueError(_check.UPDATE_SHAPE_MISMATCH.format(
                    who=who, path=_keystr(path), update_shape=g.shape, param_shape=p.shape))
            # One norm per unit, not broadcast to the leaf's shape as Optax does: the same
            # values eagerly, and under jit XLA then divides once per unit instead of rewriting
            # the division as a product with a reciprocal (one ulp off).
            g_norm = _unitwise_norm(g, axis, who, path)
            p_norm = _unitwise_norm(p, axis, who, path)
            # Optax's Python hyperparameters take the weight norm's dtype.
            max_norm = clipping_t.astype(p_norm.dtype) * jnp.maximum(p_norm, eps_t.astype(p_norm.dtype))
            with jax.numpy_dtype_promotion("standard"):  # as Optax mixes dtypes (complex updates)
                clipped = g * (max_norm / jnp.maximum(g_norm, _DIV_EPS))
                out = jnp.where(g_norm < max_norm, g, clipped)
            return out.astype(g.dtype)

        clipped = jax.tree_util.tree_map_with_path(clip_unitwise, updates, params)
        return clipped, EmptyState()

    return primitive(init, update, hyper)


def _unit_axis_argument(who, axis):
    """``axis`` as ``None``, an int or a tuple of ints; ``TypeError`` for anything else."""
    def is_int(a):
        return isinstance(a, int) and not isinstance(a, bool)

    if axis is None or is_int(axis):
        return axis
    if isinstance(axis, (tuple, list)) and all(is_int(a) for a in axis):
        return tuple(axis)
    raise TypeError(_check.WRONG_KIND.format(
        who=who, name="axis", expected="None, an int or a tuple of ints", got=_check.describe(axis)))


def _keystr(path) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def _unitwise_norm(x, axis, who, path):
    """Each unit's L2 norm, with the summed axes kept as length 1 (Optax's ``unitwise_norm``)."""
    if axis is None and sum(d != 1 for d in x.shape) > 1:
        if x.ndim not in _UNIT_AXES:
            raise ValueError(_check.NO_UNIT_CONVENTION.format(
                who=who, shape=x.shape, path=_keystr(path), example=tuple(range(x.ndim - 1))))
        axis = _UNIT_AXES[x.ndim]
    return jnp.sqrt(jnp.sum(_tree.abs_sq(x), axis=axis, keepdims=True))


@_recipe.factory
def centralize(output_axis: int = 0) -> GradientTransformation:
    r"""Subtract from each update of rank 2 or more its mean over all axes but the output axis.

    For a unit :math:`i` (the slice at index :math:`i` of ``output_axis``) with :math:`M`
    elements,

    .. math::  u_i = g_i - \tfrac{1}{M} \textstyle\sum_{j=1}^{M} g_{i,j}

    so the update of every unit sums to zero. Vectors and scalars (biases, norm scales) pass
    unchanged. The default ``output_axis=0`` is Optax's ``centralize``: the mean over all axes but
    the first, the output axis of PyTorch's ``(out, in, ...)`` kernels that the paper's code
    uses. For Flax and Haiku kernels, laid out ``(..., in, out)``, pass ``output_axis=-1`` to
    take the mean over the inputs of each output unit as the paper defines it (its Eq. 2 with
    :math:`W \in \mathbb{R}^{M \times N}`, one column per output).

    Args:
        output_axis: ``0`` (Optax's and PyTorch's layout) or ``-1`` (Flax's and Haiku's): the
            axis whose slices are centralized one by one.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.

    References:
        Yong, Huang, Hua & Zhang, "Gradient Centralization: A New Optimization Technique for
        Deep Neural Networks", ECCV 2020. https://arxiv.org/abs/2004.01461
    """
    _check.choice("centralize", "output_axis", output_axis, (0, -1))

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        def subtract_mean(g):
            if g.ndim <= 1:
                return g
            kept = output_axis % g.ndim
            return g - g.mean(tuple(a for a in range(g.ndim) if a != kept), keepdims=True)

        return jax.tree.map(subtract_mean, updates), EmptyState()

    return primitive(init, update)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("clip_by_global_norm")
def _clip_by_global_norm_rule(a, x, fresh):
    c = a["max_norm"]
    return rf"{_recipe.group(x)} \cdot \min\left(1, \frac{{{c}}}{{\lVert {x} \rVert}}\right)", []


@_recipe.formula("clip_by_block_rms")
def _clip_by_block_rms_rule(a, x, fresh):
    rms = rf"\sqrt{{\operatorname{{mean}}(|{x}|^2)}}"  # over the elements of one leaf
    return rf"\frac{{{x}}}{{\max\left(1,\ {rms} / {a['threshold']}\right)}}", []
