r"""Optax's ``inject_hyperparams``: hyperparameters in the state, as Optax code reads and writes them.

gradxform does not need this wrapper: every optimizer already keeps its hyperparameters in its
state, read with :func:`gradxform.hyperparams`, changed with :func:`gradxform.set_hyperparams`
without recompiling, and any of them takes a schedule. It exists so that Optax code runs
unchanged: ``opt = gx.inject_hyperparams(gx.adam)(learning_rate=1e-3)``, then
``state.hyperparams["learning_rate"]`` read and written between steps, schedules as
hyperparameters, ``static_args`` and ``hyperparam_dtype``, with Optax's results.

Design. The state is Optax's :class:`InjectStatefulHyperparamsState` ``(count, hyperparams,
hyperparams_states, inner_state)``; its ``hyperparams`` dict is the interface, as in Optax: at
each update the values in force are its entries, each scheduled one replaced by its schedule's
value, all cast to the hyperparameter dtype (``hyperparam_dtype``, or the params' highest
dtype). Those values then reach the inner optimizer in one of two ways:

* **through gradxform's own table** (a gradxform optimizer, whenever each hyperparameter given
  is a hyperparameter of the optimizer's state under the same name: ``adam``'s
  ``learning_rate``, ``b1``, ...). The optimizer is built once, with the values given (a Python
  0 as an array where it would leave a term out: ``adamw``'s weight decay), and each
  update writes the values in force into its state's table (as :func:`gradxform.set_hyperparams`
  does) before running it. The table stays the one place the primitives read from, and
  ``gradxform.hyperparams(state)`` shows the values the last update used.
* **by rebuilding the optimizer at each update** from the values in force, as Optax does, for any
  other factory (Optax's transformations, a function of your own) and for a gradxform optimizer
  with a hyperparameter that is no row of its table (``adagrad``'s
  ``initial_accumulator_value``, which only sets what ``init`` makes). The values are traced
  under ``jit``, so the factory must build with traced values: every gradxform optimizer does,
  given ``static_args`` for arguments that set shapes (``adafactor``'s
  ``min_dim_size_to_factor``), as in Optax. Rows that exist are written all the same, so the
  table agrees with ``state.hyperparams`` either way.

A value written into ``state.hyperparams`` is data: the jitted update is not recompiled when it
is an array of the entry's dtype (a Python number, weakly typed, retraces once, as in Optax). A
derived form (``1 - b1``) is computed from the value in the table's dtype, as Optax's wrapper
computes it from the value in the hyperparameter dtype: the same float32 results when both are
float32 (gradxform's optimizers on their own compute it from the Python number instead: see
:mod:`gradxform.core.hyperparams`). ``gradxform.set_hyperparams`` on this state writes the inner
table, which the next update overwrites from ``state.hyperparams``: write there instead.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tables as _tables
from ..core.protocol import GradientTransformation, accepting_extra_args
from ..core.state_class import state_class
from ..core.types import PyTree
from ..schedules.stateful import StatefulSchedule, WrappedSchedule
from ..state import hyperparams as _state_hyper
from ..state.hyperparams import hyperparams as _rows_in_force

NOT_ARGUMENTS = (
    "inject_hyperparams: static_args must name arguments of {factory}, got {bad}; its arguments "
    "are {names}."
)
BAD_CALL = "inject_hyperparams({factory}): {error}. {factory} takes {names}."
UNKNOWN_KEYS = (
    "inject_hyperparams({factory}): state.hyperparams has {unknown}, which {factory} was not given "
    "as hyperparameters; it has {known}. Write new values under those names (a misspelt name "
    "would otherwise be silently ignored)."
)
MISSING_KEYS = (
    "inject_hyperparams({factory}): state.hyperparams lacks {missing}; it must keep every "
    "hyperparameter the optimizer was built with: {known}."
)


class InjectStatefulHyperparamsState(NamedTuple):
    """The state of :func:`inject_hyperparams`: Optax's fields, in Optax's order."""

    count: jax.Array  # type: ignore[assignment]  # int32: updates so far; saturates at 2**31 - 1
    hyperparams: dict  # name -> the value used by the latest update (or the first), scalar array
    hyperparams_states: dict  # name -> the state of the schedule of that name
    inner_state: PyTree  # the wrapped optimizer's state


class InjectHyperparamsState(NamedTuple):
    """Optax's older state of ``inject_hyperparams`` (deprecated there since 0.1.9), for code that
    names the type; :func:`inject_hyperparams` returns :class:`InjectStatefulHyperparamsState`."""

    count: jax.Array  # type: ignore[assignment]  # int32: updates so far
    hyperparams: dict  # name -> value
    inner_state: PyTree  # the wrapped optimizer's state


state_class(InjectStatefulHyperparamsState)
state_class(InjectHyperparamsState)


def inject_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[Any] = None,
) -> Callable[..., GradientTransformation]:
    r"""Wrap an optimizer factory so that its numeric hyperparameters live in the state (Optax's API).

    ``inject_hyperparams(factory)(**arguments)`` builds the optimizer ``factory(**arguments)``
    whose state keeps every numeric argument in ``state.hyperparams`` (a dict): read it to log
    the values in force, assign ``state.hyperparams[name] = value`` between updates to change
    one (the jitted update is not recompiled). An argument may be a schedule (a function of the
    step count, evaluated at 0 on the first update) or a :class:`StatefulSchedule`; its value
    is then recomputed at every update, so a value written for it is ignored. Booleans,
    ``None``, masks and the arguments named in ``static_args`` are passed through as given.

    Not needed with gradxform's own optimizers, which keep their hyperparameters in their state
    already (:func:`gradxform.hyperparams`, :func:`gradxform.set_hyperparams`); see the module
    documentation for how the two meet.

    Args:
        inner_factory: a function returning a transformation (``gx.adam``, an Optax alias, a
            function of your own).
        static_args: the name, or names, of arguments that are never hyperparameters, such as
            a function that is not a schedule; each must be an argument of ``inner_factory``.
        hyperparam_dtype: the dtype of floating-point hyperparameters; ``None`` takes the params'
            highest floating dtype, as Optax does.

    Returns:
        A function taking ``inner_factory``'s arguments and returning a
        :class:`GradientTransformation` whose state is :class:`InjectStatefulHyperparamsState`.

    Raises:
        ValueError: ``static_args`` names a parameter ``inner_factory`` does not have; at update,
            ``state.hyperparams`` gained or lost a name.
        TypeError: the returned function is called with arguments ``inner_factory`` does not take.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.inject_hyperparams(gx.sgd)(learning_rate=0.1)
        >>> params = {"w": jnp.array([1.0])}
        >>> state = opt.init(params)
        >>> state.hyperparams["learning_rate"] = 0.5
        >>> updates, state = opt.update({"w": jnp.array([2.0])}, state, params)
        >>> updates["w"].tolist(), float(state.hyperparams["learning_rate"])
        ([-1.0], 0.5)
    """
    _check.is_callable("inject_hyperparams", inner_factory=inner_factory)
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    name = getattr(inner_factory, "__name__", type(inner_factory).__name__)
    if not static <= set(signature.parameters):
        raise ValueError(NOT_ARGUMENTS.format(
            factory=name, bad=sorted(static - set(signature.parameters)), names=list(signature.parameters)))

    @functools.wraps(inner_factory)
    def build(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(BAD_CALL.format(factory=name, error=error,
                                            names=list(signature.parameters))) from None
        bound.apply_defaults()
        numbers, schedules, others = _sorted_arguments(bound.arguments, static)
        once = _built_once(inner_factory, numbers, schedules, others)
        injected = (*numbers, *schedules)

        def factory_of(values: dict) -> GradientTransformation:
            """The optimizer that uses ``values``: the one built once, or a new one."""
            return once if once is not None else accepting_extra_args(inner_factory(**others, **values))

        def init(params):
            dtype = _dtype(params, hyperparam_dtype)
            values = {k: jnp.asarray(_cast(v, dtype)) for k, v in numbers.items()}
            schedule_states = {k: s.init() for k, s in schedules.items()}
            values.update({k: _cast(s(schedule_states[k]), dtype) for k, s in schedules.items()})
            inner_state = _written(factory_of(values).init(params), values)
            return InjectStatefulHyperparamsState(_step.zero(), values, schedule_states, inner_state)

        def update(updates, state, params=None, **extra_args):
            _check_names(state.hyperparams, injected, name)
            dtype = _dtype(params, hyperparam_dtype)
            values = {k: _cast(v, dtype) for k, v in state.hyperparams.items()}
            values.update({k: _cast(s(state.hyperparams_states[k], **extra_args), dtype)
                           for k, s in schedules.items()})
            schedule_states = {k: s.update(state.hyperparams_states[k], **extra_args)
                               for k, s in schedules.items()}
            inner_state = _written(state.inner_state, values)
            updates, inner_state = factory_of(values).update(updates, inner_state, params, **extra_args)
            return updates, InjectStatefulHyperparamsState(
                _step.increment(state.count), values, schedule_states, inner_state)

        transform = GradientTransformation(init, update)
        if once is not None:
            return _recipe.named(transform, "inject_hyperparams", inner=once)
        return _recipe.named(transform, f"inject_hyperparams({name})",
                             **{k: bound.arguments[k] for k in injected})

    return build


def inject_stateful_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[Any] = None,
) -> Callable[..., GradientTransformation]:
    """The same as :func:`inject_hyperparams`, which takes stateful schedules too.

    Optax 0.2.8 keeps this name (deprecated since its 0.1.9) for code written before
    ``inject_hyperparams`` took stateful schedules; here it is the same function, without a
    warning.
    """
    return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)


# --- The arguments ---------------------------------------------------------------------------


def _sorted_arguments(arguments: dict, static: set) -> tuple[dict, dict, dict]:
    """``(numbers, schedules, others)`` by Optax's rules: a bool or a static argument is passed
    through; a callable is a schedule (a plain one wrapped in :class:`WrappedSchedule`); a
    number or an array is a hyperparameter; anything else is passed through."""
    numbers, schedules, others = {}, {}, {}
    for arg, value in arguments.items():
        if arg in static or isinstance(value, bool):
            others[arg] = value
        elif isinstance(value, StatefulSchedule):
            schedules[arg] = value
        elif callable(value):
            schedules[arg] = WrappedSchedule(value)
        elif isinstance(value, (int, float, jax.Array, np.ndarray)):
            numbers[arg] = value
        else:
            others[arg] = value
    return numbers, schedules, others


def _built_once(factory: Callable, numbers: dict, schedules: dict, others: dict
                ) -> GradientTransformation | None:
    """``factory`` built once, if it is a gradxform factory whose state holds a row for each
    hyperparameter under its name; else ``None`` (the optimizer is rebuilt at each update).

    It is built with the values given, which its own checks see (a bad value is reported here,
    by the optimizer's own error). Where a value given as a Python number leaves a term out (a
    weight decay of 0 adds nothing, so has no row), it is built again with the numbers as arrays,
    as Optax's wrapper builds it, so that the term and its row are there to be written. A plain
    schedule is given as it is (the row then holds it; the wrapper's value overrides it); a
    stateful one has no value before the first update, so its optimizer is rebuilt.
    """
    if not _is_gradxform(factory) or any(not isinstance(s, WrappedSchedule) for s in schedules.values()):
        return None
    plain = {k: s.schedule_fn for k, s in schedules.items()}
    as_arrays = {k: jnp.asarray(v) if _is_python_zero(v) else v for k, v in numbers.items()}
    for values in (numbers, as_arrays):
        transform = factory(**others, **values, **plain)
        if set(numbers) | set(schedules) <= _row_names(transform):
            return accepting_extra_args(transform)
    return None


def _row_names(transform: GradientTransformation) -> set[str]:
    """The names :func:`gradxform.hyperparams` shows for ``transform``'s state."""
    try:  # the rows' names belong to the state's type, so no params are needed to find them
        return set(jax.eval_shape(lambda: _rows_in_force(transform.init({}))))
    except Exception:  # an optimizer that cannot start on an empty tree is rebuilt instead
        return set()


def _is_python_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _is_gradxform(factory: Callable) -> bool:
    module = getattr(factory, "__module__", None) or ""
    return module == "gradxform" or module.startswith("gradxform.")


def _check_names(values: dict, injected: tuple, factory: str) -> None:
    unknown, missing = set(values) - set(injected), set(injected) - set(values)
    if unknown:
        raise ValueError(UNKNOWN_KEYS.format(factory=factory, unknown=sorted(unknown), known=sorted(injected)))
    if missing:
        raise ValueError(MISSING_KEYS.format(factory=factory, missing=sorted(missing), known=sorted(injected)))


# --- Values and dtypes ---------------------------------------------------------------------


def _cast(value: Any, dtype: Any) -> Any:
    """A floating-point value in ``dtype``; an array of a dtype of its own (not weakly typed)
    and anything not floating (an int) as it is. Optax's rule."""
    if isinstance(value, jax.Array) and not getattr(value, "weak_type", False):
        return value
    kind = value.dtype if hasattr(value, "dtype") else type(value)
    if jnp.issubdtype(kind, jnp.floating):
        return jnp.asarray(value, dtype=dtype)
    return value


def _dtype(params: PyTree, dtype: Any) -> Any:
    """``dtype``, or else the highest dtype among the params' leaves (the default float dtype for
    no params), as Optax's ``tree.dtype(params, "highest")``."""
    if dtype is not None:
        return dtype
    dtypes = [jnp.asarray(leaf).dtype for leaf in jax.tree.leaves(params)]
    if not dtypes:
        return jnp.asarray([]).dtype
    return functools.reduce(_higher, dtypes)


def _higher(a: Any, b: Any) -> Any:
    """The one of two dtypes that the other promotes to (``a`` when neither does)."""
    with jax.numpy_dtype_promotion("standard"):  # asks which way promotion goes; promotes nothing
        return b if jnp.promote_types(a, b) == b and a != b else a


def _written(inner_state: PyTree, values: dict) -> PyTree:
    """``inner_state`` with each value written into the table row shown under its name by
    :func:`gradxform.hyperparams`, where there is one (as :func:`gradxform.set_hyperparams`
    writes it, but by the exact name shown: ``lamb``'s ``eps`` beside its trust ratio's)."""
    nodes, rows = _state_hyper._rows(inner_state)
    changes: dict[int, dict[int, Any]] = {}
    for name, row in zip(_state_hyper._short_names(rows), rows):
        if name in values:
            changes.setdefault(row.node, {})[row.row] = jnp.real(values[name])
    if not changes:
        return inner_state
    return _tables.with_tables(inner_state, [_state_hyper._with_rows(node, changes.get(i, {}))
                                             for i, node in enumerate(nodes)])
