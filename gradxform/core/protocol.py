"""The protocol: a transformation is a pure pair ``(init, update)``, structurally Optax's.

``init(params) -> state`` and ``update(updates, state, params=None, **extra_args) ->
(updates, state)``. Framework code (Flax's ``TrainState`` and ``nnx.Optimizer``, Haiku loops,
``optax.chain``) only ever calls these two and :func:`apply_updates`.
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

import jax

from . import check as _check
from . import recipe as _recipe
from . import tree as _tree
from .printing import textbook
from .state_class import empty_node
from .types import PyTree


class GradientTransformation(NamedTuple):
    """A pure pair of functions; structurally identical to ``optax.GradientTransformation``.

    ``init(params) -> state`` and ``update(updates, state, params=None, **extra_args) -> (updates, state)``.
    A transformation built by gradxform knows the recipe it was built from: ``repr`` prints it,
    :func:`gradxform.recipe` returns it as plain data, and a notebook renders its update rule.
    """

    init: Callable[[PyTree], PyTree]
    update: Callable[..., tuple[PyTree, PyTree]]

    def __repr__(self) -> str:
        return _recipe.text(self)

    def _repr_markdown_(self) -> str:
        return _recipe.markdown(self)


@empty_node
@textbook
class EmptyState(NamedTuple):
    """The state of a stateless transformation.

    Not a :func:`state_class`: every empty state is the same value, so its node is an
    :func:`empty_node`, cheaper still (``benchmarks/fixed_cost.py --nodes`` measures each kind).
    """


def identity() -> GradientTransformation:
    """Leave updates unchanged: :math:`u_t = g_t`. Stateless."""

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return updates, state

    return _recipe.named(GradientTransformation(init, update), "identity")


@_recipe.formula("identity")
def _identity_rule(a, x, fresh):
    return x, []


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """Return ``params + updates``, each leaf keeping its parameter's dtype.

    The sum is taken in the promoted dtype (bfloat16 params + float32 updates add in float32, as
    Optax does) and rounded once to the parameter's dtype. ``None`` is kept as Optax keeps it: a
    ``None`` param stays ``None`` whatever its update (a leaf, a subtree, or ``params=None``
    itself, which returns ``None``). An update must have its parameter's shape: one that JAX
    would broadcast (shape ``(1,)`` for a ``(3,)`` parameter) is refused (a ``ValueError``).
    """

    def add(path, p, u):
        if p is None:
            return None
        if jax.numpy.shape(u) != jax.numpy.shape(p):
            raise ValueError(_check.UPDATE_NOT_PARAM_SHAPED.format(
                who="apply_updates", path=jax.tree_util.keystr(path), shape=jax.numpy.shape(u),
                expected=jax.numpy.shape(p)))
        dtype = jax.numpy.asarray(p).dtype
        p, u = _tree.promoted(p, u)
        return (p + u).astype(dtype)

    return jax.tree_util.tree_map_with_path(add, params, updates, is_leaf=lambda x: x is None)


def is_transform(obj) -> bool:
    """Whether ``obj`` has callable ``init`` and ``update`` (gradxform's, Optax's, anyone's)."""
    return callable(getattr(obj, "init", None)) and callable(getattr(obj, "update", None))


def accepting_extra_args(transform) -> GradientTransformation:
    """``transform`` as a :class:`GradientTransformation` whose ``update`` takes extra arguments.

    A foreign transformation (a plain Optax one) whose ``update`` has no ``**extra_args`` is
    wrapped so that it does not receive them.
    """
    # By signature, not by class: a gradxform.GradientTransformation built by hand around a plain
    # ``update(updates, state, params=None)`` must not receive ``step`` either.
    if takes_extra_args(transform.update):
        if isinstance(transform, GradientTransformation):
            return transform
        return GradientTransformation(transform.init, transform.update)

    def update(updates, state, params=None, **extra_args):
        return transform.update(updates, state, params)

    return GradientTransformation(transform.init, update)


def takes_extra_args(fn) -> bool:
    """Whether the function ``fn`` takes ``**extra_args``."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
