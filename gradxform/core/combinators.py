"""The protocol and the algebra: a transformation is a pure pair ``(init, update)``.

Four ways to combine transformations are enough for every optimizer in the library:

* :func:`chain` -- a sequence; the output of one feeds the next (and it counts the steps);
* :func:`parallel_sum` -- a weighted sum of branches that all see the same input;
* :func:`ratio` -- a numerator branch divided by a denominator branch, both fed the same input;
* :func:`conditional` -- one of two branches, chosen by a predicate on the step count.

A *branch* is a transformation or a list of transformations run in sequence. Branch outputs
of different dtypes (a real :math:`|g|^2` beside a complex moment, a float32 update beside a
bfloat16 one) combine in the dtype standard promotion gives them, as Optax's arithmetic would.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp

from . import check as _check
from . import hyperparams as _hyper
from . import step as _step
from . import tree as _tree
from .chain_state import ChainState
from .types import Hyper

PyTree = Any


class GradientTransformation(NamedTuple):
    """A pure pair of functions; structurally identical to ``optax.GradientTransformation``.

    ``init(params) -> state`` and ``update(updates, state, params=None, **extra_args) -> (updates, state)``.
    """

    init: Callable[[PyTree], PyTree]
    update: Callable[..., tuple[PyTree, PyTree]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class RatioState(NamedTuple):
    numerator: PyTree
    denominator: PyTree


class ParallelSumState(NamedTuple):
    branches: tuple  # one state per branch, in order
    hyperparams: dict  # {"weight_k"} for scheduled weights, named ones by name: Hyperparameter scalars


class ConditionalState(NamedTuple):
    if_true: PyTree
    if_false: PyTree


Branch = Union[GradientTransformation, Sequence[GradientTransformation]]


def identity() -> GradientTransformation:
    """Leave updates unchanged: :math:`u_t = g_t`. Stateless."""

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return updates, state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence, :math:`u = f_n(\dots f_1(g))`, and count the steps.

    The state's ``step`` is the number of updates applied so far. Every link receives it as the
    extra argument ``step`` (0 on the first update), so bias correction, schedules and noise
    annealing all read the same counter. Extra arguments reach the links that accept them
    (``**extra_args`` in ``update``) and are dropped for those that don't, such as plain Optax
    transformations.

    The links' hyperparameters travel packed in the state's ``hyperparams`` bank (one array,
    however many there are; each link's state holds an empty slot where its values were), since
    every array of a state is one more buffer a jitted step passes in and out.
    :func:`gradxform.hyperparams` and :func:`gradxform.set_hyperparams` read and write through it.
    For the same reason the whole :class:`ChainState` is a single node of the JAX tree, whose
    children are its arrays; the link states are rebuilt when ``state.parts`` is read.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ChainState`.
    """
    sequence = _sequence(transforms, "chain")

    def init(params):
        parts, bank = _hyper.pack(sequence.init(params))
        return ChainState(step=_step.zero(), parts=parts, hyperparams=bank)

    def update(updates, state, params=None, **extra_args):
        extra_args["step"] = state.step
        records: list = []
        parts = _hyper.unpack(state.parts, state.hyperparams, records)
        updates, parts = sequence.update(updates, parts, params, **extra_args)
        parts, bank = _hyper.pack(parts, previous=(state.hyperparams, records))
        return updates, ChainState(step=_step.increment(state.step), parts=parts, hyperparams=bank)

    return GradientTransformation(init, update)


def ratio(numerator: Branch, denominator: Branch) -> GradientTransformation:
    r"""Divide one branch's output by another's, both fed the same updates: :math:`u = N(g) / D(g)`.

    Adam is ``ratio([momentum, bias correction], [mean of squares, bias correction, sqrt + eps])``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`RatioState`.
    """
    num, den = _branch(numerator, "ratio"), _branch(denominator, "ratio")

    def init(params):
        return RatioState(numerator=num.init(params), denominator=den.init(params))

    def update(updates, state, params=None, **extra_args):
        top, num_state = num.update(updates, state.numerator, params, **extra_args)
        bottom, den_state = den.update(updates, state.denominator, params, **extra_args)
        out = jax.tree.map(lambda a, b: jnp.divide(*_tree.promoted(a, b)), top, bottom)
        return out, RatioState(num_state, den_state)

    return GradientTransformation(init, update)


