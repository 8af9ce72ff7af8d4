"""Moments one step behind the update: ACProp's asynchronous denominator.

ACProp (Zhuang et al. 2021) divides the gradient by a second moment that has not yet seen it, and
measures the gradient's spread around the momentum of the steps *before* it. Each primitive here
outputs the value its state held before this update (:math:`x_{t-1}`) and then folds the update
in; :func:`lagged_bias_correction` debiases such a lagged mean, whose first value is empty.
"""
from __future__ import annotations

from typing import NamedTuple

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
from .moment_variants import belief_mean


@state_class
class LaggedMomentumState(NamedTuple):
    mu: PyTree  # running mean of the updates up to this step; params' tree and dtype


@_recipe.factory
def lagged_momentum(decay: Hyper = 0.9) -> GradientTransformation:
    r"""Replace each update by the running mean of the updates *before* it.

    .. math::  u_t = m_{t-1}, \qquad m_t = \beta\,m_{t-1} + (1-\beta)\,g_t, \qquad m_0 = 0

    The momentum's prediction of the update, made before seeing it: ``g - lagged_momentum(b1)``
    (a :func:`parallel_sum`) is ACProp's prediction error.

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LaggedMomentumState` (in a chain;
        on its own, the one link of a :class:`ChainState`).

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021. https://arxiv.org/abs/2110.05454
    """
    _check.decay("lagged_momentum", decay=decay)
    hyper = _hyper.declare("lagged_momentum", decay=decay)

    def init(params):
        _check.inexact_leaves("lagged_momentum", params)
        return LaggedMomentumState(mu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("lagged_momentum", updates=updates, state=state.mu)
        h = hyper.read(extra_args)
        weight, beta = h("decay", lambda b: 1 - b), h("decay")
        mu = jax.tree.map(lambda g, m: _tree.blend(g, m, weight, beta), updates, state.mu)
        return state.mu, LaggedMomentumState(_tree.cast_like(mu, state.mu))

    return primitive(init, update, hyper)


@state_class
class LaggedBeliefMomentState(NamedTuple):
    nu: PyTree  # running mean of squared updates plus eps per step, up to this step; params' tree


@_recipe.factory
def lagged_belief_moment(decay: Hyper = 0.999, eps: Hyper = 1e-16) -> GradientTransformation:
    r"""Replace each update by the belief moment of the updates *before* it.

    .. math::  u_t = s_{t-1}, \qquad s_t = \beta\,s_{t-1} + (1-\beta)\,|x_t|^2 + \epsilon, \qquad s_0 = 0

    :func:`belief_moment` one step behind: fed ACProp's prediction error :math:`x_t`, the output
    is the spread of the gradients before :math:`g_t`, so the step's size does not depend on
    :math:`g_t` itself. :math:`\epsilon` is kept in the stored mean (Optax's convention).

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.
        eps: :math:`\epsilon`, added to the mean at every step; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LaggedBeliefMomentState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021, Algorithm 2.
        https://arxiv.org/abs/2110.05454
    """
    _check.decay("lagged_belief_moment", decay=decay)
    _check.non_negative("lagged_belief_moment", eps=eps)
    hyper = _hyper.declare("lagged_belief_moment", decay=decay, eps=eps)

    def init(params):
        _check.inexact_leaves("lagged_belief_moment", params)
        return LaggedBeliefMomentState(nu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("lagged_belief_moment", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        weight, beta, eps_t = h("decay", lambda b: 1 - b), h("decay"), h("eps")
        nu = jax.tree.map(lambda x, s: belief_mean(x, s, weight, beta, eps_t), updates, state.nu)
        return state.nu, LaggedBeliefMomentState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper)


@_recipe.factory
def lagged_bias_correction(decay: Hyper) -> GradientTransformation:
    r"""Undo the bias toward zero of a running mean that lags one step behind the update.

    .. math::  u_t = x_t / (1 - \beta^{\,t}) \quad (t \ge 1), \qquad u_0 = 1

    where :math:`t` is the zero-based step count read from :func:`gradxform.chain`: at step
    :math:`t` a lagged mean has seen :math:`t` updates. At the first step it has seen none and
    there is nothing to correct; the output is 1, so that a denominator built on it leaves the
    first update at unit scale (ACProp's convention in Optax). The correction is computed as in
    :func:`bias_correction`.

    Args:
        decay: :math:`\beta`, the decay of the lagged mean being corrected; in ``[0, 1)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021. https://arxiv.org/abs/2110.05454
    """
    _check.decay("lagged_bias_correction", decay=decay)
    hyper = _hyper.declare("lagged_bias_correction", decay=decay)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        step = _step.read(extra_args, "lagged_bias_correction")
        first = step == 0
        seen = jnp.where(first, 1, step)  # no 0 ** 0 on the first step, whose output is replaced
        correction = 1 - h("decay") ** _step.as_float(seen)
        out = jax.tree.map(
            lambda x: jnp.where(first, jnp.ones_like(x), x / correction.astype(x.dtype)), updates
        )
        return out, EmptyState()

    return primitive(init, update, hyper, reads_step=True)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("lagged_momentum")
def _lagged_momentum_rule(a, x, fresh):
    m, b = fresh("m"), a.get("decay", "0.9")
    return rf"{m}_{{t-1}}", [rf"{m}_t &= {b}\,{m}_{{t-1}} + (1 - {b})\,{x}"]


@_recipe.formula("lagged_belief_moment")
def _lagged_belief_moment_rule(a, x, fresh):
    s, b, eps = fresh("s"), a.get("decay", "0.999"), a.get("eps", "1e-16")
    return rf"{s}_{{t-1}}", [rf"{s}_t &= {b}\,{s}_{{t-1}} + (1 - {b})\,{_recipe.group(x)}^2 + {eps}"]


@_recipe.formula("lagged_bias_correction")
def _lagged_bias_correction_rule(a, x, fresh):
    return rf"\frac{{{x}}}{{1 - {a['decay']}^{{t-1}}}}", []
