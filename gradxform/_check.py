"""Argument checks shared by every factory; the wording of every error lives here.

A check looks only at concrete Python (or NumPy) numbers: traced values and schedules pass
through unchecked, because their values are not known when the optimizer is built.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

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
    "shape since init()?\n  {left_name}: {left}\n  {right_name}: {right}"
)
NOT_FLOAT = (
    "{who}: every parameter must have a floating-point or complex dtype, got {dtype} at {path}. "
    "Optimizers update parameters by small real steps; cast it with .astype(jnp.float32) or leave it "
    "out of the optimized tree."
)
CHOICE = "{who}: {name} must be one of {choices}, got {name}={value!r}."


def describe(obj: Any) -> str:
    return f"{type(obj).__name__} {obj!r}"[:200]


def _concrete(value) -> float | None:
    """The value as a float if it is a concrete real number, else ``None`` (schedule, tracer, ...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        return float(value)
    return None


def _is_number_like(value) -> bool:
    return (
        callable(value)
        or isinstance(value, (numbers.Real, np.generic, np.ndarray, jax.Array))
        and not isinstance(value, bool)
    )


def _check(who, name, value, ok, expected, hint=""):
    if not _is_number_like(value):
        raise TypeError(NOT_A_NUMBER.format(who=who, name=name, got=describe(value)))
    x = _concrete(value)
    if x is not None and not ok(x):
        raise ValueError(RANGE.format(who=who, name=name, expected=expected, value=value, hint=hint))


def finite(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, math.isfinite, "a finite number")


def positive(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, lambda x: x > 0 and math.isfinite(x), "a finite number > 0")


def non_negative(who: str, **values) -> None:
    for name, value in values.items():
        _check(who, name, value, lambda x: x >= 0 and math.isfinite(x), "a finite number >= 0")


def learning_rate(who: str, **values) -> None:
    for name, value in values.items():
        _check(
            who, name, value, lambda x: x >= 0 and math.isfinite(x), "a finite number >= 0",
            " The sign is applied for you: pass the step size, e.g. 1e-3.",
        )


def decay(who: str, **values) -> None:
    """A decay rate: the weight kept from the previous running mean, in ``[0, 1)``."""
    for name, value in values.items():
        hint = " With 1 the running mean never updates; try 0.99." if _concrete(value) == 1 else ""
        _check(who, name, value, lambda x: 0 <= x < 1, "in [0, 1)", hint)


def unit_interval(who: str, **values) -> None:
    """A mixing weight in the closed interval ``[0, 1]``."""
    for name, value in values.items():
        _check(who, name, value, lambda x: 0 <= x <= 1, "in [0, 1]")


def is_callable(who: str, **values) -> None:
    for name, value in values.items():
        if not callable(value):
            raise TypeError(NOT_CALLABLE.format(who=who, name=name, got=describe(value)))


def choice(who: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(CHOICE.format(who=who, name=name, choices=list(choices), value=value))


def same_structure(who: str, **trees) -> None:
    """Raise if the given trees (two, by keyword) do not share one tree structure."""
    (left_name, left), (right_name, right) = trees.items()
    left_def, right_def = jax.tree.structure(left), jax.tree.structure(right)
    if left_def != right_def:
        raise ValueError(
            TREE_MISMATCH.format(
                who=who, left_name=left_name, right_name=right_name, left=left_def, right=right_def
            )
        )


def inexact_leaves(who: str, params) -> None:
    """Raise if any parameter is not floating point or complex."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                NOT_FLOAT.format(who=who, dtype=dtype, path=jax.tree_util.keystr(path) or "<root>")
            )
