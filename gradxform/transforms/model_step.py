"""MoMo's step size: the largest step that a momentum model of the loss allows, capped.

MoMo (Schaipp et al. 2023) keeps running averages of the loss, of the gradient (the momentum
:math:`m_t`) and of :math:`\\langle g, \\theta \\rangle`, which define a model of the loss that is
linear in the params; it takes the step along :math:`m_t` (or :math:`m_t / D_t` with Adam's
preconditioner :math:`D_t`) that brings the model down to a known lower bound, capped by the
learning rate. :func:`momo_step` is that step, with the momentum and the preconditioner as
branches (it needs both, and the gradient, to size the step); :func:`warm_started_momentum` is
MoMo's momentum, which starts at the first gradient instead of at zero.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree
from .polyak import COMPLEX_VALUE, NEEDS_VALUE

# Optax's threshold below which the model's curvature counts as zero: float64's machine epsilon.
_TINY = float(np.finfo(np.float64).eps)
PARAMS_NEEDED_WHY = "(the model of the loss is linear in them)"


@state_class
class WarmStartedMomentumState(NamedTuple):
    mu: PyTree  # running mean of updates, started at the first one; params' tree and dtype


@_recipe.factory
def warm_started_momentum(decay: Hyper = 0.9) -> GradientTransformation:
    r"""Replace each update by a running mean of the updates that starts at the first one.

    .. math::  m_0 = g_0, \qquad m_t = \beta\,m_{t-1} + (1-\beta)\,g_t \quad (t > 0), \qquad u_t = m_t

    with :math:`t` the zero-based step count from :func:`gradxform.chain`. Unlike
    :func:`scale_by_momentum` (``ema=True``) it is not biased toward zero and needs no bias
    correction: MoMo's momentum.

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`WarmStartedMomentumState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024, Algorithm 1. https://arxiv.org/abs/2305.07583
    """
    _check.decay("warm_started_momentum", decay=decay)
    hyper = _hyper.declare("warm_started_momentum", decay=decay)

    def init(params):
        _check.inexact_leaves("warm_started_momentum", params)
        return WarmStartedMomentumState(mu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("warm_started_momentum", updates=updates, state=state.mu)
        h = hyper.read(extra_args)
        first = _step.read(extra_args, "warm_started_momentum") == 0
        beta = jnp.where(first, 0, h("decay"))  # the first update replaces the (zero) mean
        weight = jnp.where(first, 1, h("decay", lambda b: 1 - b))
        mu = jax.tree.map(lambda g, m: _tree.blend(g, m, weight, beta), updates, state.mu)
        return mu, WarmStartedMomentumState(_tree.cast_like(mu, state.mu))

    return primitive(init, update, hyper, reads_step=True)


@state_class
class MomoStepState(NamedTuple):
    momentum: PyTree  # the momentum branch's state
    preconditioner: PyTree  # the preconditioner branch's state (an empty tuple without one)
    mean_loss: jax.Array  # scalar, the params' narrowest dtype: running mean of the loss
    mean_inner: jax.Array  # scalar, same dtype: running mean of <g, theta>
    lower_bound: jax.Array  # scalar, same dtype: the lower bound of the loss in use


@_recipe.factory
def momo_step(
    momentum: Branch,
    preconditioner: Optional[Branch] = None,
    *,
    learning_rate: Hyper = 1.0,
    decay: Hyper = 0.9,
    lower_bound: float = 0.0,
    weight_decay: Hyper = 0.0,
    adapt_lower_bound: bool = False,
    warm_start: bool = True,
) -> GradientTransformation:
    r"""Step along a momentum by MoMo's model-based step size, with decoupled weight decay.

    With :math:`m_t` the ``momentum`` branch's output, :math:`D_t` the ``preconditioner``'s
    (1 without one), :math:`f_t` the loss passed as ``value`` and
    :math:`\bar f_t, \gamma_t` running means (decay :math:`\beta`) of :math:`f_t` and of
    :math:`\langle g_t, \theta_t \rangle`:

    .. math::
        h_t = \big[(1 + \alpha_t\lambda)(\bar f_t - \rho_t\, f^\star - \gamma_t)
              + \langle m_t, \theta_t \rangle\big]_+ \big/ \langle m_t, m_t / D_t \rangle, \\
        \tau_t = \min(\alpha_t / \rho_t,\; h_t), \qquad
        u_t = -\frac{\alpha_t \lambda}{1 + \alpha_t \lambda}\,\theta_t - \tau_t\, m_t / D_t

    with :math:`h_t = 0` where :math:`\langle m_t, m_t / D_t \rangle` is at most float64's
    machine epsilon. ``warm_start=True`` (MoMo) starts the means at their first values and
    :math:`\rho_t = 1`; ``False`` (MoMo-Adam) starts them at zero and :math:`\rho_t = 1 -
    \beta^t` debiases them. With ``adapt_lower_bound`` the bound :math:`f^\star` is re-estimated
    at each step from the model (the paper's Section 5), never below ``lower_bound``.

    Args:
        momentum: the branch computing :math:`m_t` from the update.
        preconditioner: the branch computing :math:`D_t` (Adam's :math:`\sqrt{\hat v_t} +
            \epsilon`), or ``None``.
        learning_rate: :math:`\alpha_t`, the largest step; a number or a schedule.
        decay: :math:`\beta`, the decay of the running means of the loss and of
            :math:`\langle g, \theta \rangle`; in ``[0, 1)``.
        lower_bound: :math:`f^\star`, a lower bound on the loss; a finite number.
        weight_decay: :math:`\lambda`, ``>= 0``.
        adapt_lower_bound: estimate the lower bound on the fly.
        warm_start: start the running means at their first values (MoMo) rather than at zero
            with a bias correction (MoMo-Adam).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MomoStepState` (in a chain; on
        its own, the one link of a :class:`ChainState`); its ``update`` needs params and the
        loss as ``value=``.

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024, Algorithms 1 and 2. https://arxiv.org/abs/2305.07583
    """
    who = "momo_step"
    _check.learning_rate(who, learning_rate=learning_rate)
    _check.decay(who, decay=decay)
    _check.fixed(who, lower_bound=lower_bound)
    _check.finite(who, lower_bound=lower_bound)
    _check.non_negative(who, weight_decay=weight_decay)
    _check.flag(who, adapt_lower_bound=adapt_lower_bound, warm_start=warm_start)
    hyper = _hyper.declare(who, learning_rate=learning_rate, decay=decay, weight_decay=weight_decay)
    first_branch = _link.branch(momentum, who)
    second_branch = None if preconditioner is None else _link.branch(preconditioner, who)

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = _narrowest_dtype(params)
        return MomoStepState(
            momentum=first_branch.raw.init(params),
            preconditioner=() if second_branch is None else second_branch.raw.init(params),
            mean_loss=jnp.zeros([], dtype),
            mean_inner=jnp.zeros([], dtype),
            lower_bound=jnp.asarray(lower_bound, dtype),
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why=PARAMS_NEEDED_WHY))
        value = _loss_value(extra_args)
        h = hyper.read(extra_args)
        step = _step.read(extra_args, who)
        m, momentum_state = first_branch.raw.update(updates, state.momentum, params, **extra_args)
        if second_branch is None:
            denominator, preconditioner_state = None, ()
        else:
            denominator, preconditioner_state = second_branch.raw.update(
                updates, state.preconditioner, params, **extra_args)
        dtype = state.mean_loss.dtype

        def scalar(x):
            return jnp.asarray(x).astype(dtype)

        if warm_start:
            first = step == 0
            beta = jnp.where(first, 0, scalar(h("decay")))
            weight = jnp.where(first, 1, scalar(h("decay", lambda b: 1 - b)))
            rho = jnp.ones([], dtype)
        else:
            beta, weight = scalar(h("decay")), scalar(h("decay", lambda b: 1 - b))
            rho = scalar(1 - h("decay") ** _step.as_float(_step.one_based(step)))
        mean_loss = beta * state.mean_loss + weight * value.astype(dtype)
        mean_inner = beta * state.mean_inner + weight * _inner(updates, params).astype(dtype)
        if denominator is None:  # <m, m> as a sum of squares (Optax's tree.norm)
            curvature = _sum_of_squares(m).astype(dtype)
        else:
            curvature = _inner(m, jax.tree.map(_divide, m, denominator)).astype(dtype)
        inner = _inner(m, params).astype(dtype)
        alpha = h("learning_rate")
        shrink = scalar(h("learning_rate") * h("weight_decay") + 1)  # 1 + alpha lambda
        bound = state.lower_bound
        if adapt_lower_bound:
            cap = shrink * (mean_loss - mean_inner) + inner
            bound = jnp.where(cap < shrink * rho * bound,
                              jnp.maximum(cap / (2 * rho * shrink), scalar(lower_bound)), bound)
        gap = jnp.maximum(shrink * (mean_loss - rho * bound - mean_inner) + inner, 0)
        height = jnp.where(curvature <= _TINY, 0, gap / curvature)
        tau = jnp.minimum(scalar(alpha) / rho, height)
        decay_factor = -(alpha * h("weight_decay")) / (1 + alpha * h("weight_decay"))
        if denominator is None:
            out = jax.tree.map(lambda x, mt: _step_of(x, mt, None, decay_factor, tau), params, m)
        else:
            out = jax.tree.map(lambda x, mt, d: _step_of(x, mt, d, decay_factor, tau),
                               params, m, denominator)
        if adapt_lower_bound:
            bound = jnp.maximum((mean_loss + inner - mean_inner - 0.5 * tau * curvature) / rho,
                                scalar(lower_bound))
        else:
            bound = state.lower_bound
        return out, MomoStepState(momentum_state, preconditioner_state, mean_loss, mean_inner, bound)

    parts = {"momentum": first_branch}
    if second_branch is not None:
        parts["preconditioner"] = second_branch
    return primitive(init, update, hyper, reads_step=True, parts=parts)


def _loss_value(extra_args: dict) -> jax.Array:
    """The loss passed as ``value=``, checked: a real scalar."""
    if extra_args.get("value") is None:
        raise TypeError(NEEDS_VALUE.format(who="momo_step"))
    value = jnp.asarray(extra_args["value"])
    if value.shape != ():
        raise ValueError(_check.NOT_A_SCALAR_VALUE.format(who="momo_step", shape=value.shape))
    if jnp.iscomplexobj(value):
        raise TypeError(COMPLEX_VALUE.format(who="momo_step", dtype=value.dtype))
    return value


def _narrowest_dtype(params: PyTree) -> Any:
    """The lowest-precision floating dtype among the leaves (Optax keeps MoMo's scalars in it)."""
    dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(params)]
    if not dtypes:
        return jnp.result_type(float)
    narrowest = dtypes[0]
    for dtype in dtypes[1:]:
        if _tree.result_dtype(dtype, narrowest) == narrowest:
            narrowest = dtype
    return narrowest


