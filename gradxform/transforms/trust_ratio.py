"""Layer-wise trust ratio: scaling each leaf's update by its parameter's norm over its own norm.

LARS and LAMB chain it after their direction (momentum, Adam) and before the learning rate, so
that every layer moves by a step proportional to its weights, whatever the scale of its gradient.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import masks as _masks
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper, Mask
from .additive import PARAMS_REQUIRED


@_recipe.factory
def scale_by_trust_ratio(
    min_norm: Hyper = 0.0,
    trust_coefficient: Hyper = 1.0,
    eps: Hyper = 0.0,
    *,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Scale each leaf's update by the trust ratio of its parameter's norm to the update's norm.

    .. math::
        r = \eta\,\frac{\max(\|\theta\|, n_{min})}{\max(\|g_t\|, n_{min}) + \epsilon}, \qquad
        u_t = r\,g_t

    with both norms taken over one leaf (a layer's weight matrix, a bias vector). Where either
    (clipped) norm is zero, :math:`r = 1`: a zero parameter or a zero update is left as it is.
    The norms are clipped as by Optax's ``safe_norm``, so gradients through the
    update stay finite at zero.

    Args:
        min_norm: :math:`n_{min}`, the least value either norm is given; ``>= 0`` (0: no floor),
            or a schedule of the step count.
        trust_coefficient: :math:`\eta`, a multiplier of the ratio; LARS uses ``1e-3``; ``> 0``,
            or a schedule.
        eps: :math:`\epsilon`, added to the update's norm; ``>= 0``, or a schedule.
        mask: a tree of bools shaped like the params or a prefix of it (or a function of the
            params returning one, or glob patterns; read as :func:`gradxform.masked` reads
            masks); leaves marked ``False`` pass unscaled. ``None`` scales every leaf. LARS uses it
            to spare biases and normalization scales.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017.
        https://arxiv.org/abs/1708.03888
        You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
        ICLR 2020. https://arxiv.org/abs/1904.00962
    """
    _check.non_negative("scale_by_trust_ratio", min_norm=min_norm, eps=eps)
    _check.positive("scale_by_trust_ratio", trust_coefficient=trust_coefficient)
    hyper = _hyper.declare("scale_by_trust_ratio", min_norm=min_norm, trust_coefficient=trust_coefficient, eps=eps)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(PARAMS_REQUIRED.format(who="scale_by_trust_ratio"))
        h = hyper.read(extra_args)
        floor, coefficient, eps_t = h("min_norm"), h("trust_coefficient"), h("eps")

        def scale_leaf(g, p):
            # Each scalar in its norm's dtype, as Optax's Python numbers take it.
            param_norm = _safe_norm(p, floor)
            update_norm = _safe_norm(g, floor)
            ratio = coefficient.astype(param_norm.dtype) * param_norm / (
                update_norm + eps_t.astype(update_norm.dtype)
            )
            either_zero = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
            ratio = jnp.where(either_zero, jnp.ones_like(ratio), ratio)
            return g * ratio.astype(g.dtype)

        new_state = EmptyState()
        scaled = jax.tree.map(scale_leaf, updates, params)
        if mask is None:
            return scaled, new_state
        keep = _masks.resolve("scale_by_trust_ratio", mask, params)  # the one mask reading
        return _masks.select(keep, scaled, updates), new_state

    return primitive(init, update, hyper)


def _safe_norm(x, min_norm):
    """:math:`\\max(\\|x\\|_2, n_{min})`, with a finite gradient at zero (Optax's ``safe_norm``)."""
    norm = jnp.linalg.norm(x, keepdims=True)
    floor = min_norm.astype(norm.dtype)
    small = norm <= floor
    masked_norm = jnp.linalg.norm(jnp.where(small, jnp.ones_like(x), x))
    return jnp.where(jnp.squeeze(small), floor, masked_norm)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_trust_ratio")
def _trust_ratio_rule(a, x, fresh):
    r, floor, eps = fresh("r"), a.get("min_norm", "0.0"), a.get("eps", "0.0")
    coefficient = a.get("trust_coefficient", "1.0")
    coefficient = _recipe.coefficient(coefficient)

    def clipped(norm: str) -> str:
        return norm if _recipe.is_zero(floor) else rf"\max({norm}, {floor})"

    plus = "" if _recipe.is_zero(eps) else f" + {eps}"
    where = r"\text{per leaf; 1 where either norm is 0"
    where += r" or the mask leaves the leaf out}" if "mask" in a else "}"
    params, update = clipped(r"\|\theta_{t-1}\|"), clipped(rf"\|{x}\|")
    return rf"{r}\,{_recipe.group(x)}", [
        rf"{r} &= {coefficient}\frac{{{params}}}{{{update}{plus}}} \quad ({where})",
    ]
