"""Argument checks shared by every factory; the wording of every error lives here.

A check looks only at concrete values (Python and NumPy numbers, concrete NumPy and JAX
scalars): traced values and schedules pass through unchecked, because their values are not
known when the optimizer is built. A range check also records its rule for the primitive and
argument it names (:func:`pending_rules`), so that :func:`gradxform.core.hyperparams.declare`
keeps the rule with the declared hyperparameter: :func:`gradxform.set_hyperparams` and the
checked mode (:func:`gradxform.checked`) run the same rule on values given later.
"""
from __future__ import annotations

import math
import numbers
import threading
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .masked_node import is_masked
from .named import value_of

RANGE = "{who}: {name} must be {expected}, got {name}={value!r}.{hint}"
NOT_A_NUMBER = "{who}: {name} must be a number or a schedule (a function of the step), got {got}."
NOT_CALLABLE = "{who}: {name} must be a function, got {got}."
NOT_A_TRANSFORM = (
    "{who}: expected a GradientTransformation (anything with init and update), or a list of them, "
    "got {got}."
)
EMPTY = "{who}: expected at least one of {what}, got none."
NO_STEP = (
    "{who}: needs the step count, but update() received no 'step' argument. Put it inside "
    "gradxform.chain(...), which counts steps and passes them down, or call update(..., step=n)."
)
TREE_MISMATCH = (
    "{who}: {left_name} and {right_name} have different tree structures. Did the params change "
    "shape since init()? Paths are keys joined by '/'.\n  only in {left_name}: {left}\n"
    "  only in {right_name}: {right}"
)
SAME_PATHS_OTHER_CONTAINERS = (
    "(none: the same paths, in other containers, e.g. a list for a tuple; {left_name} is {left} and "
    "{right_name} is {right})"
)
MOVED_BETWEEN_GROUPS = (
    "  masked out in {masked}, a leaf in {leaf}: {paths}. It has moved between the groups of a "
    "partition or mask since init(), as a change of its rank moves it under labels_by_ndim."
)
MAX_PATHS_LISTED = 12  # paths shown in a tree mismatch before "... and N more"
NOT_FLOAT = (
    "{who}: every parameter must have a floating-point or complex dtype, got {dtype} at {path}. "
    "Optimizers update parameters by small real steps; cast it with .astype(jnp.float32) or leave it "
    "out of the optimized tree."
)
CHOICE = "{who}: {name} must be one of {choices}, got {name}={value!r}."


def describe(obj: Any) -> str:
    return f"{type(obj).__name__} {obj!r}"[:200]


def _unnamed(value):
    """The number or schedule inside a ``gradxform.hyperparameter(name, value)``."""
    return value_of(value)


def _concrete(value) -> float | None:
    """The value as a float if it is a concrete real number, else ``None`` (schedule, tracer, ...)."""
    value = _unnamed(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        return _real(value)
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer) and value.ndim == 0:
        return _real(value)
    return None


def _real(value) -> float | None:
    """A 0-d array as a float; ``None`` for a bool or complex one (checked elsewhere, if at all)."""
    dtype = np.dtype(value.dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.complexfloating):
        return None
    return float(value)


def _is_number_like(value) -> bool:
    return (
        callable(value)
        or isinstance(value, (numbers.Real, np.generic, np.ndarray, jax.Array))
        and not isinstance(value, bool)
    )


class Rule(NamedTuple):
    """A range check, kept with a declared hyperparameter to run again on values set later."""

    ok: Callable[[float], bool]  # True for an allowed value
    expected: str  # "in [0, 1)", "a finite number > 0", ...
    hint: str | Callable[[float], str] = ""  # a sentence starting with a space, or one per value

    def hint_for(self, x: float) -> str:
        return self.hint(x) if callable(self.hint) else self.hint


_pending = threading.local()  # {(who, argument): {expected: Rule}} checked, not yet declared


def pending_rules(who: str, argument: str) -> tuple[Rule, ...]:
    """The rules checked for ``who``'s ``argument`` since it was last declared (and forget them)."""
    rules = getattr(_pending, "rules", {}).pop((who, argument), {})
    return tuple(rules.values())


