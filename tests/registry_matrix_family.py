"""Registry entries for the matrix family: Muon, against optax.contrib.muon.

Muon orthogonalizes each matrix as a whole and sends the other leaves to AdamW by their rank,
so gx.flatten rejects it as per-leaf. The registry's problems hold a (3, 2) matrix (tall:
iterated as its transpose) beside scalars and vectors, which take the AdamW path.
"""
from __future__ import annotations

import jax
from optax import contrib
from registry import PER_LEAF, Entry

import gradxform as gx


def _decay_wide(params):
    """A weight-decay mask over Muon's matrices: True for every leaf (masked nodes stay)."""
    return jax.tree.map(lambda v: True, params)


ENTRIES: list[Entry] = [
    Entry("muon", lambda: gx.muon(1e-2), optax_reference=lambda: contrib.muon(1e-2),
          flat_rejection=PER_LEAF),
    Entry(
        "muon_plain_momentum_decayed",
        lambda: gx.muon(1e-2, beta=0.9, nesterov=False, weight_decay=1e-2,
                        weight_decay_mask=_decay_wide, adam_weight_decay=1e-3),
        optax_reference=lambda: contrib.muon(1e-2, beta=0.9, nesterov=False, weight_decay=1e-2,
                                             weight_decay_mask=_decay_wide, adam_weight_decay=1e-3),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "muon_dion_consistent_rms",
        lambda: gx.muon(5e-3, ns_coeffs="dion", consistent_rms=0.2, adam_learning_rate=1e-2,
                        adam_b1=0.8, adam_b2=0.99, adam_eps_root=1e-8),
        optax_reference=lambda: contrib.muon(5e-3, ns_coeffs="dion", consistent_rms=0.2,
                                             adam_learning_rate=1e-2, adam_b1=0.8, adam_b2=0.99,
                                             adam_eps_root=1e-8),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "muon_aol_adaptive",
        lambda: gx.muon(1e-2, ns_steps=4, preconditioning="aol", adaptive=True),
        optax_reference=lambda: contrib.muon(1e-2, ns_steps=4, preconditioning="aol", adaptive=True),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "muon_spectral",
        lambda: gx.muon(1e-2, preconditioning="spectral"),
        optax_reference=lambda: contrib.muon(1e-2, preconditioning="spectral"),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "muon_schatten",
        lambda: gx.muon(1e-2, preconditioning="schatten"),
        optax_reference=lambda: contrib.muon(1e-2, preconditioning="schatten"),
        flat_rejection=PER_LEAF,
    ),
]
