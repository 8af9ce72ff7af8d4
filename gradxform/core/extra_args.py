"""Optax's name for a transformation whose ``update`` takes extra keyword arguments.

Every gradxform transformation's ``update`` already has the form
``update(updates, state, params=None, **extra_args)``: a :func:`gradxform.chain` passes ``step``
and ``hyperparams`` that way, and line searches read ``value``, ``grad`` and ``value_fn``. Optax
marks such a transformation with the class :class:`GradientTransformationExtraArgs`; code written
for Optax checks for it or calls :func:`with_extra_args_support`, so both exist here too.
"""
from __future__ import annotations

from . import check as _check
from .protocol import GradientTransformation, is_transform, takes_extra_args
from .types import TransformUpdateExtraArgsFn


class _TakesExtraArgs(type):
    """``isinstance(tx, GradientTransformationExtraArgs)`` asks what the class promises: whether
    ``tx`` is a transformation whose ``update`` takes ``**extra_args`` (every gradxform one)."""

    def __instancecheck__(cls, instance: object) -> bool:
        return type.__instancecheck__(cls, instance) or (
            isinstance(instance, GradientTransformation) and takes_extra_args(instance.update))


class GradientTransformationExtraArgs(GradientTransformation, metaclass=_TakesExtraArgs):
    """A :class:`GradientTransformation` whose ``update`` accepts extra keyword arguments.

    The same two fields, ``init`` and ``update``; only the promise differs: ``update(updates,
    state, params=None, **extra_args)`` accepts (and ignores) any keyword it does not read.
    Structurally it is Optax's class of the same name. Every transformation gradxform builds
    keeps that promise, so every one is an instance (``isinstance(gx.chain(...),
    gx.GradientTransformationExtraArgs)`` holds, as it does for ``optax.chain``); one built by
    hand around ``update(updates, state, params=None)`` is not.
    """

    update: TransformUpdateExtraArgsFn


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
    """``tx`` as a :class:`GradientTransformationExtraArgs`: its ``update`` accepts extra arguments.

    An ``update`` that already takes ``**extra_args`` (every gradxform transformation's) is kept
    as it is, so the extra arguments still reach it and its recipe still prints; any other (a
    plain Optax transformation's) is wrapped so that it never receives them. Optax's function of
    the same name drops them for every transformation that is not already of this class.

    Args:
        tx: a transformation: anything with ``init`` and ``update``.

    Returns:
        A :class:`GradientTransformationExtraArgs` with ``tx``'s ``init`` and state.
    """
    if not is_transform(tx):
        raise TypeError(_check.NOT_A_TRANSFORM.format(
            who="with_extra_args_support", got=_check.describe(tx)))
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx
    if takes_extra_args(tx.update):
        return GradientTransformationExtraArgs(tx.init, tx.update)

    def update(updates, state, params=None, **extra_args):
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update)
