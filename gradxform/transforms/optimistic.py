"""Optimism: extrapolating from the previous gradient to the next (optimistic gradient descent)."""
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
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree


@state_class
class ScaleByOptimisticGradientState(NamedTuple):
    previous_gradient: PyTree  # the update received last time; params' tree and dtype


@_recipe.factory
def scale_by_optimistic_gradient(alpha: Hyper = 1.0, beta: Hyper = 1.0) -> GradientTransformation:
    r"""Replace each update by an extrapolation from the previous one (generalized optimism).

    .. math::  u_t = (\alpha + \beta)\,g_t - \beta\,g_{t-1}, \qquad g_0 = g_1

    With :math:`\alpha = \beta = 1` it is :math:`g_t + (g_t - g_{t-1})`, Popov's
    extrapolation; on the first update, which has no previous gradient, :math:`g_t` stands in
    for it (as in Optax), so :math:`u_1 = (\alpha + \beta) g_1 - \beta g_1`. The first update is
    told by the step count of :func:`gradxform.chain` (0 on the first update).

    Args:
        alpha: :math:`\alpha`, the weight of the gradient; a finite number.
        beta: :math:`\beta`, the weight of the change since the previous gradient (a negative
            momentum); a finite number.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByOptimisticGradientState`
        (in a chain; on its own, the one link of a :class:`ChainState`).

    References:
        Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient and Optimistic
        Gradient Methods for Saddle Point Problems: Proximal Point Approach", AISTATS 2020.
        https://arxiv.org/abs/1901.08511
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018.
        https://arxiv.org/abs/1711.00141
    """
    who = "scale_by_optimistic_gradient"
    _check.finite(who, alpha=alpha, beta=beta)
    hyper = _hyper.declare(who, alpha=alpha, beta=beta)

    def init(params):
        _check.inexact_leaves(who, params)
        return ScaleByOptimisticGradientState(previous_gradient=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.previous_gradient)
        h = hyper.read(extra_args)
        first = _step.read(extra_args, who) == 0
        # alpha + beta in the hyperparameters' dtype, rounded once to each leaf's (as Optax's sum
        # of two Python numbers), then the two products and their difference in the leaf's dtype.
        weight, beta_t = h("alpha") + h("beta"), h("beta")

        def extrapolate(g, previous):
            previous = jnp.where(first, g, previous.astype(g.dtype))
            return _tree.times(g, weight) - _tree.times(previous, beta_t)

        out = jax.tree.map(extrapolate, updates, state.previous_gradient)
        kept = _tree.cast_like(updates, state.previous_gradient)
        return out, ScaleByOptimisticGradientState(previous_gradient=kept)

    return primitive(init, update, hyper, reads_step=True)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_optimistic_gradient")
def _optimistic_rule(a, x, fresh):
    r, alpha, beta = fresh("r"), a.get("alpha", "1.0"), a.get("beta", "1.0")
    return rf"({alpha} + {beta})\,{r}_t - {beta}\,{r}_{{t-1}}", [rf"{r}_t &= {x}"]
