"""Type aliases for signatures: what a reader (and a type checker) should pass where.

No runtime role; this module imports nothing from gradxform (but for type checkers), so any
module may use it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence, Union

import jax

PyTree = Any  # dicts, lists, tuples and NamedTuples with arrays (or None) at the leaves
# Optax's names for the trees a transformation takes and returns (Optax spells them as unions of
# arrays, iterables and mappings; to a type checker here they are any tree).
Params = PyTree  # the parameters being optimized
Updates = PyTree  # candidate updates (gradients at first), shaped like the params
OptState = PyTree  # a transformation's state: NamedTuples, tuples and dicts of arrays
Schedule = Callable[[jax.Array], jax.Array]  # step (int32, 0 on the first update) -> value; jit-safe
ScalarOrSchedule = Union[float, jax.Array, Schedule]  # a hyperparameter: a number or a schedule
Axes = Union[int, Sequence[int], None]  # array axes, or None for a documented default
# Which leaves a transformation applies to: bools in a tree shaped like the params (or a prefix of
# it, one bool standing for a subtree), or a function of the params returning one.
Mask = Union[bool, PyTree, Callable[[PyTree], PyTree]]
MaskOrFn = Optional[Mask]  # Optax's name for an optional mask

if TYPE_CHECKING:
    from .named import Named

# A hyperparameter as primitives take it: a number, a schedule, or one named with
# gradxform.hyperparameter(name, value) (shared by every primitive given it).
Hyper = Union[float, jax.Array, Schedule, "Named"]


# The two functions of a transformation, as Optax names their types.
class TransformInitFn(Protocol):
    """``init(params) -> state``: the state a transformation starts from, built from the params."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None) -> (updates, state)``, without extra arguments."""

    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None
    ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """``update(updates, state, params=None, **extra_args) -> (updates, state)``.

    Every gradxform transformation's ``update`` has this form: a :func:`gradxform.chain` passes
    ``step`` and ``hyperparams`` down this way, and a transformation ignores the extra arguments
    it does not read. One that needs an argument takes it by keyword
    (``update(..., *, value, **extra_args)``), so that leaving it out is an error.
    """

    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...