def _record(who: str, argument: str, rule: Rule) -> None:
    if not hasattr(_pending, "rules"):
        _pending.rules = {}
    _pending.rules.setdefault((who, argument), {})[rule.expected] = rule


def _check(who, name, value, ok, expected, hint: str | Callable[[float], str] = ""):
    rule = Rule(ok, expected, hint)
    _record(who, name, rule)
    name = getattr(value, "name", name) if _unnamed(value) is not value else name  # e.g. "b1"
    value = _unnamed(value)
    if not _is_number_like(value):
        raise TypeError(NOT_A_NUMBER.format(who=who, name=name, got=describe(value)))
    scalar_hyperparameter(who, name, value)
    x = _concrete(value)
    if x is not None and not ok(x):
        raise ValueError(
            RANGE.format(who=who, name=name, expected=expected, value=value, hint=rule.hint_for(x))
        )


def finite(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, math.isfinite, "a finite number")


def positive(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, lambda x: x > 0 and math.isfinite(x), "a finite number > 0")


def non_negative(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, lambda x: x >= 0 and math.isfinite(x), "a finite number >= 0")


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)  # 1.18e-38


def not_subnormal(who: str, **values) -> None:
    """A small constant such as ``eps``: 0, or at least float32's smallest normal number."""
    for name, value in values.items():
        _check(
            who, name, value, lambda x: x == 0 or abs(x) >= _SMALLEST_NORMAL,
            f"0 or at least {_SMALLEST_NORMAL:.3g} (float32's smallest normal number)",
            " Smaller numbers are subnormal, and XLA's CPU backend flushes them to 0; try 1e-30.",
        )


def learning_rate(who: str, **values) -> None:
    for name, value in values.items():
        _check(
            who, name, value, lambda x: x >= 0 and math.isfinite(x), "a finite number >= 0",
            " The sign is applied for you: pass the step size, e.g. 1e-3.",
        )


def decay(who: str, **values) -> None:
    """A decay rate: the weight kept from the previous running mean, in ``[0, 1)``."""
    for name, value in values.items():
        _check(who, name, value, lambda x: 0 <= x < 1, "in [0, 1)", _decay_hint)


def _decay_hint(x: float) -> str:
    return " With 1 the running mean never updates; try 0.99." if x == 1 else ""


def unit_interval(who: str, **values) -> None:
    """A mixing weight in the closed interval ``[0, 1]``."""
    for name, value in values.items():
        _check(who, name, value, lambda x: 0 <= x <= 1, "in [0, 1]")


def is_callable(who: str, **values) -> None:
    for name, value in values.items():
        if not callable(value):
            raise TypeError(NOT_CALLABLE.format(who=who, name=name, got=describe(value)))


def choice(who: str, name: str, value, choices) -> None:
    try:
        known = bool(value in choices)
    except (TypeError, ValueError):  # an array or another value that does not compare to one
        known = False
    if not known:
        raise ValueError(CHOICE.format(who=who, name=name, choices=list(choices), value=value))


def same_structure(who: str, **trees) -> None:
    """Raise if the given trees (two, by keyword) do not share one tree structure."""
    (left_name, left), (right_name, right) = trees.items()
    left_def: Any = jax.tree.structure(left)
    if left_def != jax.tree.structure(right):
        raise ValueError(tree_mismatch(who, left_name, left, right_name, right))


def tree_mismatch(who: str, left_name: str, left, right_name: str, right) -> str:
    """The message for two trees of different structures: the paths found on one side only."""
    left_paths, right_paths = _paths(left), _paths(right)
    only_left = [p for p in left_paths if p not in set(right_paths)]
    only_right = [p for p in right_paths if p not in set(left_paths)]
    if not only_left and not only_right:
        both = SAME_PATHS_OTHER_CONTAINERS.format(
            left_name=left_name, right_name=right_name, left=jax.tree.structure(left),
            right=jax.tree.structure(right))
        return TREE_MISMATCH.format(who=who, left_name=left_name, right_name=right_name, left=both,
                                    right="(none)")
    return TREE_MISMATCH.format(who=who, left_name=left_name, right_name=right_name,
                                left=_listing(only_left), right=_listing(only_right)) + _regrouped(
        left_name, left, right_name, right)


