"""How states print: as a textbook writes them, a field per line once a line grows long.

A state is nested NamedTuples, tuples, dicts and arrays. Printed with :func:`text`, every level
fits on one line where it can (100 characters) and otherwise puts each field on a line of its
own, indented; an array of more than 16 elements prints as its dtype and shape. State classes
opt in with :func:`textbook`, which makes :func:`text` their ``repr``.
"""
from __future__ import annotations

from typing import Any, TypeVar

import jax
import numpy as np

_WIDTH = 100  # characters per line before a node is printed over several lines
_SMALL = 16  # arrays of at most this many elements print their values

T = TypeVar("T", bound=type)


def textbook(cls: T) -> T:
    """Make :func:`text` the ``repr`` of the state class ``cls``; returns ``cls``."""
    cls.__repr__ = text  # type: ignore[assignment]
    return cls


def text(node: Any) -> str:
    """``node`` as text: one line if it fits, else one field per line."""
    return _text(node, 0)


def _text(node: Any, indent: int) -> str:
    if isinstance(node, _Keyed):
        return f"{node.key!r}: " + _text(node.value, indent)
    line = _line(node)
    if indent + len(line) <= _WIDTH:
        return line
    opened = _opened(node)
    if opened is None:
        return line
    head, items, close = opened
    pad = " " * (indent + 2)
    body = ",\n".join(pad + (f"{key}=" if key is not None else "") + _text(value, indent + 2)
                      for key, value in items)
    return f"{head}\n{body}{close}"


def _line(node: Any) -> str:
    if isinstance(node, _Keyed):
        return f"{node.key!r}: " + _line(node.value)
    opened = _opened(node)
    if opened is None:
        return _leaf(node)
    head, items, close = opened
    shown = ", ".join((f"{key}=" if key is not None else "") + _line(value) for key, value in items)
    one_item_tuple = head == "(" and len(items) == 1
    return f"{head}{shown}{',' if one_item_tuple else ''}{close}"


def _opened(node: Any) -> tuple[str, list[tuple[Any, Any]], str] | None:
    """``(opening, [(key, child)], closing)`` for a container, ``None`` for a leaf."""
    fields: tuple | None = getattr(type(node), "_fields", None)
    if isinstance(node, tuple) and fields is not None:
        if type(node).__repr__ is not text:  # a record that prints itself (Hyperparams)
            return None
        items = [(f, getattr(node, f)) for f in fields]
        return f"{type(node).__name__}(", items, ")"
    if type(node) in (tuple, list):
        brackets = "()" if type(node) is tuple else "[]"
        return brackets[0], [(None, child) for child in node], brackets[1]
    if isinstance(node, dict):
        return "{", [(None, _Keyed(key, child)) for key, child in node.items()], "}"
    return None


class _Keyed:
    """A dict entry while it is printed."""

    def __init__(self, key: Any, value: Any) -> None:
        self.key, self.value = key, value


def _leaf(value: Any) -> str:
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or dtype is None or isinstance(value, jax.core.Tracer):
        return repr(value)
    size = int(np.prod(shape))
    if shape == ():
        try:
            return _scalar(np.asarray(value))
        except Exception:  # an abstract value (jax.eval_shape)
            return f"{dtype}[]"
    if size > _SMALL or not hasattr(value, "__array__"):
        return f"{dtype}[{','.join(map(str, shape))}]"
    return repr(value)


def _scalar(value: np.ndarray) -> str:
    number = value.item()
    return f"{number:.6g}" if isinstance(number, float) else str(number)
