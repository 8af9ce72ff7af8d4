"""The moments Adam's variants keep instead of Adam's, and Lion's softened signs.

Each is one new term of a paper's rule; the rest of each optimizer is Adam's primitives:

* :func:`yogi_moment` -- Yogi's second moment, which moves toward :math:`g^2` by at most
  :math:`(1-\\beta) g^2` a step (Zaheer et al. 2018);
* :func:`belief_moment` -- AdaBelief's running mean of the squared prediction error
  :math:`(g - m)^2`, with :math:`\\epsilon` added to it at every step (Zhuang et al. 2020);
* :func:`gradient_difference` -- Adan's :math:`g_t - g_{t-1}` (Xie et al. 2022);
* :func:`layerwise_mean_of_squares` -- NovoGrad's running mean of each leaf's squared norm, a
  scalar per leaf (Ginsburg et al. 2019);
* :func:`smooth_sign` and :func:`saturating_sign` -- the ``"smooth"`` and ``"refined"`` modes of
  Optax's ``scale_by_lion``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree


@state_class
class YogiMomentState(NamedTuple):
    nu: PyTree  # Yogi's second moment; params' tree, in `dtype` or the params' dtype


@_recipe.factory
def yogi_moment(
    decay: Hyper = 0.999, initial_value: float = 1e-6, dtype: Any = None
) -> GradientTransformation:
    r"""Replace each update by Yogi's second moment, which changes additively, by the sign of a difference.

    .. math::
        \nu_t = \nu_{t-1} - (1-\beta)\,\operatorname{sign}(\nu_{t-1} - |g_t|^2)\,|g_t|^2,
        \qquad \nu_0 = \nu_{init}, \qquad u_t = \nu_t

    Adam's :math:`\nu_t = \nu_{t-1} - (1-\beta)(\nu_{t-1} - g_t^2)` moves by a share of the
    difference, so a few large gradients can shrink the effective learning rate fast; Yogi moves
    by :math:`(1-\beta) g_t^2` in the direction of :math:`g_t^2`, whatever the difference. The
    terms are computed in Optax's order, in the dtype the update and the stored moment promote to
    (float32 at least); for complex params the moment keeps their complex dtype, as in Optax.

    Args:
        decay: :math:`\beta`; in ``[0, 1)``.
        initial_value: :math:`\nu_{init}`, the moment before the first update; ``>= 0`` (Optax
            and the paper use ``1e-6``).
        dtype: dtype in which :math:`\nu` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`YogiMomentState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
        NeurIPS 2018, Algorithm 2.
        https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    _check.decay("yogi_moment", decay=decay)
    _check.non_negative("yogi_moment", initial_value=initial_value)
    hyper = _hyper.declare("yogi_moment", decay=decay)

    def additive_step(g, v, weight):
        squared = _tree.abs_sq(g)
        out = _tree.result_dtype(squared, v)
        dtype = _tree.compute_dtype(out)
        squared, v = squared.astype(dtype), v.astype(dtype)
        step = jnp.asarray(weight).astype(dtype) * jnp.sign(v - squared) * squared
        return (v - step).astype(out)

    def init(params):
        _check.inexact_leaves("yogi_moment", params)
        return YogiMomentState(nu=_tree.full_like(params, initial_value, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("yogi_moment", updates=updates, state=state.nu)
        weight = hyper.read(extra_args)("decay", lambda b: 1 - b)
        nu = jax.tree.map(lambda g, v: additive_step(g, v, weight), updates, state.nu)
        return nu, YogiMomentState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper)


@state_class
class BeliefMomentState(NamedTuple):
    nu: PyTree  # running mean of squared updates plus eps per step; params' tree, `dtype` or params'


def belief_mean(x, s, weight, beta, eps_t):
    """AdaBelief's :math:`s_t = \beta s_{t-1} + w |x|^2 + \\epsilon` for one leaf, in the dtype
    ``|x|^2`` and ``s`` promote to (computed in at least float32)."""
    squared = _tree.abs_sq(x)
    out = _tree.result_dtype(squared, s)
    dtype = _tree.compute_dtype(out)
    mean = _tree.blend(squared.astype(dtype), s.astype(dtype), weight, beta)
    return (mean + jnp.asarray(eps_t).astype(dtype)).astype(out)


@_recipe.factory
def belief_moment(
    decay: Hyper = 0.999, eps: Hyper = 1e-16, dtype: Any = None
) -> GradientTransformation:
    r"""Replace each update by a running mean of its square, with :math:`\epsilon` added at every step.

    .. math::  s_t = \beta\,s_{t-1} + (1-\beta)\,|x_t|^2 + \epsilon, \qquad s_0 = 0, \qquad u_t = s_t

    AdaBelief's :math:`s_t`, fed the prediction error :math:`x_t = g_t - m_t` of the gradient
    by its momentum (a :func:`parallel_sum` of :func:`identity` and minus
    :func:`scale_by_momentum`): the step is large where the gradient is where the momentum
    "believes" it to be. :math:`\epsilon` is kept in the stored mean, as in Zhuang et al.'s
    Algorithm 2 and Optax, so it accumulates (toward :math:`\epsilon / (1-\beta)`).

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.
        eps: :math:`\epsilon`, added to the mean at every step; ``>= 0``.
        dtype: dtype in which :math:`s` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`BeliefMomentState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
        Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020, Algorithm 2.
        https://arxiv.org/abs/2010.07468
    """
    _check.decay("belief_moment", decay=decay)
    _check.non_negative("belief_moment", eps=eps)
    hyper = _hyper.declare("belief_moment", decay=decay, eps=eps)

    def init(params):
        _check.inexact_leaves("belief_moment", params)
        return BeliefMomentState(nu=_tree.zeros_like(params, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("belief_moment", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        weight, beta, eps_t = h("decay", lambda b: 1 - b), h("decay"), h("eps")
        nu = jax.tree.map(lambda x, s: belief_mean(x, s, weight, beta, eps_t), updates, state.nu)
        return nu, BeliefMomentState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper)


@state_class
class GradientDifferenceState(NamedTuple):
    previous: PyTree  # the updates of the previous step; params' tree and dtype


@_recipe.factory
def gradient_difference() -> GradientTransformation:
    r"""Replace each update by its difference from the previous step's update.

    .. math::  u_t = g_t - g_{t-1} \quad (t > 1), \qquad u_1 = 0

    Adan's gradient difference, the term its Nesterov momentum estimate adds to the gradient.
    The first difference is 0, as in Optax (Xie et al. set :math:`g_0 = g_1`). Reads the step
    count from :func:`gradxform.chain`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`GradientDifferenceState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
        Optimizing Deep Models", IEEE TPAMI 2024, Algorithm 1. https://arxiv.org/abs/2208.06677
    """

    def difference(g, previous, first):
        g, previous = _tree.promoted(g, previous)
        return jnp.where(first, jnp.zeros_like(g), g - previous)

    def init(params):
        _check.inexact_leaves("gradient_difference", params)
        return GradientDifferenceState(previous=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("gradient_difference", updates=updates, state=state.previous)
        first = _step.read(extra_args, "gradient_difference") == 0
        out = jax.tree.map(lambda g, p: difference(g, p, first), updates, state.previous)
        return out, GradientDifferenceState(_tree.cast_like(updates, state.previous))

    return primitive(init, update, reads_step=True)


@state_class
class LayerwiseMeanOfSquaresState(NamedTuple):
    nu: PyTree  # running mean of each leaf's squared norm; a scalar per leaf, in the params' dtype


@_recipe.factory
def layerwise_mean_of_squares(decay: Hyper = 0.25) -> GradientTransformation:
    r"""Replace each leaf of the updates by a running mean of its squared norm (one scalar per leaf).

    .. math::
        \nu^{(l)}_1 = \lVert g^{(l)}_1 \rVert^2, \qquad
        \nu^{(l)}_t = \beta\,\nu^{(l)}_{t-1} + (1-\beta)\,\lVert g^{(l)}_t \rVert^2, \qquad
        u^{(l)}_t = \nu^{(l)}_t

    for every leaf :math:`l` (NovoGrad's layer). The mean starts at the first squared norm,
    so it needs no bias correction. The norm is ``jnp.linalg.norm`` squared, as in Optax. The
    output is a scalar per leaf, which broadcasts against the leaf in a :func:`ratio`. A norm
    per leaf, so :func:`gradxform.flatten` rejects it. Reads the step count from
    :func:`gradxform.chain`.

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LayerwiseMeanOfSquaresState` (in a chain; on
        its own, the one link of a :class:`ChainState`).

    References:
        Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen,
        "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep
        Networks", arXiv 2019, Algorithm 1. https://arxiv.org/abs/1905.11286
    """
    _check.decay("layerwise_mean_of_squares", decay=decay)
    hyper = _hyper.declare("layerwise_mean_of_squares", decay=decay)

    def accumulate(g, v, weight, beta, first):
        squared_norm = jnp.linalg.norm(g) ** 2
        mean = _tree.blend(squared_norm, v, weight, beta).astype(v.dtype)
        return jnp.where(first, squared_norm.astype(v.dtype), mean)

    def init(params):
        _check.inexact_leaves("layerwise_mean_of_squares", params)
        return LayerwiseMeanOfSquaresState(nu=_tree.scalars_like(params, 0))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("layerwise_mean_of_squares", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        weight, beta = h("decay", lambda b: 1 - b), h("decay")
        first = _step.read(extra_args, "layerwise_mean_of_squares") == 0
        nu = jax.tree.map(lambda g, v: accumulate(g, v, weight, beta, first), updates, state.nu)
        return nu, LayerwiseMeanOfSquaresState(nu)

    return primitive(init, update, hyper, reads_step=True)


# --- Lion's softened signs (Optax's scale_by_lion modes) -------------------------------------


@_recipe.factory
def smooth_sign(beta: Hyper = 1.0) -> GradientTransformation:
    r"""Map each update to a smooth sign of it, :math:`u_t = \tanh(\beta\,g_t)`. Stateless.

    The ``mode="smooth"`` of Optax's ``scale_by_lion``; :math:`\beta \to \infty` is
    :func:`sign`.

    Args:
        beta: :math:`\beta`, the slope at 0; a finite number ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.positive("smooth_sign", beta=beta)
    hyper = _hyper.declare("smooth_sign", beta=beta)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        beta_t = hyper.read(extra_args)("beta")
        return jax.tree.map(lambda g: jnp.tanh(_tree.times(g, beta_t)), updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def saturating_sign() -> GradientTransformation:
    r"""Keep each update where its magnitude is below 1, else replace it by its sign. Stateless.

    .. math::  u_t = g_t \text{ where } |g_t| < 1, \qquad \operatorname{sign}(g_t) \text{ elsewhere}

    The ``mode="refined"`` of Optax's ``scale_by_lion``: linear near 0, :func:`sign` beyond. For
    real updates it is clipping to :math:`[-1, 1]`; a complex update is projected onto the unit
    disk.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.
    """

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(lambda g: jnp.where(jnp.abs(g) < 1, g, jnp.sign(g)), updates), state

    return primitive(init, update)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("yogi_moment")
def _yogi_moment_rule(a, x, fresh):
    v, b = fresh("v"), a.get("decay", "0.999")
    x2 = rf"|{x}|^2" if " " not in x else rf"\left|{x}\right|^2"
    return rf"{v}_t", [rf"{v}_t &= {v}_{{t-1}} - (1 - {b})\,\operatorname{{sign}}({v}_{{t-1}} - {x2})\,{x2}"]


@_recipe.formula("belief_moment")
def _belief_moment_rule(a, x, fresh):
    s, b, eps = fresh("s"), a.get("decay", "0.999"), a.get("eps", "1e-16")
    return rf"{s}_t", [rf"{s}_t &= {b}\,{s}_{{t-1}} + (1 - {b})\,{_recipe.group(x)}^2 + {eps}"]


@_recipe.formula("gradient_difference")
def _gradient_difference_rule(a, x, fresh):
    d = fresh("d")
    previous = x[:-2] + "_{t-1}" if x.endswith("_t") else rf"{_recipe.group(x)}\big|_{{t-1}}"
    return rf"{d}_t", [rf"{d}_t &= {x} - {previous}"]


@_recipe.formula("layerwise_mean_of_squares")
def _layerwise_mean_of_squares_rule(a, x, fresh):
    v, b = fresh("v"), a.get("decay", "0.25")
    return rf"{v}_t", [rf"{v}_t &= {b}\,{v}_{{t-1}} + (1 - {b})\,\lVert {x} \rVert^2"]


@_recipe.formula("smooth_sign")
def _smooth_sign_rule(a, x, fresh):
    return rf"\tanh({a.get('beta', '1.0')}\,{_recipe.group(x)})", []


@_recipe.formula("saturating_sign")
def _saturating_sign_rule(a, x, fresh):
    return rf"\operatorname{{clip}}({x}, -1, 1)", []