def _regrouped(left_name: str, left, right_name: str, right) -> str:
    """Lines for the paths masked out on one side (a leaf of another group of a partition) and a
    leaf on the other: such a leaf has moved between groups, as a change of rank moves it under
    :func:`gradxform.labels_by_ndim`."""
    lines = []
    for (masked_name, masked), (leaf_name, leaves) in (((left_name, left), (right_name, right)),
                                                       ((right_name, right), (left_name, left))):
        moved = sorted(set(_paths(masked, masked_only=True)) & set(_paths(leaves)))
        if moved:
            lines.append(MOVED_BETWEEN_GROUPS.format(masked=masked_name, leaf=leaf_name, paths=_listing(moved)))
    return "".join("\n" + line for line in lines)


def _paths(tree, masked_only: bool = False) -> list[str]:
    """Each leaf's key path as keys joined by '/' (``'<root>'`` for a lone leaf); with
    ``masked_only``, the paths of the masked-out parameters (:class:`MaskedNode`) instead."""
    items = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_masked if masked_only else None)[0]
    return [repr("/".join(_key(k) for k in path)) if path else "<root>" for path, leaf in items
            if not masked_only or is_masked(leaf)]


def _key(entry) -> str:
    for field in ("key", "idx", "name"):
        if hasattr(entry, field):
            return str(getattr(entry, field))
    return str(entry)


def _listing(paths: list[str]) -> str:
    if not paths:
        return "(none)"
    more = len(paths) - MAX_PATHS_LISTED
    return ", ".join(paths[:MAX_PATHS_LISTED]) + (f", ... and {more} more" if more > 0 else "")


def inexact_leaves(who: str, params) -> None:
    """Raise if any parameter is not floating point or complex."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                NOT_FLOAT.format(who=who, dtype=dtype, path=jax.tree_util.keystr(path) or "<root>")
            )

NOT_A_KEY = (
    "{who}: key must be an int seed or a single JAX PRNG key (jax.random.key(0) or "
    "jax.random.PRNGKey(0)), got {got}."
)
BOTH_ZERO = (
    "{who}: {first} and {second} must not both be 0, got {first}={first_value!r} and "
    "{second}={second_value!r}: an entry whose gradients have all been 0 would compute 0/0 = nan. "
    "Set {second} > 0, e.g. {second}={example}."
)
NEEDS_OTHER = (
    "{who}: {name}={value!r} has no effect without {other}, got {other}=None. "
    "Pass {other} (e.g. {other}=0.9) or leave {name} at its default."
)


def not_both_zero(who: str, example: str, **values) -> None:
    """Raise if both of two concrete values (by keyword) are 0; ``example`` suggests the second."""
    (first, first_value), (second, second_value) = values.items()
    if _concrete(first_value) == 0 and _concrete(second_value) == 0:
        raise ValueError(
            BOTH_ZERO.format(
                who=who, first=first, second=second, first_value=_unnamed(first_value),
                second_value=_unnamed(second_value), example=example,
            )
        )


NOT_AN_INT = "{who}: {name} must be an int, got {got}.{hint}"
NOT_A_FLAG = "{who}: {name} must be True or False, got {got}."


def flag(who: str, **values) -> None:
    """A switch: exactly ``True`` or ``False`` (a NumPy bool too), not a truthy stand-in."""
    for name, value in values.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(NOT_A_FLAG.format(who=who, name=name, got=describe(value)))


def non_negative_int(who: str, **values) -> None:
    """A count or an offset: a Python (or NumPy) int ``>= 0``; ``True``/``False`` are not counts."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(NOT_AN_INT.format(who=who, name=name, got=describe(value), hint=""))
        if value < 0:
            raise ValueError(RANGE.format(who=who, name=name, expected="an int >= 0", value=value, hint=""))


