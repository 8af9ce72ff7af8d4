"""Cautious masking: any momentum optimizer, stepping only where its update agrees with the
gradient (Liang, Chen, Liu & Liu 2024, "Cautious Optimizers")."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree

REAL_ONLY = (
    "{who}: the sign agreement of an update with its gradient is defined for real numbers only, "
    "got a {dtype} parameter at {path}. Wrap the optimizer of real parameters only, e.g. with "
    "gx.partition, or optimize the real and imaginary parts as separate real parameters."
)


@state_class
class CautiousState(NamedTuple):
    inner: PyTree  # the wrapped optimizer's state


@_recipe.factory
def cautious(inner: Branch, eps: Hyper = 1e-8) -> GradientTransformation:
    r"""Keep the inner optimizer's update only where it descends along the gradient, rescaled.

    With :math:`u_t` the update of ``inner`` (what :func:`gradxform.apply_updates` adds to the
    params, learning rate and sign included) and :math:`g_t` the incoming gradient, per leaf of
    :math:`d` elements:

    .. math::
        \phi_t = \mathbb{1}[\,u_t \odot g_t < 0\,], \qquad
        \tilde u_t = u_t \odot \phi_t \,/\, \big(\tfrac{1}{d}\textstyle\sum_i \phi_{t,i} + \epsilon\big)

    This is the one line of the paper's Algorithm 1 (``m = (u * g > 0); p -= lr * u * m /
    (m.mean() + eps)``) written for an update that already holds :math:`-\alpha_t`: the paper's
    direction :math:`u` is subtracted, ours is added, so "same sign as the gradient" there is
    :math:`u_t g_t < 0` here. Coordinates where either is zero are dropped (the paper's strict
    inequality). The rescaling by the mask's mean keeps the update's average size; it is taken
    per leaf (per parameter tensor, as the paper's PyTorch code does per ``p``), so ``gx.flatten``
    rejects this wrapper. (The authors' first release rescaled by :math:`d / (\sum_i \phi_i + 1)`
    instead; the two differ only in the small constant.)

    Wrap a whole optimizer, e.g. ``cautious(adamw(1e-3))``: the mask covers everything ``inner``
    outputs, so a weight decay inside ``inner`` is masked with the rest. The paper's C-AdamW
    decays every coordinate; with the decay of :math:`\theta_{t-1}` (PyTorch's order) that is
    ``parallel_sum((1.0, cautious(adam(lr))), (1.0, [set_to_zero(), weight_decay(wd),
    scale_by_learning_rate(lr)]))``. ``inner``'s state moves as it would unwrapped: only its
    output is masked.

    Args:
        inner: the optimizer whose updates are masked: a transformation, or a list of them
            applied in sequence.
        eps: :math:`\epsilon`, added to the mask's mean so an all-masked leaf gives zeros;
            ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`CautiousState` (in a chain; on
        its own, the one link of a :class:`ChainState`).

    References:
        Liang, Chen, Liu & Liu, "Cautious Optimizers: Improving Training with One Line of Code",
        arXiv:2411.16085, 2024, Algorithm 1. https://arxiv.org/abs/2411.16085

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.cautious(gx.sgd(1.0, momentum=0.9))
        >>> state = opt.init(jnp.zeros(2))
        >>> _, state = opt.update(jnp.array([1.0, 1.0]), state)
        >>> updates, state = opt.update(jnp.array([1.0, -0.5]), state)  # momentum [1.9, 0.4]
        >>> print(updates)  # the second coordinate would ascend: dropped, the first doubled
        [-3.8  0. ]
    """
    _check.positive("cautious", eps=eps)
    hyper = _hyper.declare("cautious", eps=eps)
    wrapped = _link.branch(inner, "cautious")

    def init(params):
        _real_leaves(params)
        return CautiousState(inner=wrapped.raw.init(params))

    def update(updates, state, params=None, **extra_args):
        proposed, inner_state = wrapped.raw.update(updates, state.inner, params, **extra_args)
        floor = hyper.read(extra_args)("eps")
        masked = jax.tree.map(lambda u, g: _descending_part(u, g, floor), proposed, updates)
        return masked, CautiousState(inner=inner_state)

    return primitive(init, update, hyper, parts={"inner": wrapped})


def _descending_part(u: jax.Array, g: jax.Array, eps: jax.Array) -> jax.Array:
    """``u`` where it descends along ``g`` (``u g < 0``), else 0, over the fraction kept (+ eps)."""
    dtype = _tree.compute_dtype(u.dtype)
    keep = u * g.astype(u.dtype) < 0
    scale = 1 / (jnp.mean(keep.astype(dtype)) + eps.astype(dtype))
    return jnp.where(keep, (u.astype(dtype) * scale).astype(u.dtype), jnp.zeros((), u.dtype))


def _real_leaves(params: PyTree) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            raise TypeError(REAL_ONLY.format(who="cautious", dtype=jnp.result_type(leaf),
                                             path=jax.tree_util.keystr(path) or "the root"))


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("cautious")
def _cautious_rule(a, x, fresh):
    proposed = a[_recipe.INNER][0](x)
    u, phi = fresh(r"\hat u"), fresh(r"\phi")
    kept = rf"\tfrac{{1}}{{d}}\textstyle\sum_i {phi}_{{t,i}}"  # the fraction of the leaf's d elements kept
    return rf"\frac{{{u}_t \odot {phi}_t}}{{{kept} + {a.get('eps', '1e-08')}}}", [
        rf"{u}_t &= {proposed}",
        rf"{phi}_t &= \mathbb{{1}}[\,{u}_t \odot {_recipe.group(x)} < 0\,]"
        r" \quad (\text{per leaf of } d \text{ elements})",
    ]
