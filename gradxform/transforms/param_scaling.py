"""Adding a multiple of the parameters to the update, of either sign (Fromage's rescaling)."""
from __future__ import annotations

import jax

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper


@_recipe.factory
def add_scaled_params(rate: Hyper) -> GradientTransformation:
    r"""Add the parameters times a factor of either sign to the update: :math:`u_t = g_t + c_t\,\theta_{t-1}`.

    The same term as :func:`weight_decay`, without its sign: a negative :math:`c_t` shrinks
    the parameters toward zero by the factor :math:`1 + c_t` at each step, whatever their
    gradient. Fromage adds :math:`c = 1/\sqrt{1+\alpha^2} - 1` after its scaled step
    :math:`-\alpha g / \sqrt{1+\alpha^2}`, so that the new iterate is
    :math:`(\theta - \alpha g) / \sqrt{1+\alpha^2}`.

    Args:
        rate: :math:`c_t`, a finite number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Bernstein, Vahdat, Yue & Liu, "On the distance between two neural networks and the
        stability of learning", NeurIPS 2020. https://arxiv.org/abs/2002.03432
    """
    who = "add_scaled_params"
    _check.finite(who, rate=rate)
    hyper = _hyper.declare(who, rate=rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why="(the term it adds is a multiple of them)"))
        _check.same_structure(who, updates=updates, params=params)
        rate_t = hyper.read(extra_args)("rate")
        return jax.tree.map(lambda g, p: g + _tree.times(p, rate_t), updates, params), state

    return primitive(init, update, hyper)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("add_scaled_params")
def _add_scaled_params_rule(a, x, fresh):
    return rf"{x} + {_recipe.factor(a.get('rate', 'c'))}\,\theta_{{t-1}}", []
