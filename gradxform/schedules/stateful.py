r"""Stateful schedules: a value that follows a state of its own rather than the step alone.

gradxform's schedules are pure functions of the step, which its chains count and pass down;
they need nothing else. Optax's :func:`~gradxform.inject_hyperparams` also accepts a
*stateful* schedule, an object with three methods (the protocol :class:`StatefulSchedule`):

.. math::  s_0 = \texttt{init}(), \qquad v_t = \texttt{call}(s_t, \ldots), \qquad
           s_{t+1} = \texttt{update}(s_t, \ldots)

where ``...`` are the extra arguments of the update (a loss, for instance), so that the value
can depend on more than the step. :class:`WrappedSchedule` is a plain schedule seen this way:
its state is the step count. Both exist so that code written for Optax runs unchanged.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax

from ..core import check as _check
from ..core import step as _step
from ..core.state_class import state_class
from ..core.types import Schedule


@runtime_checkable
class StatefulSchedule(Protocol):
    """What :func:`gradxform.inject_hyperparams` accepts as a stateful schedule (Optax's protocol).

    Any object with these three methods is one (an ``optax.schedules.StatefulSchedule`` too):
    ``init()`` returns the first state, ``update(state, **extra_args)`` the next one, and
    ``schedule(state, **extra_args)`` the value in force in ``state``. The extra arguments are
    those the optimizer's ``update`` received.
    """

    def init(self) -> Any:
        """The schedule's state before the first update."""

    def update(self, state: Any, **extra_args: Any) -> Any:
        """The state after one more update."""

    def __call__(self, state: Any, **extra_args: Any) -> jax.typing.ArrayLike:
        """The value in force in ``state``."""


@state_class
class WrappedScheduleState(NamedTuple):
    count: jax.Array  # type: ignore[assignment]  # int32: updates so far (0 before the first); saturates at 2**31 - 1


class WrappedSchedule:
    r"""A plain schedule :math:`s(t)` seen as a :class:`StatefulSchedule` whose state is :math:`t`.

    ``init()`` is :math:`t = 0`, ``update`` adds 1 (saturating like gradxform's step counter)
    and calling it with a state returns :math:`s(t)`; extra arguments are ignored.

    Args:
        schedule_fn: a schedule, a function of the step count.

    Example:
        >>> import gradxform as gx
        >>> wrapped = gx.WrappedSchedule(gx.linear_schedule(1.0, 0.0, 4))
        >>> state = wrapped.update(wrapped.init())
        >>> float(wrapped(state))
        0.75
    """

    def __init__(self, schedule_fn: Schedule) -> None:
        _check.is_callable("WrappedSchedule", schedule_fn=schedule_fn)
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=_step.zero())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        return WrappedScheduleState(count=_step.increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.typing.ArrayLike:
        return self.schedule_fn(state.count)

    def __repr__(self) -> str:
        return f"WrappedSchedule({self.schedule_fn!r})"
