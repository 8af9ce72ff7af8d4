"""Type aliases for signatures: what a reader (and a type checker) should pass where.

No runtime role; this module imports nothing from gradxform (but for type checkers), so any
module may use it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import jax

PyTree = Any  # dicts, lists, tuples and NamedTuples with arrays (or None) at the leaves
Schedule = Callable[[jax.Array], jax.Array]  # step (int32, 0 on the first update) -> value; jit-safe
ScalarOrSchedule = Union[float, jax.Array, Schedule]  # a hyperparameter: a number or a schedule
Axes = Union[int, Sequence[int], None]  # array axes, or None for a documented default
# Which leaves a transformation applies to: bools in a tree shaped like the params (or a prefix of
# it, one bool standing for a subtree), or a function of the params returning one.
Mask = Union[bool, PyTree, Callable[[PyTree], PyTree]]

if TYPE_CHECKING:
    from .named import Named

# A hyperparameter as primitives take it: a number, a schedule, or one named with
# gradxform.hyperparameter(name, value) (shared by every primitive given it).
Hyper = Union[float, jax.Array, Schedule, "Named"]
