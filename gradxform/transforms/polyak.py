"""Polyak's step size: the distance of the loss to its minimum over the squared gradient norm.

The one primitive here reads the loss at the current params, passed to ``update`` as the extra
argument ``value`` (as Optax's ``scale_by_polyak`` takes it).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper

NEEDS_VALUE = (
    "{who}: update() needs the loss at the current params, but received no 'value' argument. "
    "Compute it with the gradient and pass it at every update: loss, grads = "
    "jax.value_and_grad(loss_fn)(params); update(grads, state, params, value=loss)."
)
COMPLEX_VALUE = "{who}: value must be a real loss, got dtype {dtype}. Pass the real loss (e.g. jnp.real(loss))."
# Optax's threshold below which the squared norm counts as zero: float64's machine epsilon.
_TINY = float(np.finfo(np.float64).eps)


@_recipe.factory
def scale_by_polyak(
    f_min: Hyper = 0.0,
    max_learning_rate: Hyper = 1.0,
    eps: Hyper = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""Scale the updates by Polyak's step size, from the loss and the updates' squared norm.

    .. math::
        \gamma_t = \min\left(\frac{f(\theta_{t-1}) - f^\star}{\|g_t\|^2 + \epsilon},\;
                    \gamma_{max}\right), \qquad u_t = \gamma_t\,g_t

    with :math:`\|g_t\|^2` summed over every leaf, and :math:`\gamma_t = 0` where
    :math:`\|g_t\|^2 + \epsilon` is at most float64's machine epsilon (a zero gradient: no step).
    The ``"sps+"`` variant replaces the gap :math:`f - f^\star` by its positive part. The loss
    :math:`f(\theta_{t-1})` is the extra argument ``value`` of ``update``.

    Args:
        f_min: :math:`f^\star`, a lower bound on the loss (0 for a model that can fit its data);
            a finite number.
        max_learning_rate: :math:`\gamma_{max}`, the largest step size; ``> 0``.
        eps: :math:`\epsilon`, added to the squared norm; ``>= 0``.
        variant: ``"sps"`` (Loizou et al.) or ``"sps+"`` (Garrigos et al., the gap's positive part).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`); its ``update`` takes ``value=``, the loss.

    References:
        Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
        Adaptive Learning Rate for Fast Convergence", AISTATS 2021. https://arxiv.org/abs/2002.10542
        Garrigos, Gower & Schaipp, "Function value learning: Adaptive learning rates based on the
        Polyak stepsize and function splitting in ERM", 2023. https://arxiv.org/abs/2307.14528
    """
    who = "scale_by_polyak"
    check_polyak_args(who, f_min, max_learning_rate, eps, variant)
    hyper = _hyper.declare(who, f_min=f_min, max_learning_rate=max_learning_rate, eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if "value" not in extra_args:
            raise TypeError(NEEDS_VALUE.format(who=who))
        value = jnp.asarray(extra_args["value"])
        if value.shape != ():
            raise ValueError(_check.NOT_A_SCALAR_VALUE.format(who=who, shape=value.shape))
        if jnp.iscomplexobj(value):
            raise TypeError(COMPLEX_VALUE.format(who=who, dtype=value.dtype))
        h = hyper.read(extra_args)
        squared_norm = _squared_norm(updates)
        dtype = squared_norm.dtype
        if not jnp.issubdtype(value.dtype, jnp.inexact):
            value = value.astype(_hyper.dtype())
        gap = (value - h("f_min").astype(value.dtype)).astype(dtype)  # f - f*, in the value's dtype
        if variant == "sps+":
            gap = jnp.maximum(gap, jnp.zeros_like(gap))
        denominator = squared_norm + h("eps").astype(dtype)
        step = jnp.where(
            denominator <= jnp.asarray(_TINY, dtype),
            jnp.zeros_like(denominator),
            jnp.minimum(gap / denominator, h("max_learning_rate").astype(dtype)),
        )
        return jax.tree.map(lambda g: _tree.times(g, step), updates), state

    return primitive(init, update, hyper)


def check_polyak_args(who: str, f_min, max_learning_rate, eps, variant) -> None:
    """Polyak's step-size arguments, checked for ``who`` (the function the user called)."""
    _check.finite(who, f_min=f_min)
    _check.positive(who, max_learning_rate=max_learning_rate)
    _check.non_negative(who, eps=eps)
    _check.choice(who, "variant", variant, ("sps", "sps+"))


def _squared_norm(tree) -> jax.Array:
    r""":math:`\sum_{\text{leaves}} \sum |x|^2`, added leaf by leaf in tree order (Optax's order).

    Leaves of different precisions add in the dtype standard promotion gives them; an empty
    tree gives 0 in float32.
    """
    sums = [jnp.sum(_tree.abs_sq(x)) for x in jax.tree.leaves(tree)]
    if not sums:
        return jnp.zeros([], jnp.float32)
    total = sums[0]
    with jax.numpy_dtype_promotion("standard"):
        for s in sums[1:]:
            total = total + s
    return total


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_polyak")
def _polyak_rule(a, x, fresh):
    gamma = fresh(r"\gamma")
    gap = r"f(\theta_{t-1}) - f^\star"
    if a.get("variant") == "'sps+'":
        gap = rf"\max({gap}, 0)"
    ratio = rf"\frac{{{gap}}}{{\|{x}\|^2 + {a.get('eps', '0')}}}"
    return rf"{gamma}_t\,{_recipe.group(x)}", [
        rf"{gamma}_t &= \min\left({ratio}, {a.get('max_learning_rate', '1.0')}\right)"
    ]
