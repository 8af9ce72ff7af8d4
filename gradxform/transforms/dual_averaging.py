"""Dual averaging: MADGRAD's growing weights, cube-root denominator and step toward the average.

MADGRAD (Defazio & Jelassi 2021) keeps weighted sums of the gradients and of their squares, with
weights :math:`\\lambda_k = \\eta_k \\sqrt{k+1}` that grow with the step, and moves the parameters
toward the point :math:`z_t = x_0 - s_t / \\sqrt[3]{G_t}` that the sums define. The running sums
are :func:`scale_by_momentum` with ``decay=1``; this module adds the three terms that are new.
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


@_recipe.factory
def scale_by_dual_averaging_weight(learning_rate: Hyper, eps: float = 0.0) -> GradientTransformation:
    r"""Scale each update by MADGRAD's dual-averaging weight, which grows with the step.

    .. math::  u_t = \lambda_t\,g_t, \qquad \lambda_t = (\eta_t + \epsilon)\,\sqrt{t + 1}

    with :math:`t` the zero-based step count from :func:`gradxform.chain`. The square root is
    taken in float32 and the product rounded to each update's dtype, as Optax's
    ``scale_by_madgrad`` computes it; :math:`\eta_t + \epsilon` is computed once, in double
    precision for a number.

    Args:
        learning_rate: :math:`\eta_t`, a number or a schedule.
        eps: :math:`\epsilon`, a constant added to the learning rate (MADGRAD's guard against a
            zero weight); a number ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1.
        https://arxiv.org/abs/2101.11075
    """
    who = "scale_by_dual_averaging_weight"
    _check.learning_rate(who, learning_rate=learning_rate)
    _check.fixed(who, eps=eps)
    _check.non_negative(who, eps=eps)
    hyper = _hyper.declare(who, learning_rate=learning_rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        rate = hyper.read(extra_args)("learning_rate", lambda lr: lr + eps)
        step = _step.read(extra_args, who)
        root = jnp.sqrt(_step.one_based(step))  # float32, as jnp.sqrt makes an int32 count

        def weighted(g):
            dtype = _tree.compute_dtype(g.dtype)
            weight = jnp.asarray(rate).astype(dtype) * root.astype(dtype)
            return (weight * g.astype(dtype)).astype(g.dtype)

        return jax.tree.map(weighted, updates), EmptyState()

    return primitive(init, update, hyper, reads_step=True)


@_recipe.factory
def cbrt_plus_eps(eps: Hyper = 1e-6) -> GradientTransformation:
    r"""Map each update to its cube root plus a small constant (MADGRAD's denominator).

    .. math::  u_t = \sqrt[3]{g_t} + \epsilon

    Stateless. Real updates only (the cube root of a sum of squares).

    Args:
        eps: :math:`\epsilon`, added after the root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1.
        https://arxiv.org/abs/2101.11075
    """
    _check.non_negative("cbrt_plus_eps", eps=eps)
    hyper = _hyper.declare("cbrt_plus_eps", eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        eps_t = hyper.read(extra_args)("eps")

        def root(v):
            dtype = _tree.compute_dtype(v.dtype)
            return (jnp.cbrt(v.astype(dtype)) + jnp.asarray(eps_t).astype(dtype)).astype(v.dtype)

        return jax.tree.map(root, updates), EmptyState()

    return primitive(init, update, hyper)


@state_class
class DualAveragingStepState(NamedTuple):
    x0: PyTree  # the params at init, the anchor of the dual average; params' tree and dtype


PARAMS_NEEDED_WHY = "(the step moves them toward the dual average)"


@_recipe.factory
def dual_averaging_step(momentum: Hyper = 0.9) -> GradientTransformation:
    r"""Step from the params toward the dual-averaging point that the update defines.

    .. math::
        z_t = x_0 - d_t, \qquad x_{t+1} = (1-\beta)\,z_t + \beta\,x_t, \qquad u_t = x_{t+1} - x_t

    where :math:`d_t` is the incoming update (MADGRAD's :math:`s_t / (\sqrt[3]{G_t} + \epsilon)`),
    :math:`x_0` the params given to ``init`` and :math:`x_t` the params given to ``update``.
    The update is the difference of the new and the current params, as Optax computes it; no
    learning rate follows. :math:`\beta` averages the iterates (Defazio & Jelassi's momentum).

    Args:
        momentum: :math:`\beta`, the weight kept on the current params; in ``[0, 1]``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`DualAveragingStepState` (in a
        chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1.
        https://arxiv.org/abs/2101.11075
    """
    who = "dual_averaging_step"
    _check.unit_interval(who, momentum=momentum)
    hyper = _hyper.declare(who, momentum=momentum)

    def init(params):
        _check.inexact_leaves(who, params)
        return DualAveragingStepState(x0=jax.tree.map(lambda x: jnp.array(x, copy=True), params))  # own buffers

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why=PARAMS_NEEDED_WHY))
        _check.same_structure(who, updates=updates, state=state.x0)
        h = hyper.read(extra_args)
        weight_z, beta = h("momentum", lambda b: 1 - b), h("momentum")

        def step(x0, d, x):
            z = jnp.subtract(*_tree.promoted(x0, d))
            return _tree.blend(z, x, weight_z, beta) - x

        return jax.tree.map(step, state.x0, updates, params), state

    return primitive(init, update, hyper)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_dual_averaging_weight")
def _dual_averaging_weight_rule(a, x, fresh):
    rate = a.get("learning_rate", r"\alpha_t")
    return rf"({rate} + {a.get('eps', '0')})\sqrt{{t}}\,{_recipe.group(x)}", []


@_recipe.formula("cbrt_plus_eps")
def _cbrt_plus_eps_rule(a, x, fresh):
    return rf"\sqrt[3]{{{x}}} + {a.get('eps', '1e-06')}", []


@_recipe.formula("dual_averaging_step")
def _dual_averaging_step_rule(a, x, fresh):
    b = a.get("momentum", "0.9")
    return rf"(1 - {b})\,\left(x_0 - {x} - x_t\right)", []
