"""Registry entries for the factored family: Adafactor and SM3.

Both treat each leaf as a whole (row and column statistics, per-axis cover accumulators, the
RMS of each parameter block), so gx.flatten rejects them as per-leaf.

Optax 0.2.8's sm3 raises an IndexError on a rank-0 leaf (the quadratic problem's "b"), so the
SM3 entries are checked against a NumPy transcription of SM3-II (below); the float32 bit-for-bit
comparison with Optax's sm3, on trees without scalars, is in tests/aliases/test_factored_family.py.
"""
from __future__ import annotations

import jax
import numpy as np
import optax
from reference import Reference
from registry import PER_LEAF, Entry

import gradxform as gx


def _decay_matrices(params):
    """A weight-decay mask sparing every leaf of rank < 2."""
    return jax.tree.map(lambda v: v.ndim > 1, params)


def make_sm3(learning_rate, momentum=0.9, eps=1e-8):
    """Anil, Gupta, Koren & Singer 2019, SM3-II, with one cover set per slice of each axis.

    As Optax writes it: ``eps`` under the root, ``0/0 = 0``, and an exponential moving average
    of the scaled gradients as momentum (``momentum=None``: none). A leaf of rank < 2 is its
    own cover (Adagrad's sum of squares).
    """

    def init(params):
        covers = {k: [np.zeros(n) for n in v.shape] if v.ndim >= 2 else [np.zeros_like(v)]
                  for k, v in params.items()}
        return {"covers": covers, "m": {k: np.zeros_like(v) for k, v in params.items()}}

    def accumulate(g, covers):
        """nu(i) = g(i)^2 + min over the covers of i of mu(r); mu(r) = max over r of nu(i)."""
        if g.ndim < 2:
            nu = g * g + covers[0]
            return nu, [nu]
        smallest = covers[0].reshape([-1] + [1] * (g.ndim - 1))
        for axis in range(1, g.ndim):
            shape = [1] * g.ndim
            shape[axis] = -1
            smallest = np.minimum(smallest, covers[axis].reshape(shape))
        nu = g * g + smallest
        others = [tuple(i for i in range(g.ndim) if i != axis) for axis in range(g.ndim)]
        return nu, [nu.max(axis=o) for o in others]

    def update(grads, state, params):
        covers, m, out = {}, {}, {}
        for k, g in grads.items():
            nu, covers[k] = accumulate(g, state["covers"][k])
            scaled = np.where(nu > 0, g / np.sqrt(nu + eps), 0.0)
            m[k] = scaled if momentum is None else momentum * state["m"][k] + (1 - momentum) * scaled
            out[k] = -learning_rate * m[k]
        return out, {"covers": covers, "m": m}

    return Reference(init, update)


ENTRIES: list[Entry] = [
    Entry(
        "adafactor",
        lambda: gx.adafactor(),
        optax_reference=lambda: optax.adafactor(),
        flat_rejection=PER_LEAF,
    ),
    # The momentum is stored in the params' dtype (dtype_momentum=None): with float32 momentum
    # beside float64 params, gradxform computes the average in float64 and rounds it once,
    # where Optax first multiplies the stored momentum in float32 (4.7e-7 apart after 100 steps
    # here; test_factored_family.py checks that case against Optax to that tolerance).
    Entry(
        "adafactor_momentum_masked_decay_unfactored",
        lambda: gx.adafactor(
            1e-2, momentum=0.9, dtype_momentum=None, weight_decay_rate=1e-3,
            weight_decay_mask=_decay_matrices, factored=False,
        ),
        optax_reference=lambda: optax.adafactor(
            1e-2, momentum=0.9, dtype_momentum=None, weight_decay_rate=1e-3,
            weight_decay_mask=_decay_matrices, factored=False,
        ),
        flat_rejection=PER_LEAF,
    ),
    # The quadratic's (3, 2) matrix is factored: rows and columns of 2 entries or more. 60 steps:
    # along this unclipped trajectory a difference of rounding between the two libraries (1e-16
    # at step 29) grows about 2.2x per step (2e-13 at step 61, 3e-6 at step 78, past rtol 1e-6,
    # in the environment where this was measured: JAX 0.10.2, NumPy 2.4.6), so the trajectories
    # are compared where the formula, not the last bit, decides them.
    Entry(
        "adafactor_factored_matrix",
        lambda: gx.adafactor(3e-2, min_dim_size_to_factor=2, decay_rate=0.7, clipping_threshold=None),
        optax_reference=lambda: optax.adafactor(
            3e-2, min_dim_size_to_factor=2, decay_rate=0.7, clipping_threshold=None
        ),
        flat_rejection=PER_LEAF,
        steps=60,
    ),
    Entry(
        "sm3",
        lambda: gx.sm3(3e-2),
        numpy_reference=lambda: make_sm3(3e-2),
        supports_complex=False,
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "sm3_momentum",
        lambda: gx.sm3(1e-2, momentum=0.5),
        numpy_reference=lambda: make_sm3(1e-2, momentum=0.5),
        supports_complex=False,
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "sm3_no_momentum",
        lambda: gx.sm3(1e-2, momentum=None),
        numpy_reference=lambda: make_sm3(1e-2, momentum=None),
        supports_complex=False,
        flat_rejection=PER_LEAF,
    ),
]