def at_least(who: str, minimum: float, hint: str = "", **values) -> None:
    """A finite number ``>= minimum``; ``hint`` (starting with a space) says why and what to pass."""
    for name, value in values.items():
        _check(who, name, value, lambda x: minimum <= x < math.inf, f"a finite number >= {minimum}", hint)


# Wrappers (gradxform.wrappers): masks and labels, accumulation, averages, named chains.
WRONG_KIND = "{who}: {name} must be {expected}, got {got}."
TREE_PATHS_MISMATCH = (
    "{who}: the {name} does not match the params tree: it must have the params' structure, or a "
    "prefix of it (one leaf standing for a whole subtree). Paths are keys joined by '/'.\n"
    "  only in the {name}: {only_name}\n"
    "  only in the params: {only_params}"
)
TREE_CONTAINERS_MISMATCH = (
    "{who}: the {name} has the params' paths but other containers (e.g. a list for a tuple); "
    "build it from the params, e.g. with jax.tree.map.\n  {name}: {left}\n  params: {right}"
)
NOT_A_BOOL_MASK = (
    "{who}: every leaf of the mask must be True or False, known before tracing, got {got} at "
    "{path!r}. Build masks from names or shapes, e.g. gx.path_mask(params, '*kernel') or "
    "jax.tree.map(lambda p: p.ndim > 1, params)."
)
UNKNOWN_LABELS = (
    "{who}: no transformation for the label(s) {missing}, used at {paths}; the transformations "
    "are labelled {known}. Add one per label (gx.identity() leaves a group as it is) or relabel "
    "those parameters."
)
NO_PATTERN_MATCH = (
    "{who}: no pattern matches {paths}, and default=None. Add a pattern for them (e.g. '*') or "
    "pass default=<label>."
)
NOT_A_PATTERN = (
    "{who}: {name} must be a glob pattern or a list of them (strings matched against key paths "
    "joined by '/', e.g. '*/bias'), got {got}."
)
SKIP_FN_RESULT = (
    "{who}: should_skip_update_fn must return (a bool scalar, any pytree), got a first element "
    "of dtype {dtype} and shape {shape}. Reduce it to one flag, e.g. with jnp.any(...)."
)
PARAMS_NEEDED = "{who}: update() needs params {why}, got params=None. Call update(updates, state, params)."
LOOKAHEAD_PARAMS = (
    "lookahead: update() needs params=LookaheadParams(fast=..., slow=...), got {got}. Start from "
    "gx.LookaheadParams.init_synced(params), take gradients at params.fast and evaluate "
    "params.slow."
)
NO_AVERAGE = (
    "averaged_params: found no averaged parameters in {got}. Pass the state of an optimizer "
    "wrapped in gx.ema_params(...) or gx.swa(...), or the LookaheadParams of gx.lookahead(...)."
)
SEVERAL_AVERAGES = (
    "averaged_params: found {count} averages ({kinds}) in the state; pass the part of the state "
    "that holds the one you want."
)
NAMED_PAIR = "named_chain: each argument must be a (name, transformation) pair with a str name, got {got}."
DUPLICATE_NAMES = "{who}: names must be distinct, got {names}; {duplicates} appear more than once."
UNKNOWN_PART = "{who}: no part named {name!r}; the parts are {names}."


def int_at_least(who: str, minimum: int, hint: str = "", **values) -> None:
    """An int (or integer array) ``>= minimum``; traced values pass unchecked, bools are rejected."""
    for name, value in values.items():
        dtype = getattr(value, "dtype", None)
        integral = isinstance(value, numbers.Integral) or (
            dtype is not None and jnp.issubdtype(dtype, jnp.integer)
        )
        if isinstance(value, (bool, np.bool_)) or not integral:
            raise TypeError(NOT_AN_INT.format(who=who, name=name, got=describe(value), hint=hint))
        x = _concrete(value)
        if x is not None and x < minimum:
            raise ValueError(
                RANGE.format(who=who, name=name, expected=f"an int >= {minimum}", value=value, hint=hint)
            )

