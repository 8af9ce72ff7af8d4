"""The algebra beyond a sequence: ratio, weighted sum, and a choice by the step count.

With :func:`gradxform.chain`, three more ways to combine transformations are enough for every
optimizer in the library:

* :func:`parallel_sum` -- a weighted sum of branches that all see the same input;
* :func:`ratio` -- a numerator branch divided by a denominator branch, both fed the same input;
* :func:`conditional` -- one of two branches, chosen by a predicate on the step count.

A *branch* is a transformation or a list of transformations run in sequence. Branch outputs
of different dtypes (a real :math:`|g|^2` beside a complex moment, a float32 update beside a
bfloat16 one) combine in the dtype standard promotion gives them, as Optax's arithmetic would.
The branches' primitives are taken apart into the combinator, whose owner (the chain around it,
or its own) stores their hyperparameters once. Branches run in order and may hand values on
through named wires (:func:`gradxform.tap`, :func:`gradxform.from_tap`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import board as _board
from . import check as _check
from . import hyperparams as _hyper
from . import link as _link
from . import recipe as _recipe
from . import step as _step
from . import tree as _tree
from .chain import primitive
from .link import Branch
from .protocol import GradientTransformation
from .state_class import state_class
from .types import Hyper, PyTree


@state_class
class RatioState(NamedTuple):
    numerator: PyTree  # the numerator branch's state
    denominator: PyTree  # the denominator branch's state


@state_class
class ParallelSumState(NamedTuple):
    branches: tuple  # one state per branch, in order


@state_class
class ConditionalState(NamedTuple):
    if_true: PyTree  # the state of the branch taken where the predicate holds
    if_false: PyTree  # the state of the other branch


@_recipe.factory
def ratio(numerator: Branch, denominator: Branch) -> GradientTransformation:
    r"""Divide one branch's output by another's, both fed the same updates: :math:`u = N(g) / D(g)`.

    Adam is ``ratio([momentum, bias correction], [mean of squares, bias correction, sqrt + eps])``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`RatioState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    num, den = _link.branch(numerator, "ratio"), _link.branch(denominator, "ratio")

    def init(params):
        return RatioState(numerator=num.raw.init(params), denominator=den.raw.init(params))

    def update(updates, state, params=None, **extra_args):
        extra_args = _board.opened(extra_args)  # the numerator runs first: its taps reach the denominator
        top, num_state = num.raw.update(updates, state.numerator, params, **extra_args)
        bottom, den_state = den.raw.update(updates, state.denominator, params, **extra_args)
        out = jax.tree.map(lambda a, b: jnp.divide(*_tree.promoted(a, b)), top, bottom)
        return out, RatioState(num_state, den_state)

    return primitive(init, update, parts={"numerator": num, "denominator": den})


@_recipe.factory
def parallel_sum(*weighted_branches: tuple[Hyper, Branch]) -> GradientTransformation:
    r"""Weighted sum of branches that all see the same updates: :math:`u = \sum_k w_k\,B_k(g)`.

    Args:
        *weighted_branches: ``(weight, branch)`` pairs; at least one. A branch is a
            transformation or a list of transformations applied in sequence. A weight is a
            number (a constant of the recipe), a schedule, or a named hyperparameter such as
            ``gx.one_minus(gx.hyperparameter("b1", 0.9))``; the last two are hyperparameters
            (``weight_k`` unless named), kept by the owner.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ParallelSumState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    if not weighted_branches:
        raise ValueError(_check.EMPTY.format(who="parallel_sum", what="(weight, branch) pairs"))
    weights = [w for w, _ in weighted_branches]
    _check.finite("parallel_sum", **{f"weight_{k}": w for k, w in enumerate(weights)})
    # Plain numbers are part of the recipe's structure (AggMo's 1/K, the -1 of a variance) and
    # stay compile-time constants; schedules and named hyperparameters are hyperparameters.
    variable = {f"weight_{k}": w for k, w in enumerate(weights) if not _is_plain_number(w)}
    hyper = _hyper.declare("parallel_sum", **variable)
    branches = [_link.branch(b, "parallel_sum") for _, b in weighted_branches]

    def init(params):
        return ParallelSumState(tuple(b.raw.init(params) for b in branches))

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args) if variable else None
        extra_args = _board.opened(extra_args)  # branches run in order: taps reach later ones
        outputs, states = [], []
        for branch, branch_state in zip(branches, state.branches):
            out, new_state = branch.raw.update(updates, branch_state, params, **extra_args)
            outputs.append(out)
            states.append(new_state)
        scalars = [h(f"weight_{k}") if h is not None and f"weight_{k}" in variable else w
                   for k, w in enumerate(weights)]
        total = jax.tree.map(lambda *xs: _weighted_sum(scalars, xs), *outputs)
        return total, ParallelSumState(tuple(states))

    parts = {f"branches/{k}": b for k, b in enumerate(branches)}
    return primitive(init, update, hyper, parts=parts)


@_recipe.factory
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
        A :class:`GradientTransformation` whose state is :class:`ConditionalState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.is_callable("conditional", predicate=predicate)
    yes, no = _link.branch(if_true, "conditional"), _link.branch(if_false, "conditional")

    def init(params):
        return ConditionalState(if_true=yes.raw.init(params), if_false=no.raw.init(params))

    def update(updates, state, params=None, **extra_args):
        chosen = predicate(_step.read(extra_args, "conditional"))
        extra_args = _board.opened(extra_args)  # if_true runs first: its taps reach if_false
        out_yes, yes_state = yes.raw.update(updates, state.if_true, params, **extra_args)
        out_no, no_state = no.raw.update(updates, state.if_false, params, **extra_args)
        out = jax.tree.map(lambda a, b: jnp.where(chosen, *_tree.promoted(a, b)), out_yes, out_no)
        return out, ConditionalState(yes_state, no_state)

    return primitive(init, update, reads_step=True, parts={"if_true": yes, "if_false": no})


def _weighted_sum(weights, values):
    """``w_0 x_0 + w_1 x_1 + ...`` term by term (Optax's rounding), in the promoted dtype.

    A term whose weight is 0 is 0, whatever its branch holds: QHAdam's default ``nu2 = 1``
    gives ``(1 - nu2) g^2`` weight 0, and a gradient of 1e30 squares to inf (0 * inf is NaN)."""
    out = _tree.result_dtype(*values)
    dtype = _tree.compute_dtype(out)
    terms = [_term(w, x.astype(dtype), dtype) for w, x in zip(weights, values)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total.astype(out)


def _term(weight, x, dtype):
    """``weight * x``, and 0 where the weight is 0 (a plain 0 known now, or a hyperparameter)."""
    if _is_plain_number(weight):
        return jnp.zeros_like(x) if weight == 0 else jnp.asarray(weight, dtype) * x
    weight = jnp.asarray(weight, dtype)
    return jnp.where(weight == 0, jnp.zeros_like(x), weight * x)


def _is_plain_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("conditional")
def _conditional_rule(a, x, fresh):
    if_true, if_false = (branch(x) for branch in a[_recipe.INNER])
    return (rf"\begin{{cases}} {if_true} & \text{{if the predicate holds}} \\ {if_false} & \text{{otherwise}}"
            r" \end{cases}"), []
