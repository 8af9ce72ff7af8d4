"""Every alias with the arguments it is tested with and the reference it must reproduce.

Exactly one of ``optax_reference`` (Optax's same-named optimizer, built with the same
arguments) and ``numpy_reference`` (a paper's formula from :mod:`reference`) is set. Exceptions
to cross-cutting tests are data here, never ``if``s in test bodies.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import optax

import gradxform as gx
import reference


class Entry(NamedTuple):
    name: str  # test id
    make: Callable[[], gx.GradientTransformation]
    optax_reference: Optional[Callable] = None
    numpy_reference: Optional[Callable] = None
    supports_complex: bool = True  # the math is defined for complex parameters
    needs_extra_args: Optional[Callable] = None  # (params, grads) -> dict of extra update kwargs
    steps: int = 100  # length of the float64 trajectories compared with the reference
    rtol: float = 1e-6  # relative tolerance of that comparison


REGISTRY: list[Entry] = [
    Entry("adam", lambda: gx.adam(1e-2), optax_reference=lambda: optax.adam(1e-2)),
    Entry(
        "adam_kingma_ba",
        lambda: gx.adam(3e-3, b1=0.8, b2=0.99, eps=1e-6),
        numpy_reference=lambda: reference.make_adam(3e-3, b1=0.8, b2=0.99, eps=1e-6),
    ),
]