# ----- schedules: fixed arguments, step counts, boundaries, and optional dependencies -----
SCHEDULE_ARGUMENT = (
    "{who}: {name} must be a number (or a scalar array), got {got}. A schedule's own arguments "
    "are fixed when it is built; to change one over time, combine schedules with join_schedules."
)
NOT_STEPS = "{who}: {name} must be a whole number of steps >= {low}, got {name}={value!r}.{hint}"
NOT_INCREASING = (
    "{who}: {name} must be strictly increasing, got {name}={value!r}. Sort them and drop "
    "duplicates."
)
WRONG_LENGTH = "{who}: {name} must have {expected} entries ({why}), got {got}."
NOT_A_STEP = (
    "{who}: the step must be an integer count (a Python int or an integer array, such as the "
    "int32 counter of gradxform.chain), got dtype {dtype}. Convert it with jnp.asarray(step, "
    "jnp.int32)."
)
TOO_MANY_RESTARTS = (
    "{who}: period_multiplier={m!r} is so close to 1 that more than {limit} restarts of "
    "first_period={period} fit before step 2**31 - 1. Use period_multiplier=1 for equal periods, "
    "or a larger multiplier or first_period."
)
MISSING_EXTRA = (
    "{who}: needs {package}, which is not installed. Install it with `pip install "
    "gradxform[{extra}]` (or `pip install {package}`)."
)


def fixed(who: str, **values) -> None:
    """Raise ``TypeError`` unless each value is a number or an array (not a schedule or a str)."""
    for name, value in values.items():
        if callable(value) or not _is_number_like(value):
            raise TypeError(SCHEDULE_ARGUMENT.format(who=who, name=name, got=describe(value)))


def step_count(who: str, low: int = 0, hint: str = "", **values) -> None:
    """A whole number of steps ``>= low``: an int, or a float with an integral value (``1e4``).

    ``hint`` (a sentence starting with a space) explains the bound; by default the message
    suggests the nearest valid count.
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
            raise TypeError(NOT_STEPS.format(who=who, name=name, low=low, value=value, hint=""))
        x = float(value)
        if not math.isfinite(x) or x != math.floor(x) or x < low:
            if not hint and math.isfinite(x):
                hint = f" Try {name}={max(low, math.ceil(x))}."
            raise ValueError(NOT_STEPS.format(who=who, name=name, low=low, value=value, hint=hint))


def strictly_increasing(who: str, name: str, values) -> None:
    values = list(values)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(NOT_INCREASING.format(who=who, name=name, value=values))


def has_length(who: str, name: str, got: int, expected: int, why: str) -> None:
    if got != expected:
        raise ValueError(
            WRONG_LENGTH.format(who=who, name=name, expected=expected, why=why, got=got)
        )


def integer_step(who: str, step) -> None:
    """Raise ``TypeError`` unless the step's (static) dtype is an integer dtype."""
    dtype = jnp.result_type(step)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(NOT_A_STEP.format(who=who, dtype=dtype))



# Hyperparameters as state (gradxform.hyperparams / set_hyperparams).
NOT_A_NAME = "{who}: name must be a Python identifier such as 'b1', got {got}."
UNKNOWN_HYPERPARAMS = (
    "set_hyperparams: no hyperparameter named {unknown} in this state; it has {known}. "
    "Names are those gradxform.hyperparams(state) returns."
)
AMBIGUOUS_HYPERPARAM = (
    "set_hyperparams: the name {name!r} matches {count} hyperparameters: {matches}. Use one of "
    "these longer names (as gradxform.hyperparams(state) shows them)."
)
NAME_GIVEN_TWICE = (
    "{who}: the hyperparameter {name!r} is given two different values, {first} and {second}; "
    "a name is one hyperparameter. Give one of them another name with gradxform.hyperparameter."
)
NOT_ITS_STATE = (
    "{who}: state must be the state this transformation's init() returned, got {got}. Only a "
    "transformation that keeps no arrays of its own accepts another state (None, EmptyState())."
)
NO_OWNER = (
    "{who}: update() received no 'hyperparams' argument. This is the raw form of a primitive, "
    "which a gradxform.chain passes its step and hyperparameters to; use the primitive itself."
)
NOT_A_SCALAR_HYPERPARAM = (
    "{who}: {name} must be a scalar (a number or a 0-d array), got an array of shape {shape}. "
    "A hyperparameter is one value for every parameter; to try several, jax.vmap over them."
)
BAD_SCHEDULE_VALUE = (
    "{who}: the schedule given as {name} must return a real scalar (a number or a 0-d array of "
    "an integer or floating dtype) for a step, got {got} at step 0."
)
NON_FINITE_SCHEDULE_VALUE = (
    "{who}: the schedule given as {name} returns {value} at step 0; a hyperparameter must be "
    "finite. Check the schedule's arguments."
)
NOT_A_SET_VALUE = (
    "set_hyperparams: {name} must be a number or an array of numbers (or None to go back to the "
    "value the optimizer was built with), got {got}. To follow another schedule, build the "
    "optimizer with it and keep the state."
)
NAME_TAKEN = (
    "hyperparameter: the name {name!r} is also the name of another argument of the same "
    "primitive; give the shared hyperparameter another name."
)


