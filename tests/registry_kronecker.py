"""Registry entries for the Kronecker family: Shampoo and SOAP, against NumPy transcriptions of
their papers (reference_kronecker.py); neither is in Optax.

Both treat each matrix as a whole (Kronecker factors, eigendecompositions), so gx.flatten
rejects them as per-leaf, and their factors are real symmetric matrices (no complex rule). The
registry's problems hold a (3, 2) matrix beside a scalar and a vector: the matrix is
preconditioned, the others take the graft (Shampoo) or plain Adam (SOAP).
"""
from __future__ import annotations

import reference_kronecker as ref
from registry import PER_LEAF, Entry

import gradxform as gx

ENTRIES: list[Entry] = [
    Entry("shampoo", lambda: gx.shampoo(1e-2), numpy_reference=lambda: ref.make_shampoo(1e-2),
          supports_complex=False, flat_rejection=PER_LEAF),
    Entry(
        "shampoo_every_step_ungrafted",
        lambda: gx.shampoo(1e-3, eps=1e-4, precondition_frequency=1, grafting="none"),
        numpy_reference=lambda: ref.make_shampoo(1e-3, eps=1e-4, precondition_frequency=1, grafting="none"),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    # eps=1e-3: the first factors (0.1 G G^T) are singular, and with eps=1e-6 float32's round-off
    # of their zero eigenvalue (~1e-7) changes (lambda + eps)^(-1/4) by ~10%: the float32 run
    # would then leave float32's tolerance of the float64 reference (float64 matches to 1e-15).
    Entry(
        "shampoo_ema_rmsprop_graft",
        lambda: gx.shampoo(1e-2, beta=0.9, eps=1e-3, precondition_frequency=3, grafting="rmsprop",
                           graft_decay=0.99),
        numpy_reference=lambda: ref.make_shampoo(1e-2, beta=0.9, eps=1e-3, precondition_frequency=3,
                                                 grafting="rmsprop", graft_decay=0.99),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    Entry(  # the (3, 2) matrix's 3 rows exceed max_precond_dim: preconditioned on the right only
        "shampoo_sgd_graft_one_side",
        lambda: gx.shampoo(1e-3, grafting="sgd", max_precond_dim=2, precondition_frequency=2),
        numpy_reference=lambda: ref.make_shampoo(1e-3, grafting="sgd", max_precond_dim=2,
                                                 precondition_frequency=2),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    Entry("soap", lambda: gx.soap(1e-2), numpy_reference=lambda: ref.make_soap(1e-2),
          supports_complex=False, flat_rejection=PER_LEAF),
    Entry(
        "soap_every_step",
        lambda: gx.soap(3e-3, b1=0.9, b2=0.99, shampoo_beta=0.9, weight_decay=0.0, precondition_frequency=1),
        numpy_reference=lambda: ref.make_soap(3e-3, b1=0.9, b2=0.99, shampoo_beta=0.9, weight_decay=0.0,
                                              precondition_frequency=1),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    Entry(  # the (3, 2) matrix's 3 rows exceed max_precond_dim: rotated on the right only
        "soap_one_side",
        lambda: gx.soap(1e-2, max_precond_dim=2, precondition_frequency=4),
        numpy_reference=lambda: ref.make_soap(1e-2, max_precond_dim=2, precondition_frequency=4),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    Entry(  # the direction alone: the reference's step with learning rate -1
        "scale_by_shampoo",
        lambda: gx.scale_by_shampoo(precondition_frequency=2, grafting="rmsprop"),
        numpy_reference=lambda: ref.make_shampoo(-1.0, precondition_frequency=2, grafting="rmsprop"),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
    Entry(  # the direction alone: the reference's step with learning rate -1 and no decay
        "scale_by_soap",
        lambda: gx.scale_by_soap(b1=0.9, b2=0.99, precondition_frequency=5),
        numpy_reference=lambda: ref.make_soap(-1.0, b1=0.9, b2=0.99, weight_decay=0.0,
                                              precondition_frequency=5),
        supports_complex=False, flat_rejection=PER_LEAF,
    ),
]
