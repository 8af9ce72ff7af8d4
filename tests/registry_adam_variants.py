"""Registry entries for Adam's variants: AdaBelief, Yogi, Adan, NovoGrad, and AdaMaxW.

Each is checked against Optax's same-named optimizer, with its defaults and with other
arguments. NovoGrad keeps one squared norm per leaf, so gx.flatten rejects it as per-leaf; the
entries with a weight-decay mask are rejected as masked.
"""
from __future__ import annotations

import jax
import optax
from registry import MASKED, PER_LEAF, Entry

import gradxform as gx


def _decay_matrices(params):
    """A weight-decay mask sparing every leaf of rank < 2 (biases, scalars, norm scales)."""
    return jax.tree.map(lambda v: v.ndim > 1, params)


ENTRIES: list[Entry] = [
    Entry("adabelief", lambda: gx.adabelief(1e-2), optax_reference=lambda: optax.adabelief(1e-2)),
    Entry(
        "adabelief_nesterov_kwargs",
        lambda: gx.adabelief(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, nesterov=True),
        optax_reference=lambda: optax.adabelief(
            3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, nesterov=True
        ),
    ),
    # Yogi starts both moments at the real 1e-6 (as Optax does), which a rotation of complex
    # gradients does not rotate: its first steps are not equivariant to the phase.
    Entry(
        "yogi", lambda: gx.yogi(1e-2), optax_reference=lambda: optax.yogi(1e-2),
        supports_complex=False,
    ),
    Entry(
        "yogi_kwargs",
        lambda: gx.yogi(3e-3, b1=0.8, b2=0.99, eps=1e-4),
        optax_reference=lambda: optax.yogi(3e-3, b1=0.8, b2=0.99, eps=1e-4),
        supports_complex=False,
    ),
    Entry("adan", lambda: gx.adan(1e-2), optax_reference=lambda: optax.adan(1e-2)),
    Entry(
        "adan_masked_decay",
        lambda: gx.adan(
            3e-3, b1=0.9, b2=0.8, b3=0.95, eps=1e-6, eps_root=1e-10, weight_decay=1e-2,
            mask=_decay_matrices,
        ),
        optax_reference=lambda: optax.adan(
            3e-3, b1=0.9, b2=0.8, b3=0.95, eps=1e-6, eps_root=1e-10, weight_decay=1e-2,
            mask=_decay_matrices,
        ),
        flat_rejection=MASKED,
    ),
    Entry(
        "novograd", lambda: gx.novograd(1e-2), optax_reference=lambda: optax.novograd(1e-2),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "novograd_decayed",
        lambda: gx.novograd(3e-3, b1=0.8, b2=0.5, eps=1e-8, eps_root=1e-10, weight_decay=1e-2),
        optax_reference=lambda: optax.novograd(
            3e-3, b1=0.8, b2=0.5, eps=1e-8, eps_root=1e-10, weight_decay=1e-2
        ),
        flat_rejection=PER_LEAF,
    ),
    Entry("adamaxw", lambda: gx.adamaxw(1e-2), optax_reference=lambda: optax.adamaxw(1e-2)),
    Entry(
        "adamaxw_masked",
        lambda: gx.adamaxw(3e-3, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1, mask=_decay_matrices),
        optax_reference=lambda: optax.adamaxw(
            3e-3, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1, mask=_decay_matrices
        ),
        flat_rejection=MASKED,
    ),
]