# reduce_on_plateau (gradxform.transforms.plateau).
NO_MONITORED_VALUE = (
    "{who}: update() needs the monitored value, but received no 'value' argument. Pass the loss "
    "(or the metric you watch) at every update: update(grads, state, params, value=loss)."
)
NOT_A_SCALAR_VALUE = (
    "{who}: value must be a scalar (e.g. the mean loss of the batch), got shape {shape}. Reduce "
    "it first, e.g. value=jnp.mean(losses)."
)


def reduction_factor(who: str, **values) -> None:
    """A factor that shrinks a scale: in ``(0, 1]``."""
    for name, value in values.items():
        _check(
            who, name, value, lambda x: 0 < x <= 1, "in (0, 1]",
            " The scale is multiplied by it at each plateau; try 0.1 (1 never reduces).",
        )


# Unit-wise clipping and centralization (gradxform.transforms.clipping).
NO_UNIT_CONVENTION = (
    "{who}: found a parameter of shape {shape} at {path}; without axis, only ranks 0 to 5 have a "
    "unit convention. Pass axis=<the axes one unit's norm sums over>, e.g. axis={example}, or "
    "leave this parameter out with gradxform.masked."
)
UPDATE_SHAPE_MISMATCH = (
    "{who}: the update at {path} has shape {update_shape} but the parameter has shape "
    "{param_shape}; each update must be shaped like its parameter."
)

# MultiSteps's every_k_schedule, evaluated at step 0 when it is built.
FIRST_K_BELOW_ONE = (
    "MultiSteps: every_k_schedule must return a whole number of micro-batches >= 1, got "
    "every_k_schedule(0)={k!r}. With k < 1 the accumulator is never full and no step is ever taken."
)
FIRST_K_NOT_A_NUMBER = (
    "MultiSteps: every_k_schedule must return a scalar number of micro-batches (an int >= 1), got "
    "every_k_schedule(0) = {got}."
)

# Updates that do not fit their params (gradxform.core.shapes): found when a step is traced.
_BROADCAST_HINT = (
    " Each update must be shaped like its parameter (JAX would broadcast it silently): are the "
    "gradients those of these params?"
)
UPDATE_NOT_PARAM_SHAPED = "{who}: updates{path} has shape {shape}, params{path} has {expected}." + _BROADCAST_HINT
UPDATE_NOT_STATE_SHAPED = (
    "{who}: updates{path} has shape {shape}, but the state was made by init() for shape {expected} "
    "there." + _BROADCAST_HINT
)
UPDATE_NOT_BUFFER_SHAPED = "{who}: updates{path} has shape {shape}, the {name} has {expected}." + _BROADCAST_HINT
STATE_BROADCAST = (
    "{who}: this step would change the shape of the state at {path} from {before} to {after}: "
    "the updates are not shaped like the params given to init()." + _BROADCAST_HINT
)
UPDATE_NOT_FLOAT = (
    "{who}: updates{path} has dtype {dtype}; updates must be floating point or complex (an integer "
    "update would be truncated or overflow). Cast the gradients, e.g. with .astype(jnp.float32)."
)
COMPLEX_UPDATE_REAL_PARAM = (
    "{who}: updates{path} is complex ({dtype}) but params{path} is real ({param_dtype}); adding it "
    "would drop the imaginary part. Take the real part, or make the parameter complex."
)


