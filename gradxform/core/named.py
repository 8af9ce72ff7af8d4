"""A hyperparameter given a name: one value wherever it is passed, read and set by that name.

Kept apart from :mod:`gradxform.core.hyperparams` so that the argument checks, which look inside
a named value, need nothing else of the hyperparameter machinery.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .types import ScalarOrSchedule


class Named(NamedTuple):
    """A number or schedule with the name it is read and set under (see :func:`hyperparameter`)."""

    name: str
    value: Any
    derive: Callable | None = None  # the form a primitive uses, e.g. 1 - b1 (see one_minus)


def one_minus(value: ScalarOrSchedule | Named) -> ScalarOrSchedule | Named:
    r""":math:`1 - h` of a hyperparameter :math:`h`, still read and set as :math:`h` itself.

    Nadam weights its gradient term by ``one_minus(b1)``: setting ``b1`` changes the momentum,
    its bias correction and this weight together. For a plain number this is just ``1 - value``.
    """
    if not isinstance(value, Named):
        return (lambda step: 1 - value(step)) if callable(value) else 1 - value
    inner = value.derive or (lambda x: x)
    return value._replace(derive=lambda x: 1 - inner(x))


def value_of(value):
    """The number or schedule inside a possibly :func:`hyperparameter`-named value (for checks)."""
    if not isinstance(value, Named):
        return value
    if value.derive is None:
        return value.value
    derive, given = value.derive, value.value
    return (lambda step: derive(given(step))) if callable(given) else derive(given)
