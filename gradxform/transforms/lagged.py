"""ADOPT's denominator: the second moment of the *previous* step, and its root bounded below.

ADOPT (Taniguchi et al. 2024) divides the gradient by a second moment that has not yet seen it,
which removes the correlation between numerator and denominator that makes Adam diverge for
some :math:`\\beta_2`. :func:`lagged_mean_of_squares` outputs that earlier mean and then folds in
the current update; :func:`sqrt_at_least` takes its root with a floor instead of an added
:math:`\\epsilon`.
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
from ..core.numerics import safe_sqrt
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree


@state_class
class LaggedMeanOfSquaresState(NamedTuple):
    nu: PyTree  # running mean of squared updates up to this step; params' tree and dtype


@_recipe.factory
def lagged_mean_of_squares(decay: Hyper = 0.9999) -> GradientTransformation:
    r"""Replace each update by the running mean of squares of the updates *before* it.

    .. math::
        u_t = \nu_{t-1}, \qquad
        \nu_t = \begin{cases} |g_0|^2 & t = 0 \\ \beta\,\nu_{t-1} + (1-\beta)\,|g_t|^2 & t > 0 \end{cases}

    with :math:`t` the step count from :func:`gradxform.chain` (0 on the first update). The first
    update sees :math:`\nu_{-1} = 0` and starts the mean at its own square (ADOPT's
    :math:`v_0 = g_0^2`); later ones see a mean they are not part of.

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LaggedMeanOfSquaresState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa & Matsuo,
        "ADOPT: Modified Adam Can Converge with Any :math:`\beta_2` with the Optimal Rate",
        NeurIPS 2024, Algorithm 2. https://arxiv.org/abs/2411.02853
    """
    _check.decay("lagged_mean_of_squares", decay=decay)
    hyper = _hyper.declare("lagged_mean_of_squares", decay=decay)

    def init(params):
        _check.inexact_leaves("lagged_mean_of_squares", params)
        return LaggedMeanOfSquaresState(nu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("lagged_mean_of_squares", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        later = _step.read(extra_args, "lagged_mean_of_squares") > 0
        beta = jnp.where(later, h("decay"), 0)  # the first square replaces the (zero) mean
        nu = jax.tree.map(lambda g, v: _tree.blend(_tree.abs_sq(g), v, 1 - beta, beta),
                          updates, state.nu)
        return state.nu, LaggedMeanOfSquaresState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper, reads_step=True)


@_recipe.factory
def sqrt_at_least(eps: Hyper = 1e-6) -> GradientTransformation:
    r"""Map each update to its square root, bounded below: :math:`u_t = \max(\sqrt{g_t}, \epsilon)`.

    ADOPT's denominator: unlike :func:`sqrt_plus_eps`, the floor leaves roots above
    :math:`\epsilon` unchanged. Stateless.

    Args:
        eps: :math:`\epsilon`, the smallest value a root may take; ``> 0`` (a zero mean would
            otherwise divide by zero).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any :math:`\beta_2` with the
        Optimal Rate", NeurIPS 2024, Algorithm 2. https://arxiv.org/abs/2411.02853
    """
    _check.positive("sqrt_at_least", eps=eps)
    hyper = _hyper.declare("sqrt_at_least", eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        floor = hyper.read(extra_args)("eps")
        return jax.tree.map(lambda v: jnp.maximum(safe_sqrt(v), floor.astype(v.dtype)), updates), state

    return primitive(init, update, hyper)


@_recipe.formula("lagged_mean_of_squares")
def _lagged_mean_of_squares_rule(a, x, fresh):
    v, b = fresh("v"), a.get("decay", "0.9999")
    return rf"{v}_{{t-1}}", [rf"{v}_t &= {b}\,{v}_{{t-1}} + (1 - {b})\,{_recipe.group(x)}^2"]


@_recipe.formula("sqrt_at_least")
def _sqrt_at_least_rule(a, x, fresh):
    return rf"\max(\sqrt{{{x}}}, {a.get('eps', '1e-06')})", []
