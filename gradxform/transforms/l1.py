r"""L1 regularization, composable with any optimizer: as a subgradient term, or as a proximal step.

Two ways to add :math:`\lambda \lVert\theta\rVert_1` to a loss. :func:`add_l1_subgradient` adds
its subgradient :math:`\lambda \operatorname{sign}(\theta)` to the gradient, before an
optimizer's scaling, as :func:`weight_decay` adds :math:`\lambda\theta`; the weights then hover
around zero without reaching it. :func:`soft_threshold` is the proximal step of the same penalty,
placed after the optimizer's whole update: it shrinks each new weight toward zero by
:math:`\alpha\lambda` and sets it to exactly zero when it would cross, which is what makes L1
solutions sparse (ISTA; Duchi & Singer's forward-backward splitting).
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import masks as _masks
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper, Mask
from .additive import PARAMS_REQUIRED


@_recipe.factory
def add_l1_subgradient(rate: Hyper, mask: Optional[Mask] = None) -> GradientTransformation:
    r"""Add the subgradient of an L1 penalty on the parameters to the update.

    .. math::  u_t = g_t + \lambda_t \operatorname{sign}(\theta_{t-1})

    the gradient of :math:`\lambda \lVert\theta\rVert_1` wherever :math:`\theta \neq 0`, and the
    subgradient 0 at 0. Chained before an optimizer's scaling (``chain(add_l1_subgradient(1e-4),
    adam(1e-3))``) the penalty goes through the optimizer as part of the loss; chained after its
    scaling and before :func:`scale_by_learning_rate`, it is decoupled as AdamW's decay is. A
    complex :math:`\theta` takes :math:`\theta / |\theta|`, the gradient of :math:`|\theta|`.

    Args:
        rate: :math:`\lambda_t`, ``>= 0``; a number or a schedule.
        mask: which leaves to penalize (``True``); ``None`` penalizes every leaf. Read as every
            gradxform mask is (see :func:`gradxform.weight_decay`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Tibshirani, "Regression Shrinkage and Selection via the Lasso", Journal of the Royal
        Statistical Society B 58(1), 1996. https://doi.org/10.1111/j.2517-6161.1996.tb02080.x
    """
    who = "add_l1_subgradient"
    _check.non_negative(who, rate=rate)
    hyper = _hyper.declare(who, rate=rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(PARAMS_REQUIRED.format(who=who))
        rate_t = hyper.read(extra_args)("rate")
        penalized = jax.tree.map(lambda g, p: g + _tree.times(jnp.sign(p), rate_t).astype(g.dtype),
                                 updates, params)
        if mask is None:
            return penalized, EmptyState()
        return _masks.select(_masks.resolve(who, mask, params), penalized, updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def soft_threshold(
    rate: Hyper, learning_rate: Hyper = 1.0, mask: Optional[Mask] = None
) -> GradientTransformation:
    r"""Turn the update into a proximal step of an L1 penalty taken after it (soft-thresholding).

    With :math:`u_t` the incoming update (the optimizer's whole step, learning rate and sign
    included) and :math:`\tau_t = \alpha_t \lambda_t`:

    .. math::
        z = \theta_{t-1} + u_t, \qquad
        \theta_t = \operatorname{sign}(z)\,\max(|z| - \tau_t,\ 0), \qquad
        u'_t = \theta_t - \theta_{t-1}

    :math:`\theta_t = \operatorname{prox}_{\tau_t \lVert\cdot\rVert_1}(z)`: each weight moves
    toward zero by :math:`\tau_t` and stops at exactly zero (up to the rounding of
    :math:`\theta_{t-1} + u'_t`). Put it last, after :func:`scale_by_learning_rate`: with SGD
    it is ISTA, with any other optimizer the same forward-backward splitting of its step. A
    complex :math:`z` shrinks its modulus and keeps its phase.

    Args:
        rate: :math:`\lambda_t`, the L1 penalty's weight; ``>= 0``; a number or a schedule.
        learning_rate: :math:`\alpha_t`, the step size the threshold is scaled by (pass the
            optimizer's own, or fold it into ``rate`` and leave 1); ``>= 0``; a number or a
            schedule.
        mask: which leaves to threshold (``True``); ``None`` thresholds every leaf. Read as
            every gradxform mask is (see :func:`gradxform.weight_decay`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Daubechies, Defrise & De Mol, "An iterative thresholding algorithm for linear inverse
        problems with a sparsity constraint", Communications on Pure and Applied Mathematics
        57(11), 2004. https://arxiv.org/abs/math/0307152
        Duchi & Singer, "Efficient Online and Batch Learning Using Forward Backward Splitting",
        JMLR 10, 2009. https://jmlr.org/papers/v10/duchi09a.html
    """
    who = "soft_threshold"
    _check.non_negative(who, rate=rate)
    _check.learning_rate(who, learning_rate=learning_rate)
    hyper = _hyper.declare(who, rate=rate, learning_rate=learning_rate)

    def shrink(u, p, tau):
        z = p.astype(u.dtype) + u
        magnitude = jnp.abs(z)
        kept = jnp.maximum(magnitude - tau.astype(magnitude.dtype), 0)
        return jnp.sign(z) * kept.astype(z.dtype) - p.astype(u.dtype)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(PARAMS_REQUIRED.format(who=who))
        h = hyper.read(extra_args)
        tau = h("learning_rate") * h("rate")
        shrunk = jax.tree.map(lambda u, p: shrink(u, p, tau), updates, params)
        if mask is None:
            return shrunk, EmptyState()
        return _masks.select(_masks.resolve(who, mask, params), shrunk, updates), EmptyState()

    return primitive(init, update, hyper)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


_LAMBDA = r"\lambda"


@_recipe.formula("add_l1_subgradient")
def _l1_subgradient_rule(a, x, fresh):
    return rf"{x} + {a.get('rate', _LAMBDA)}\,\operatorname{{sign}}(\theta_{{t-1}})", []


@_recipe.formula("soft_threshold")
def _soft_threshold_rule(a, x, fresh):
    z = rf"(\theta_{{t-1}} + {x})"
    tau = rf"{a.get('learning_rate', '1')}\,{a.get('rate', _LAMBDA)}"
    return rf"\operatorname{{sign}}{z}\max(|{z}| - {tau}, 0) - \theta_{{t-1}}", []