# Line searches (gradxform.transforms.linesearch) and L-BFGS (gradxform.transforms.lbfgs).
NEEDS_LOSS = (
    "{who}: update() needs the loss, but received no {missing}. A line search evaluates the loss "
    "along the update: pass value= (the loss at params), grad= (its gradient at params) and "
    "value_fn= (the loss function, called as value_fn(params, **kwargs)), e.g. "
    "update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn)."
)
WOLFE_ORDER = (
    "{who}: slope_rtol must be smaller than curv_rtol (0 < c1 < c2: otherwise no step need meet "
    "both Wolfe conditions), got slope_rtol={slope_rtol!r} and curv_rtol={curv_rtol!r}. Try the "
    "usual slope_rtol=1e-4 and curv_rtol=0.9."
)


def in_interval(who: str, low: float, high: float, closed: str, hint: str = "", **values) -> None:
    """A number between ``low`` and ``high`` (``high`` may be inf); ``closed`` is "neither",
    "left", "right" or "both": which ends are allowed."""
    left, right = closed in ("left", "both"), closed in ("right", "both")
    expected = f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"

    def ok(x):
        return (low <= x if left else low < x) and (x <= high if right else x < high)

    for name, value in values.items():
        _check(who, name, value, ok, expected, hint)


# Checkpoints (gradxform.state.checkpoint): state_to_dict / state_from_dict.
STATE_MISMATCH = (
    "{who}: the saved state does not fit this optimizer's state. Was it saved from another "
    "optimizer or recipe, another version of gradxform, or other params? Nothing was restored; "
    "paths are keys joined by '/'.{details}"
)
STATE_TYPES_DIFFER = "state types that differ"
STATE_MISSING = "missing from the saved state"
STATE_UNEXPECTED = "unexpected in the saved state (not in this optimizer's state)"
STATE_SHAPES_DIFFER = "shapes that differ (saved, this optimizer)"
STATE_DTYPES_DIFFER = (
    "dtypes that differ (they must match exactly; nothing is cast: build the optimizer with "
    "params of the saved dtypes, or cast the saved arrays yourself)"
)
NOT_A_SAVED_STATE = (
    "state_from_dict: saved_dict must be what gradxform.state_to_dict returned, a dict with "
    "'state' (and 'layout'), after any round trip through a checkpointer; got {got}."
)
LAYOUT_FORMAT = (
    "state_from_dict: the saved layout has format {got}, this version of gradxform reads format "
    "{expected}. Restore it with the gradxform version that saved it."
)
ABSTRACT_HYPERPARAMS = (
    "state_from_dict: hyperparams='optimizer' takes the values of the template's hyperparameters, "
    "but the template holds no values (jax.eval_shape?). Pass opt.init(params), or restore with "
    "the default hyperparams='saved' and change values with gradxform.set_hyperparams."
)
KEY_COLLISION = (
    "state_to_dict: two entries of the container at {path} are both named {key!r} once their keys "
    "are written as strings (e.g. 1 and '1'); give them distinct keys."
)
NOT_AN_ARRAY_LEAF = (
    "state_to_dict: every leaf of a state must be an array (or None), got {got} at {path}."
)