def _inner(a: PyTree, b: PyTree) -> jax.Array:
    r""":math:`\sum \langle a, b \rangle` leaf by leaf in tree order, as Optax's ``tree.vdot``."""
    total: Any = 0
    with jax.numpy_dtype_promotion("standard"):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            total = total + jnp.vdot(x, y, precision=jax.lax.Precision.HIGHEST)
    return jnp.asarray(total)


def _sum_of_squares(tree: PyTree) -> jax.Array:
    r""":math:`\sum |x|^2` summed leaf by leaf in tree order, as Optax's squared ``tree.norm``."""
    total: Any = 0
    with jax.numpy_dtype_promotion("standard"):
        for x in jax.tree.leaves(tree):
            total = total + jnp.sum(jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x)))
    return jnp.asarray(total)


def _divide(m: jax.Array, d: jax.Array) -> jax.Array:
    return jnp.divide(*_tree.promoted(m, d))


def _step_of(x, m, d, decay_factor, tau):
    """:math:`c\\,\\theta - \\tau m / D` in the leaf's dtype, in Optax's order of operations."""
    dtype = _tree.compute_dtype(x.dtype)
    decayed = jnp.asarray(decay_factor).astype(dtype) * x.astype(dtype)
    moved = tau.astype(dtype) * m.astype(dtype)
    if d is not None:
        moved = moved / d.astype(dtype)
    return (decayed - moved).astype(x.dtype)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("warm_started_momentum")
