"""Registry entry for ``split_real_and_imaginary`` (``optax.contrib.split_real_and_imaginary``).

The registry's problems have real parameters, which the wrapper passes through: this entry checks
that the wrapper changes nothing there and keeps every property of the optimizer it wraps.
Complex parameters are checked against Optax in tests/wrappers/test_complex_split.py.
"""
from __future__ import annotations

import optax
from registry import Entry

import gradxform as gx

ENTRIES: list[Entry] = [
    Entry(
        "split_real_and_imaginary_adam",
        lambda: gx.split_real_and_imaginary(gx.adam(1e-2, b1=0.8)),
        optax_reference=lambda: optax.contrib.split_real_and_imaginary(optax.adam(1e-2, b1=0.8)),
        supports_complex=False,  # each part is its own coordinate: not rotation-equivariant
    ),
]