def parallel_sum(*weighted_branches: tuple[Hyper, Branch]) -> GradientTransformation:
    r"""Weighted sum of branches that all see the same updates: :math:`u = \sum_k w_k\,B_k(g)`.

    Args:
        *weighted_branches: ``(weight, branch)`` pairs; at least one. A branch is a
            transformation or a list of transformations applied in sequence. A weight is a
            number (a constant of the recipe), a schedule, or a named hyperparameter such as
            ``gx.one_minus(gx.hyperparameter("b1", 0.9))``; the last two are kept in the state.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ParallelSumState`.
    """
    if not weighted_branches:
        raise ValueError(_check.EMPTY.format(who="parallel_sum", what="(weight, branch) pairs"))
    weights = [w for w, _ in weighted_branches]
    _check.finite("parallel_sum", **{f"weight_{k}": w for k, w in enumerate(weights)})
    # Plain numbers are part of the recipe's structure (AggMo's 1/K, the -1 of a variance) and
    # stay compile-time constants; schedules and named hyperparameters live in the state.
    variable = {f"weight_{k}": w for k, w in enumerate(weights) if not _is_plain_number(w)}
    hyper = _hyper.declare(**variable)
    branches = [_branch(b, "parallel_sum") for _, b in weighted_branches]

    def init(params):
        return ParallelSumState(tuple(b.init(params) for b in branches), hyper.init())

    def update(updates, state, params=None, **extra_args):
        h = hyper.at(state.hyperparams, extra_args, "parallel_sum")
        outputs, states = [], []
        for branch, branch_state in zip(branches, state.branches):
            out, new_state = branch.update(updates, branch_state, params, **extra_args)
            outputs.append(out)
            states.append(new_state)
        scalars = [h(f"weight_{k}") if f"weight_{k}" in variable else w for k, w in enumerate(weights)]
        total = jax.tree.map(lambda *xs: _weighted_sum(scalars, xs), *outputs)
        return total, ParallelSumState(tuple(states), h.record())

    return GradientTransformation(init, update)


def conditional(
    predicate: Callable[[jax.Array], jax.Array], if_true: Branch, if_false: Branch
) -> GradientTransformation:
    r"""Take ``if_true``'s output where ``predicate(step)`` holds, else ``if_false``'s.

    Both branches run at every step, so each keeps its state current and the choice is a
    ``jnp.where``, not Python control flow: it jits, and the predicate may depend on the step.

    Args:
        predicate: a pure function of the step count (0 on the first update) returning a bool.
        if_true, if_false: the two branches.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ConditionalState`.
    """
    _check.is_callable("conditional", predicate=predicate)
    yes, no = _branch(if_true, "conditional"), _branch(if_false, "conditional")

    def init(params):
        return ConditionalState(if_true=yes.init(params), if_false=no.init(params))

    def update(updates, state, params=None, **extra_args):
        chosen = predicate(_step.read(extra_args, "conditional"))
        out_yes, yes_state = yes.update(updates, state.if_true, params, **extra_args)
        out_no, no_state = no.update(updates, state.if_false, params, **extra_args)
        out = jax.tree.map(lambda a, b: jnp.where(chosen, *_tree.promoted(a, b)), out_yes, out_no)
        return out, ConditionalState(yes_state, no_state)

    return GradientTransformation(init, update)


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """Return ``params + updates``, each leaf keeping its parameter's dtype; ``None`` leaves stay ``None``.

    The sum is taken in the promoted dtype (bfloat16 params + float32 updates add in float32, as
    Optax does) and rounded once to the parameter's dtype.
    """

    def add(p, u):
        dtype = jnp.asarray(p).dtype
        p, u = _tree.promoted(p, u)
        return (p + u).astype(dtype)

    return jax.tree.map(add, params, updates)


def _weighted_sum(weights, values):
    """``w_0 x_0 + w_1 x_1 + ...`` term by term (Optax's rounding), in the promoted dtype."""
    out = _tree.result_dtype(*values)
    dtype = _tree.compute_dtype(out)
    terms = [jnp.asarray(w, dtype) * x.astype(dtype) for w, x in zip(weights, values)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total.astype(out)


def _is_plain_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _branch(branch: Branch, who: str) -> GradientTransformation:
    """A transformation as it is, or a list of transformations as an (uncounted) sequence."""
    if _is_transform(branch):
        return _accepting_extra_args(branch)
    if isinstance(branch, (list, tuple)):
        return _sequence(branch, who)
    raise TypeError(_check.NOT_A_TRANSFORM.format(who=who, got=_check.describe(branch)))


def _sequence(transforms, who: str) -> GradientTransformation:
    """Run transformations one after the other, passing extra arguments through; no step counter."""
    links = []
    for t in transforms:
        if not _is_transform(t):
            raise TypeError(_check.NOT_A_TRANSFORM.format(who=who, got=_check.describe(t)))
        links.append(_accepting_extra_args(t))

    def init(params):
        return tuple(link.init(params) for link in links)

    def update(updates, state, params=None, **extra_args):
        new_state = []
        for link, link_state in zip(links, state):
            updates, link_state = link.update(updates, link_state, params, **extra_args)
            new_state.append(link_state)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def _is_transform(obj) -> bool:
    return callable(getattr(obj, "init", None)) and callable(getattr(obj, "update", None))


def _accepting_extra_args(transform) -> GradientTransformation:
    """Wrap a foreign transformation (e.g. a plain Optax one) so that it ignores extra arguments."""
    # By signature, not by class: a gradxform.GradientTransformation built by hand around a plain
    # ``update(updates, state, params=None)`` must not receive ``step`` either.
    if _takes_var_keywords(transform.update):
        return GradientTransformation(transform.init, transform.update)

    def update(updates, state, params=None, **extra_args):
        return transform.update(updates, state, params)

    return GradientTransformation(transform.init, update)


def _takes_var_keywords(fn) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