def _warm_started_momentum_rule(a, x, fresh):
    m, b = fresh("m"), a.get("decay", "0.9")
    return rf"{m}_t", [rf"{m}_t &= {b}\,{m}_{{t-1}} + (1 - {b})\,{x} \quad ({m}_0 = {x})"]


@_recipe.formula("momo_step")
def _momo_step_rule(a, x, fresh):
    branches = a[_recipe.INNER]
    m = branches[0](x)
    d = branches[1](x) if len(branches) > 1 else None
    f, inner, h, tau = fresh(r"\bar f"), fresh(r"\gamma"), fresh("h"), fresh(r"\tau")
    lr, b, wd = a.get("learning_rate", "1.0"), a.get("decay", "0.9"), a.get("weight_decay", "0.0")
    warm = a.get("warm_start", "True") == "True"
    start = r"\text{started at its first value}" if warm else ""
    rho = "" if warm else rf"(1 - {b}^{{t}})\,"  # the means' bias correction, 1 when warm started
    no_decay = _recipe.is_zero(wd)
    shrink = "" if no_decay else rf"(1 + {lr}\,{wd})"
    bound = r"f^\star" if a.get("adapt_lower_bound") != "True" else r"f^\star_t"
    direction = _recipe.group(m) if d is None else rf"\frac{{{m}}}{{{d}}}"
    curvature = rf"\|{m}\|^2" if d is None else rf"\langle {m}, {direction} \rangle"
    step = lr if warm else rf"\frac{{{lr}}}{{1 - {b}^{{t}}}}"
    equations = [
        rf"{f}_t &= {b}\,{f}_{{t-1}} + (1 - {b})\,f_t \quad (f_t\text{{: the loss}}{', ' if warm else ''}{start})",
        rf"{inner}_t &= {b}\,{inner}_{{t-1}} + (1 - {b})\,\langle {x}, \theta_t \rangle"
        + (rf" \quad ({start})" if warm else ""),
        rf"{h}_t &= \frac{{\big[{shrink}({f}_t - {rho}{bound} - {inner}_t) + \langle {m}, \theta_t \rangle\big]_+}}"
        rf"{{{curvature}}}",
        rf"{tau}_t &= \min\big({step},\ {h}_t\big)",
    ]
    if bound == r"f^\star_t":
        equations.append(rf"{bound} &\geq {a.get('lower_bound', '0.0')}"
                         r" \quad\text{(re-estimated from the model at each step)}")
    else:
        equations.append(rf"f^\star &= {a.get('lower_bound', '0.0')}")
    decay = "" if no_decay else rf"-\frac{{{lr}\,{wd}}}{{1 + {lr}\,{wd}}}\,\theta_t "
    return rf"{decay}- {tau}_t\,{direction}", equations
