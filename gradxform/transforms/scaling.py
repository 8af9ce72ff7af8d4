"""Multiplying updates by a constant or by a (scheduled) learning rate."""
from __future__ import annotations

import jax

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper, ScalarOrSchedule


@_recipe.factory
def scale(step_size: ScalarOrSchedule) -> GradientTransformation:
    r"""Multiply every update by a constant (or scheduled) factor: :math:`u_t = \alpha_t\,g_t`.

    Args:
        step_size: :math:`\alpha_t`, any finite number, or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.
    """
    _check.finite("scale", step_size=step_size)
    return _scale_by("scale", step_size=step_size)


@_recipe.factory
def scale_by_learning_rate(
    learning_rate: Hyper, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply every update by the negative learning rate: :math:`u_t = -\alpha_t\,g_t`.

    A schedule is called with the step count from :func:`gradxform.chain` (0 on the first
    update). The state keeps the learning rate in force, readable with
    :func:`gradxform.hyperparams` and changeable with :func:`gradxform.set_hyperparams`.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule ``step -> value``.
        flip_sign: multiply by :math:`-\alpha_t` (descent, the default) or by :math:`+\alpha_t`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.learning_rate("scale_by_learning_rate", learning_rate=learning_rate)
    return _scale_by(
        "scale_by_learning_rate", -1 if flip_sign else 1,
        learning_rate=learning_rate,
    )


def _scale_by(who: str, sign: int = 1, **factor) -> GradientTransformation:
    """Multiply updates by ``sign`` times the one hyperparameter in ``factor``."""
    hyper = _hyper.declare(who, **factor)
    (arg,) = factor

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        rate = h(arg, lambda a: sign * a)
        return jax.tree.map(lambda g: _tree.times(g, rate), updates), EmptyState()

    return primitive(init, update, hyper)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale")
def _scale_rule(a, x, fresh):
    return rf"{_recipe.factor(a['step_size'])}\,{_recipe.group(x)}", []


@_recipe.formula("scale_by_learning_rate")
def _learning_rate_rule(a, x, fresh):
    sign = "" if a.get("flip_sign") == "False" else "-"
    return rf"{sign}{_recipe.factor(a['learning_rate'])}\,{_recipe.group(x)}", []
