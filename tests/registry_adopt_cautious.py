"""Registry entries for ADOPT (``optax.contrib.adopt``) and cautious masking (Liang et al. 2024).

ADOPT is checked against Optax's, each with its own default ``clip_value_fn`` (Optax's
``lambda x: x**0.25`` runs under the standard promotion the harness gives Optax).

Optax has no cautious optimizer: ``gx.cautious`` is checked against a NumPy transcription of the
paper's one line (Algorithm 1) applied to AdamW's and to heavy-ball SGD's update
(tests/reference_cautious.py).
"""
from __future__ import annotations

import jax.numpy as jnp
import optax
from reference_cautious import make_cautious_adamw, make_cautious_momentum
from registry import PER_LEAF, Entry

import gradxform as gx


def _slow_bound(step):
    """A bound that binds for longer than the default: 0.5 + t/8 (0.5 on the first update)."""
    return 0.5 + jnp.asarray(step, jnp.result_type(float)) / 8


ENTRIES: list[Entry] = [
    Entry(
        "adopt",
        lambda: gx.adopt(1e-2),
        optax_reference=lambda: optax.contrib.adopt(1e-2),
        supports_complex=False,  # clipping by value orders the elements
    ),
    Entry(
        "adopt_nesterov_slow_bound",
        lambda: gx.adopt(3e-3, b1=0.8, b2=0.99, eps=1e-4, nesterov=True, clip_value_fn=_slow_bound),
        optax_reference=lambda: optax.contrib.adopt(
            3e-3, b1=0.8, b2=0.99, eps=1e-4, nesterov=True, clip_value_fn=_slow_bound
        ),
        supports_complex=False,  # clipping by value orders the elements
    ),
    Entry(
        "adopt_no_clipping",
        lambda: gx.adopt(1e-3, b2=0.999, eps=1e-3, use_clipping=False),
        optax_reference=lambda: optax.contrib.adopt(1e-3, b2=0.999, eps=1e-3, use_clipping=False),
        supports_complex=False,  # max(sqrt(v), eps) orders the elements
    ),
    Entry(
        "scale_by_adopt",
        lambda: gx.chain(gx.scale_by_adopt(b1=0.85), gx.scale(-1e-2)),
        optax_reference=lambda: optax.chain(
            optax.contrib.scale_by_adopt(b1=0.85), optax.scale(-1e-2)
        ),
        supports_complex=False,  # clipping by value orders the elements
    ),
    Entry(
        "cautious_adamw",
        lambda: gx.cautious(gx.adamw(1e-2, weight_decay=1e-2)),
        numpy_reference=lambda: make_cautious_adamw(1e-2, weight_decay=1e-2),
        supports_complex=False,  # the sign agreement of u and g orders the elements
        flat_rejection=PER_LEAF,  # the mask's mean is taken per leaf
    ),
    Entry(
        "cautious_adamw_decay_unmasked",
        lambda: gx.parallel_sum(
            (1.0, gx.cautious(gx.adam(1e-2))),
            (1.0, [gx.set_to_zero(), gx.weight_decay(1e-2), gx.scale_by_learning_rate(1e-2)]),
        ),
        numpy_reference=lambda: make_cautious_adamw(1e-2, weight_decay=1e-2, mask_decay=False),
        supports_complex=False,  # the sign agreement of u and g orders the elements
        flat_rejection=PER_LEAF,  # the mask's mean is taken per leaf
    ),
    Entry(
        "cautious_adam_paper_mask_eps",
        lambda: gx.cautious(gx.adam(3e-3, b1=0.8, b2=0.99), eps=1e-3),
        numpy_reference=lambda: make_cautious_adamw(3e-3, b1=0.8, b2=0.99, mask_eps=1e-3),
        supports_complex=False,  # the sign agreement of u and g orders the elements
        flat_rejection=PER_LEAF,  # the mask's mean is taken per leaf
    ),
    Entry(
        "cautious_sgd_momentum",
        lambda: gx.cautious(gx.sgd(1e-3, momentum=0.9)),
        numpy_reference=lambda: make_cautious_momentum(1e-3, momentum=0.9),
        supports_complex=False,  # the sign agreement of u and g orders the elements
        flat_rejection=PER_LEAF,  # the mask's mean is taken per leaf
    ),
]
