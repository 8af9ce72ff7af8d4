"""Registry entries for Optax's names of gradxform primitives: trace, ema, add_decayed_weights.

Each is a transformation, not an optimizer, so each entry scales it by a small negative step
(``scale(-lr)``) to descend, in both libraries.
"""
from __future__ import annotations

import jax
import optax
from registry import MASKED, Entry

import gradxform as gx

LR = 1e-3  # small enough that momentum 0.9 stays stable on Rosenbrock


def _matrices(params):
    """A mask: True on leaves of rank >= 2 (spares biases and scalars)."""
    return jax.tree.map(lambda leaf: leaf.ndim > 1, params)


def _pair(name, make, **entry):
    """An entry chaining ``make(library)`` with ``scale(-LR)`` in gradxform and in Optax."""
    return Entry(name, lambda: gx.chain(make(gx), gx.scale(-LR)),
                 optax_reference=lambda: optax.chain(make(optax), optax.scale(-LR)), **entry)


ENTRIES = [
    _pair("trace", lambda lib: lib.trace(0.9)),
    _pair("trace_nesterov", lambda lib: lib.trace(0.8, nesterov=True)),
    _pair("ema", lambda lib: lib.ema(0.9)),
    _pair("ema_no_debias", lambda lib: lib.ema(0.7, debias=False)),
    _pair("add_decayed_weights", lambda lib: lib.add_decayed_weights(0.1)),
    _pair("add_decayed_weights_masked", lambda lib: lib.add_decayed_weights(0.1, mask=_matrices),
          flat_rejection=MASKED),
    _pair("add_decayed_weights_schedule",
          lambda lib: lib.add_decayed_weights(lib.linear_schedule(0.2, 0.02, 50))),
]