# The grouped multi-tensor mode (gradxform.grouped.layouts, gradxform.grouped.leafwise): flatten, ravel_by_group.
LEAVES_DIFFER = (
    "{who}: the transformation treats leaves {a} and {b} differently (a mask, a partition, or a "
    "rule that depends on a leaf's shape or name), so one buffer holding both cannot reproduce it. "
    "Keep the part that depends on the tree outside flatten, e.g. "
    "chain(flatten(adam_part), masked(weight_decay(...), mask), ...), or run it without flatten."
)
LEAVES_MIXED = (
    "{who}: the transformation combines leaves {a} and {b} in one {op} (control flow over whole "
    "trees, as in L-BFGS, or arithmetic across leaves), which cannot be split into buffers. Run it "
    "without flatten."
)
PER_LEAF_REDUCTION = (
    "{who}: a value computed from leaf {leaf} as a whole ({op}) is used in {where}. The "
    "transformation treats each leaf as a unit (per-leaf norms as in the trust ratios of LAMB and "
    "LARS, clip_by_norm, clip_by_block_rms; per-leaf histories as in L-BFGS), which a buffer "
    "holding many leaves cannot reproduce. Run it without flatten."
)
NOT_FROM_THE_LEAF = (
    "{who}: {op} of leaf {leaf} is not computed element by element from that leaf (noise drawn per "
    "leaf, control flow over whole trees as in L-BFGS, or a value built for each leaf's shape), so a "
    "buffer holding many leaves would not get the same numbers. Run it without flatten."
)
NOT_THE_BUFFERS = (
    "ravel_by_group: unravel expects the dict of buffers that ravel_by_group returned, with keys "
    "{expected}, got {got}."
)
NOT_A_MESH_AXIS = (
    "flatten: shard_state_over must be None or a (mesh, axis) pair with a jax.sharding.Mesh and "
    "one of its axis names, e.g. (mesh, 'data'), got {got}."
)
NO_MULTI_OUTPUT_FUSION = (
    "one_pass: XLA's CPU backend makes one pass of the step only with its multi-output fusion, "
    "which is off: start Python with XLA_FLAGS=--xla_backend_extra_options={option} (XLA reads it "
    "once, when JAX starts its backend). Without it XLA copies the state before overwriting it and "
    "the step is several times slower than without one_pass."
)
BUFFER_SIZE_HINT = (
    " Pass None for one buffer per group, or the most elements a buffer may hold (per device "
    "block, when sharded), e.g. 2**20."
)
OTHER_MESH = (
    "flatten: shard_state_over names one mesh, but some params are sharded over another; put "
    "every param on the mesh whose axis {axis!r} the state is split across."
)
MIXED_GROUP = (
    "flatten: the leaves of buffer {group!r} have dtypes {dtypes}, but a buffer holds one dtype. "
    "Give the updates the params' dtypes (cast the gradients), or the params the updates' dtypes."
)


def scalar_hyperparameter(who: str, name: str, value) -> None:
    """Refuse a concrete array of more than one value given as a hyperparameter."""
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.ndim(value) > 0:
        raise ValueError(NOT_A_SCALAR_HYPERPARAM.format(who=who, name=name, shape=np.shape(value)))


def schedule_at_step_zero(who: str, name: str, schedule: Callable) -> None:
    """Call ``schedule`` at step 0 and refuse a value that is not a finite real scalar.

    The value at step 0 is what init stores; a traced value (a schedule closing over traced
    values) is checked for its shape and dtype only.
    """
    value = schedule(jnp.zeros([], jnp.int32))
    if not isinstance(value, (numbers.Real, np.ndarray, np.generic, jax.Array)) or isinstance(
            value, (bool, np.bool_)):
        raise TypeError(BAD_SCHEDULE_VALUE.format(who=who, name=name, got=describe(value)))
    dtype, shape = jnp.result_type(value), tuple(getattr(value, "shape", ()))
    if shape or not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        shown = f"an array of shape {shape} and dtype {dtype}"
        raise TypeError(BAD_SCHEDULE_VALUE.format(who=who, name=name, got=shown))
    if isinstance(value, jax.core.Tracer):
        return
    if not math.isfinite(float(value)):
        raise ValueError(NON_FINITE_SCHEDULE_VALUE.format(who=who, name=name, value=float(value)))


NOT_A_FLOAT_DTYPE = "{who}: {name} must be a floating-point dtype (e.g. jnp.bfloat16), got {name}={value!r}."


def float_dtype(who: str, **values) -> Any:
    """The one given dtype as a ``jnp.dtype``, refused unless it is a real floating-point dtype."""
    ((name, value),) = values.items()
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(NOT_A_FLOAT_DTYPE.format(who=who, name=name, value=value))
    return dtype
