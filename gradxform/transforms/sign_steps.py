"""Steps set by signs alone: Rprop's per-element step sizes, and Optax's name for the sign map.

Rprop ignores the gradient's magnitude: each element keeps a step size of its own, grown while
the gradient keeps its sign and shrunk when it flips.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.named import value_of
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree
from .elementwise import sign

STEP_BOUNDS = (
    "{who}: max_step_size must be >= min_step_size, got min_step_size={low!r} and "
    "max_step_size={high!r}. Every step size is clipped to [min_step_size, max_step_size]."
)
REAL_ONLY = (
    "{who}: every parameter must be real (the sign of a complex number has no order to compare), "
    "got {dtype} at {path}. Optimize its real and imaginary parts as two real parameters."
)


@state_class
class ScaleByRpropState(NamedTuple):
    step_sizes: PyTree  # each element's step size; params' tree and dtype
    prev_updates: PyTree  # the step size times the sign of the last gradient, 0 where it flipped; params'


@_recipe.factory
def scale_by_rprop(
    learning_rate: float,
    eta_minus: Hyper = 0.5,
    eta_plus: Hyper = 1.2,
    min_step_size: Hyper = 1e-6,
    max_step_size: Hyper = 50.0,
    *,
    lagged: bool = True,
) -> GradientTransformation:
    r"""Replace each update by a step of its own size in the direction of its sign (Rprop).

    With :math:`\Delta_{t-1}` the previous step (state ``prev_updates``, :math:`\Delta_0 = 0`)
    and :math:`s_t = g_t\,\Delta_{t-1}` the agreement of the new gradient with it:

    .. math::
        \eta_t = \begin{cases}
            \operatorname{clip}(\eta^+ \eta_{t-1}, \eta_{min}, \eta_{max}) & s_t > 0 \\
            \operatorname{clip}(\eta^- \eta_{t-1}, \eta_{min}, \eta_{max}) & s_t < 0 \\
            \eta_{t-1} & s_t = 0
        \end{cases}, \qquad \eta_0 = \alpha, \\
        \Delta_t = \begin{cases} 0 & s_t < 0 \\ \eta_t \operatorname{sign}(g_t) & \text{else} \end{cases},
        \qquad
        u_t = \begin{cases} 0 & s_t < 0 \\ \Delta_{t-1} & \text{else} \end{cases}

    A flip of sign shrinks the step and skips it (the iRprop\ :sup:`-` rule of Igel & Hüsken:
    the next gradient then compares with 0 and keeps the step size). The output is Optax's:
    the step :math:`\Delta_{t-1}` decided at the previous update (0 on the first), so the
    update lags one step behind the paper's :math:`\Delta_t`. It points up the gradient;
    :func:`gradxform.rprop` chains ``scale(-1.0)`` after it.

    Args:
        learning_rate: :math:`\alpha`, every element's initial step size; a number ``> 0``
            (it sets the state at ``init``, so it is no hyperparameter to schedule or set).
        eta_minus: :math:`\eta^-`, the factor applied on a flip of sign; in ``(0, 1]``.
        eta_plus: :math:`\eta^+`, the factor applied while the sign holds; ``>= 1``.
        min_step_size: :math:`\eta_{min}`, the least step size; ``>= 0``.
        max_step_size: :math:`\eta_{max}`, the largest step size; ``>= min_step_size``.
        lagged: output Optax's :math:`u_t` above (``True``), or the paper's and PyTorch's
            step of this update, :math:`u_t = \Delta_t` (``False``; see :func:`gradxform.torch_rprop`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByRpropState` (in a chain;
        on its own, the one link of a :class:`ChainState`).

    References:
        Riedmiller & Braun, "A direct adaptive method for faster backpropagation learning: the
        RPROP algorithm", IEEE International Conference on Neural Networks, 1993.
        https://doi.org/10.1109/ICNN.1993.298623
        Igel & Hüsken, "Empirical evaluation of the improved Rprop learning algorithms",
        Neurocomputing 50, 2003. https://doi.org/10.1016/S0925-2312(01)00700-7
    """
    who = "scale_by_rprop"
    check_rprop_args(who, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    _check.flag(who, lagged=lagged)
    hyper = _hyper.declare(
        who, eta_minus=eta_minus, eta_plus=eta_plus, min_step_size=min_step_size, max_step_size=max_step_size
    )

    def init(params):
        _check.inexact_leaves(who, params)
        _real_leaves(who, params)
        return ScaleByRpropState(
            step_sizes=_tree.full_like(params, learning_rate), prev_updates=_tree.zeros_like(params)
        )

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.step_sizes)
        h = hyper.read(extra_args)
        grow, shrink = h("eta_plus"), h("eta_minus")
        low, high = h("min_step_size"), h("max_step_size")

        def agreement(g, prev):
            return jnp.multiply(*_tree.promoted(g, prev))

        def next_size(s, size):
            dtype = _tree.compute_dtype(size.dtype)
            factor = jnp.where(s > 0, grow.astype(dtype), shrink.astype(dtype))
            scaled = jnp.clip(factor * size.astype(dtype), low.astype(dtype), high.astype(dtype))
            return jnp.where(s == 0, size, scaled.astype(size.dtype))

        def next_step(s, g, size):
            return jnp.where(s < 0, jnp.zeros_like(size), size * jnp.sign(g).astype(size.dtype))

        def output(s, g, prev):
            return jnp.where(s < 0, jnp.zeros_like(prev), prev).astype(g.dtype)

        s = jax.tree.map(agreement, updates, state.prev_updates)
        sizes = jax.tree.map(next_size, s, state.step_sizes)
        steps = jax.tree.map(next_step, s, updates, sizes)
        out = jax.tree.map(output, s, updates, state.prev_updates) if lagged else steps
        return out, ScaleByRpropState(step_sizes=sizes, prev_updates=steps)

    return primitive(init, update, hyper)


@_recipe.factory
def scale_by_sign() -> GradientTransformation:
    r"""Map each update to its sign, :math:`u_t = \operatorname{sign}(g_t)`: Optax's name for :func:`sign`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState`.

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018. https://arxiv.org/abs/1802.04434
    """
    return sign()


def check_rprop_args(who: str, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size) -> None:
    """Rprop's arguments, checked for ``who`` (the function the user called)."""
    _check.fixed(who, learning_rate=learning_rate)
    _check.positive(who, learning_rate=learning_rate)
    _check.in_interval(who, 0, 1, "right", eta_minus=eta_minus)
    _check.at_least(who, 1.0, " A sign that holds should not shrink the step; Rprop uses 1.2.", eta_plus=eta_plus)
    _check.non_negative(who, min_step_size=min_step_size, max_step_size=max_step_size)
    _check_bounds(who, value_of(min_step_size), value_of(max_step_size))


def _check_bounds(who: str, low, high) -> None:
    """``min_step_size <= max_step_size`` where both are concrete numbers."""
    if callable(low) or callable(high):
        return
    try:
        ordered = float(low) <= float(high)
    except (TypeError, jax.errors.ConcretizationTypeError):  # traced values pass
        return
    if not ordered:
        raise ValueError(STEP_BOUNDS.format(who=who, low=low, high=high))


def _real_leaves(who: str, params) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            where = jax.tree_util.keystr(path) or "<root>"
            raise TypeError(REAL_ONLY.format(who=who, dtype=jnp.result_type(leaf), path=where))


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_rprop")
def _rprop_rule(a, x, fresh):
    step, size = fresh(r"\Delta"), fresh(r"\eta")
    agree = rf"{_recipe.group(x)}\,{step}_{{t-1}}"
    return rf"[{agree} \geq 0]\,{step}_{{t-1}}", [
        rf"{size}_t &= \operatorname{{clip}}(\eta^\pm {size}_{{t-1}}) \text{{ by the sign of }} {agree}",
        rf"{step}_t &= [{agree} \geq 0]\,{size}_t \operatorname{{sign}}{_recipe.group(x)}",
    ]
