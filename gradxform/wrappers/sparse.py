"""Sparse updates: any optimizer, stepping only the elements (or rows) an indicator marks.

An embedding table receives a gradient in the few rows its batch looked up. :func:`sparse` runs
the inner optimizer and keeps its update only where the indicator is set (by default, where the
gradient is nonzero); with ``lazy_moments=True`` it also keeps the inner state of the other
elements as it was, so that their moments are not decayed by steps they took no part in (lazy
Adam: PyTorch's ``SparseAdam``; sparse RMSprop).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import link as _link
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.tree_access import _ParamsPlaceholder, is_params_placeholder
from ..core.types import PyTree

NOT_PARAMS_SHAPED = (
    "sparse: lazy_moments=True keeps the inner state of untouched elements as it was, which needs "
    "every params-shaped part of the inner state to have its parameter's shape; the inner "
    "optimizer keeps an array of shape {shape} for the parameter at {path}, of shape {param_shape} "
    "(a factored or projected statistic). Pass lazy_moments=False to limit the update alone."
)
BAD_INDICATOR = (
    "sparse: the indicator at {path} must be a boolean array of shape {expected} ({what}), got "
    "{got}. Pass indicator= to update() as a tree shaped like the updates, or leave it out to "
    "use 'the gradient is nonzero'."
)


@state_class
class SparseState(NamedTuple):
    inner: PyTree  # the wrapped optimizer's state


@_recipe.factory
def sparse(inner: Branch, rows: bool = False, lazy_moments: bool = False) -> GradientTransformation:
    r"""Step only the elements, or the rows, that an indicator marks; optionally freeze the rest's state.

    With :math:`u_t` the update of ``inner`` and :math:`\phi_t` the indicator (per element, or
    per row: per index of a leaf's first axis, broadcast over the others):

    .. math::  \tilde u_t = \phi_t \odot u_t, \qquad
               \phi_t = [\,g_t \neq 0\,] \ \text{(elements)}, \quad
               \phi_{t,i} = [\,g_{t,i,:} \neq 0 \text{ somewhere}\,] \ \text{(rows)}

    unless ``indicator=`` is passed to ``update`` (a tree shaped like the updates of booleans:
    per element, or of shape ``(leaf.shape[0],)`` per leaf with ``rows=True``). With
    ``lazy_moments=True`` the inner state moves only where :math:`\phi_t` is set: each
    params-shaped part of it (a momentum, a second moment, a step size) is
    :math:`\phi_t \odot s_t + (1 - \phi_t) \odot s_{t-1}`, while its step count and other
    scalars move at every update. Then ``sparse(adam(lr, eps=...), rows=True,
    lazy_moments=True)`` is PyTorch's ``SparseAdam`` (whose :math:`\epsilon` is added before the
    bias correction of :math:`\sqrt{v}`: pass ``eps`` as the schedule
    ``lambda s: eps / sqrt(1 - b2 ** (s + 1))`` to match it to the last digit), and
    ``sparse(rmsprop(lr), lazy_moments=True)`` is RMSprop whose mean of squares decays only
    where a gradient arrives. With ``lazy_moments=False`` (the default) the inner state moves
    everywhere, as without the wrapper, and only the update is limited.

    A weight decay inside ``inner`` is limited with the rest of its update. ``rows=True``
    reduces each leaf over its trailing axes, so :func:`gradxform.flatten` rejects it.

    Args:
        inner: the optimizer whose updates are limited: a transformation, or a list of them
            applied in sequence.
        rows: one indicator per row (index of axis 0) instead of per element; a scalar leaf
            is its own row.
        lazy_moments: keep the inner state of unmarked elements as it was. Every params-shaped
            part of the inner state must have its parameter's shape (checked at ``init``).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SparseState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        PyTorch, ``torch.optim.SparseAdam``.
        https://pytorch.org/docs/stable/generated/torch.optim.SparseAdam.html
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        https://arxiv.org/abs/1412.6980

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sparse(gx.sgd(1.0, momentum=0.5), rows=True, lazy_moments=True)
        >>> state = opt.init(jnp.zeros((2, 2)))
        >>> _, state = opt.update(jnp.ones((2, 2)), state)
        >>> updates, state = opt.update(jnp.array([[0.0, 0.0], [1.0, 0.0]]), state)
        >>> print(updates)  # row 0 received no gradient: no step, and its momentum is kept
        [[ 0.   0. ]
         [-1.5 -0.5]]
    """
    _check.flag("sparse", rows=rows, lazy_moments=lazy_moments)
    wrapped = _link.branch(inner, "sparse")

    def init(params):
        state = wrapped.raw.init(params)
        if lazy_moments and not is_params_placeholder(params):
            _check_params_shaped(wrapped.raw.init, state, params)
        return SparseState(inner=state)

    def update(updates, state, params=None, **extra_args):
        given = extra_args.pop("indicator", None)
        marked = _indicators(updates, given, rows)
        proposed, inner_state = wrapped.raw.update(updates, state.inner, params, **extra_args)
        out = jax.tree.map(lambda u, m: jnp.where(m, u, jnp.zeros((), u.dtype)), proposed, marked)
        if lazy_moments:
            inner_state = _keep_unmarked(wrapped.raw.init, inner_state, state.inner, marked)
        return out, SparseState(inner=inner_state)

    return primitive(init, update, parts={"inner": wrapped})


def _indicators(updates: PyTree, given: Any, rows: bool) -> PyTree:
    """One boolean array per leaf, broadcastable against it: given, or where the update is nonzero."""
    if given is None:
        return jax.tree.map(lambda g: _nonzero(g, rows), updates)
    _check.same_structure("sparse", updates=updates, indicator=given)
    return jax.tree_util.tree_map_with_path(lambda path, g, m: _checked(path, g, m, rows), updates, given)


def _nonzero(g: jax.Array, rows: bool) -> jax.Array:
    touched = g != 0
    if not rows or g.ndim < 2:
        return touched
    return jnp.any(touched, axis=tuple(range(1, g.ndim)), keepdims=True)


def _checked(path, g: jax.Array, m: Any, rows: bool) -> jax.Array:
    expected = g.shape[:1] if rows else g.shape
    shape = np.shape(m)
    if jnp.result_type(m) != jnp.bool_ or tuple(shape) != tuple(expected):
        what = "one per row of the leaf" if rows else "one per element of the leaf"
        got = f"{jnp.result_type(m)} of shape {tuple(shape)}"
        raise ValueError(BAD_INDICATOR.format(path=jax.tree_util.keystr(path) or "the root",
                                              expected=tuple(expected), what=what, got=got))
    return jnp.reshape(m, tuple(expected) + (1,) * (g.ndim - len(expected)))


def _params_shaped(init):
    """The template that marks the params-shaped parts of ``init``'s state (as map_params finds them)."""
    return init(_ParamsPlaceholder())


def _is_slot(x: Any) -> bool:
    return isinstance(x, _ParamsPlaceholder)


def _keep_unmarked(init, new: PyTree, old: PyTree, marked: PyTree) -> PyTree:
    """``new`` where marked and ``old`` elsewhere, in each params-shaped part; ``new`` in the rest."""

    def visit(slot, new_part, old_part):
        if not _is_slot(slot):
            return new_part
        return jax.tree.map(lambda n, o, m: jnp.where(m, n, o), new_part, old_part, marked)

    return jax.tree.map(visit, _params_shaped(init), new, old, is_leaf=_is_slot)


def _check_params_shaped(init, state: PyTree, params: PyTree) -> None:
    def visit(slot, part):
        if _is_slot(slot):
            jax.tree_util.tree_map_with_path(check, part, params)
        return None

    def check(path, s, p):
        if np.shape(s) != np.shape(p):
            raise ValueError(NOT_PARAMS_SHAPED.format(
                shape=np.shape(s), path=jax.tree_util.keystr(path) or "the root",
                param_shape=np.shape(p)))

    jax.tree.map(visit, _params_shaped(init), state, is_leaf=_is_slot)
