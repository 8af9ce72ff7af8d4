"""Evaluating a function on a large batch one micro-batch at a time, to bound peak memory.

:func:`microbatch` turns ``fun(batch)`` into a function of the whole batch that runs ``fun`` on
``B / m`` micro-batches of ``m`` rows in sequence (a :func:`jax.lax.fori_loop`) and combines
their results as :class:`AccumulationType` says: summed, averaged, or concatenated. The same
contract as Optax's ``optax.microbatch`` and ``optax.microbatching.AccumulationType``; an
Optax ``AccumulationType`` or ``Accumulator`` is accepted too.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
from typing import Any, Callable, Sequence, Union

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import tree as _tree
from ..core.types import PyTree

NOT_DIVISIBLE = (
    "microbatch: the batch size {batch_size} is not divisible by microbatch_size="
    "{microbatch_size}; pick a microbatch_size that divides it, or pad the batch."
)
SIZES_DIFFER = (
    "microbatch: every batch argument must have the same size along its batch axis, got sizes "
    "{sizes}. Check argnums, argnames and in_axes."
)
NOT_FLOATING = (
    "microbatch: the MEAN and RUNNING_MEAN accumulations need floating-point outputs, got "
    "dtype {dtype}. Use SUM, or return floats from fun."
)
UNKNOWN_ACCUMULATOR = (
    "microbatch: accumulator must be an AccumulationType, an Accumulator, or a tree of them "
    "(a prefix of fun's output), got {got}."
)
IN_AXES_LENGTH = (
    "microbatch: in_axes must be one int or one int per batch argument ({count}: argnums then "
    "argnames), got in_axes={in_axes!r}."
)


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How the results of the micro-batches combine: a fold and a batched reduction.

    For micro-batch results :math:`x_0, \\dots, x_{n-1}` the result is
    ``finalize(update(... update(init(shape of x_0), x_0, 0) ..., x_{n-1}, n-1))``; ``aggregate``
    reduces values stacked on axis 0 in one go.

    Attributes:
        init: ``shape_dtype_struct -> carry``.
        update: ``(carry, value, index) -> carry``.
        finalize: ``carry -> result``.
        aggregate: ``values stacked on axis 0 -> result``.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """How :func:`microbatch` combines the micro-batches' results (Optax's names)."""

    MEAN = enum.auto()
    """The sum divided by the number of micro-batches."""
    SUM = enum.auto()
    """The sum."""
    RUNNING_MEAN = enum.auto()
    """The mean of the micro-batches actually run (``num_real_microbatches``), kept as a running mean."""
    CONCAT = enum.auto()
    """The results concatenated along axis 0, in the order of the original batch."""


def microbatch(
    fun: Callable[..., Any],
    argnums: Union[int, Sequence[int]],
    microbatch_size: Union[int, None],
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: Union[str, Sequence[str]] = (),
    in_axes: Union[int, Sequence[int]] = 0,
    num_real_microbatches: Union[int, jax.Array, None] = None,
) -> Callable[..., Any]:
    r"""Evaluate ``fun`` on a batch in sequential micro-batches and combine the results.

    With :math:`n = B / m` micro-batches :math:`b_0, \dots, b_{n-1}` of the batch arguments,

    .. math::  \mathrm{SUM}: \sum_i f(b_i), \qquad \mathrm{MEAN}: \frac1n \sum_i f(b_i), \qquad
               \mathrm{CONCAT}: [f(b_0); \dots; f(b_{n-1})]

    Micro-batch :math:`i` takes the rows :math:`i, i + n, i + 2n, \dots` (a column-major
    reshape, which keeps a sharded batch axis sharded); CONCAT puts the rows back in their
    original order, so a per-example function gives the same result as on the whole batch.
    Only one micro-batch's intermediate values are alive at a time. Same contract as Optax's
    ``microbatch``.

    Args:
        fun: the function to evaluate.
        argnums: the index (or indices) of the positional arguments that carry the batch.
        microbatch_size: :math:`m`, the rows per micro-batch; it must divide the batch size.
            ``None`` returns ``fun`` itself.
        accumulator: an :class:`AccumulationType`, an :class:`Accumulator`, or a tree of them
            that is a prefix of ``fun``'s output (one way of combining per output).
        argnames: the name (or names) of keyword arguments that carry the batch.
        in_axes: the batch axis of each batch argument (``argnums`` then ``argnames``); one int
            for all.
        num_real_microbatches: run only the first this many micro-batches (an int or a traced
            int), e.g. for a padded batch without recompiling; RUNNING_MEAN averages over them.

    Returns:
        A function with ``fun``'s arguments that evaluates it micro-batch by micro-batch.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> f = gx.microbatch(lambda x: jnp.sum(x**2), argnums=0, microbatch_size=2)
        >>> f(jnp.arange(4.0)).item()
        14.0
    """
    _check.is_callable("microbatch", fun=fun)
    if microbatch_size is None:
        return fun
    _check.int_at_least("microbatch", 1, "", microbatch_size=microbatch_size)
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    count = len(argnums) + len(argnames)
    in_axes = (in_axes,) * count if isinstance(in_axes, int) else tuple(in_axes)
    if len(in_axes) != count:
        raise ValueError(IN_AXES_LENGTH.format(count=count, in_axes=in_axes))

    def microbatched(*args, **kwargs):
        batched = [args[i] for i in argnums] + [kwargs[name] for name in argnames]
        batch_size = _batch_size(batched, in_axes)
        if batch_size % microbatch_size:
            raise ValueError(NOT_DIVISIBLE.format(batch_size=batch_size, microbatch_size=microbatch_size))
        n = batch_size // microbatch_size
        split = [_split(x, microbatch_size, ax) for x, ax in zip(batched, in_axes)]

        def run(index):
            taken = [jax.tree.map(functools.partial(jnp.take, indices=index, axis=ax), x)
                     for x, ax in zip(split, in_axes)]
            new_args, new_kwargs = list(args), dict(kwargs)
            for i, x in zip(argnums, taken):
                new_args[i] = x
            for name, x in zip(argnames, taken[len(argnums):]):
                new_kwargs[name] = x
            return fun(*new_args, **new_kwargs)

        combine = _resolve(accumulator, n)
        carry = combine.init(jax.eval_shape(run, 0))
        bound = n if num_real_microbatches is None else num_real_microbatches
        carry = jax.lax.fori_loop(0, bound, lambda i, c: combine.update(c, run(i), i), carry)
        return combine.finalize(carry)

    return microbatched


def _batch_size(batched: list, in_axes: tuple) -> int:
    sizes = [x.shape[ax] for tree, ax in zip(batched, in_axes) for x in jax.tree.leaves(tree)]
    if len(set(sizes)) != 1:
        raise ValueError(SIZES_DIFFER.format(sizes=sizes))
    return sizes[0]


def _split(tree: PyTree, size: int, axis: int) -> PyTree:
    """Each leaf's batch axis ``B`` as ``(B / size, size)``, column-major: micro-batch ``i``
    holds rows ``i, i + B/size, ...``."""
    def split(x):
        return x.reshape(x.shape[:axis] + (-1, size) + x.shape[axis + 1:], order="F")

    return jax.tree.map(split, tree)


# --- The accumulations ----------------------------------------------------------------------


def _resolve(accumulator: Any, n: int) -> Accumulator:
    """One :class:`Accumulator` for the whole output, from a tree of types and accumulators."""
    parts = jax.tree.map(lambda a: _one(a, n), accumulator, is_leaf=_is_accumulator)

    def each(fn):
        return lambda *trees: jax.tree.map(fn, parts, *trees, is_leaf=_is_accumulator)

    return Accumulator(
        init=each(lambda a, shapes: a.init(shapes)),
        update=lambda carry, value, i: jax.tree.map(
            lambda a, c, v: a.update(c, v, i), parts, carry, value, is_leaf=_is_accumulator),
        finalize=each(lambda a, carry: a.finalize(carry)),
        aggregate=each(lambda a, values: a.aggregate(values)),
    )


def _is_accumulator(x: Any) -> bool:
    return all(callable(getattr(x, f, None)) for f in ("init", "update", "finalize", "aggregate"))


def _one(accumulator: Any, n: int) -> Accumulator:
    if _is_accumulator(accumulator):
        return accumulator
    # An Optax AccumulationType is read by its name.
    kind = getattr(AccumulationType, getattr(accumulator, "name", ""), None)
    if not isinstance(accumulator, enum.Enum) or kind is None:
        raise TypeError(UNKNOWN_ACCUMULATOR.format(got=_check.describe(accumulator)))
    leafwise = {
        AccumulationType.SUM: _sum, AccumulationType.MEAN: _mean,
        AccumulationType.RUNNING_MEAN: _running_mean, AccumulationType.CONCAT: _concat,
    }[kind](n)
    return _over_leaves(leafwise)


def _over_leaves(a: Accumulator) -> Accumulator:
    """An array accumulator applied to every leaf of a subtree."""
    return Accumulator(
        init=lambda shapes: jax.tree.map(a.init, shapes),
        update=lambda carry, value, i: jax.tree.map(lambda c, v: a.update(c, v, i), carry, value),
        finalize=lambda carry: jax.tree.map(a.finalize, carry),
        aggregate=lambda values: jax.tree.map(a.aggregate, values),
    )


def _zeros(shape) -> jax.Array:
    return jnp.zeros(shape.shape, shape.dtype)


def _floating_zeros(shape) -> jax.Array:
    if not jnp.issubdtype(shape.dtype, jnp.floating):
        raise ValueError(NOT_FLOATING.format(dtype=shape.dtype))
    return _zeros(shape)


def _sum(n: int) -> Accumulator:  # sum_i x_i
    return Accumulator(_zeros, lambda c, x, i: c + x, lambda c: c, functools.partial(jnp.sum, axis=0))


def _mean(n: int) -> Accumulator:  # (sum_i x_i) / n
    return Accumulator(_floating_zeros, lambda c, x, i: c + x, lambda c: c / n,
                       functools.partial(jnp.mean, axis=0))


def _running_mean(n: int) -> Accumulator:  # c_i = c_{i-1} i/(i+1) + x_i / (i+1), as Optax
    def update(c, x, i):
        kept = i / (i + 1)  # in the default float dtype; the sum in the wider of it and c's
        dtype = _tree.result_dtype(c, kept)
        total = c.astype(dtype) * kept.astype(dtype) + x.astype(dtype) * (1 - kept).astype(dtype)
        return total.astype(c.dtype)

    return Accumulator(_floating_zeros, update, lambda c: c, functools.partial(jnp.mean, axis=0))


def _concat(n: int) -> Accumulator:  # [x_0; ...; x_{n-1}] back in the batch's row order
    def init(shape):
        return jnp.zeros((n,) + tuple(shape.shape), shape.dtype)

    def finalize(c):
        return c.reshape((-1,) + c.shape[2:], order="F")

    return Accumulator(init, lambda c, x, i: c.at[i].set(x), finalize, lambda values: values)
