"""Registry entries for the learning-rate-free optimizers of ``optax.contrib``: DoG, DoWG, COCOB,
Mechanic (``mechanize``), Prodigy and D-Adapted AdamW, each checked against Optax's same-named one.

DoG, DoWG, Mechanic, Prodigy and D-Adaptation reduce over every leaf (a distance or an inner
product of the whole tree), so a flat run adds in another order (``global_reduction``). COCOB,
Prodigy and D-Adaptation take maxima or clip real numbers: undefined for complex params. DoG,
DoWG and Mechanic are defined for complex params (norms and real inner products), but the
property test's tree puts a complex64 leaf beside a complex128 one: a whole-tree statistic
carries the complex64 leaf's rounding (rotated values are rounded to complex64) into the
complex128 leaf's update, beyond that test's 1e-10; their complex support is tested on trees of
one dtype in tests/transforms/test_distance_estimates.py and test_coin_betting.py.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from registry import MASKED, Entry

import gradxform as gx


def _not_scalars(params):
    """A mask: True where a leaf has at least one axis."""
    return jax.tree.map(lambda leaf: leaf.ndim > 0, params)


def _warmup(step):
    """A linear warmup of the learning rate from 0.1 to 1 over 10 steps, in the default float dtype
    (one function for both libraries: Prodigy's estimate amplifies any difference in its values)."""
    return jnp.minimum(0.1 + 0.09 * jnp.asarray(step, jnp.result_type(float)), 1.0)


ENTRIES: list[Entry] = [
    Entry(
        "dog",
        lambda: gx.dog(),
        optax_reference=lambda: optax.contrib.dog(),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "dog_distance_masked_decay",
        lambda: gx.dog(0.5, init_step=("distance", 1e-3), eps=1e-6, weight_decay=1e-2, mask=_not_scalars),
        optax_reference=lambda: optax.contrib.dog(
            0.5, init_step=("distance", 1e-3), eps=1e-6, weight_decay=1e-2, mask=_not_scalars
        ),
        flat_rejection=MASKED,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "dog_first_learning_rate",
        lambda: gx.dog(init_step=("learning_rate", 1e-2)),
        optax_reference=lambda: optax.contrib.dog(init_step=("learning_rate", 1e-2)),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "dowg",
        lambda: gx.dowg(),
        optax_reference=lambda: optax.contrib.dowg(),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "dowg_initial_distance_decay",
        lambda: gx.dowg(0.5, init_estim_sq_dist=1e-3, eps=1e-6, weight_decay=1e-3),
        optax_reference=lambda: optax.contrib.dowg(0.5, init_estim_sq_dist=1e-3, eps=1e-6, weight_decay=1e-3),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "cocob",
        lambda: gx.cocob(),
        optax_reference=lambda: optax.contrib.cocob(),
        supports_complex=False,  # maxima and clipping at 0 order the elements
    ),
    Entry(
        "cocob_masked_decay",
        lambda: gx.cocob(0.5, alpha=50.0, eps=1e-6, weight_decay=1e-2, mask=_not_scalars),
        optax_reference=lambda: optax.contrib.cocob(0.5, alpha=50.0, eps=1e-6, weight_decay=1e-2, mask=_not_scalars),
        supports_complex=False,  # maxima and clipping at 0 order the elements
        flat_rejection=MASKED,
    ),
    Entry(
        "mechanize_sgd",
        lambda: gx.mechanize(gx.sgd(1.0)),
        optax_reference=lambda: optax.contrib.mechanize(optax.sgd(1.0)),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    Entry(
        "mechanize_adam",
        lambda: gx.mechanize(gx.adam(1e-2), weight_decay=1e-3, eps=1e-7, s_init=1e-5, num_betas=3),
        optax_reference=lambda: optax.contrib.mechanize(
            optax.adam(1e-2), weight_decay=1e-3, eps=1e-7, s_init=1e-5, num_betas=3
        ),
        global_reduction=True,
        supports_complex=False,  # complex: see the module docstring
    ),
    # The default d_0 = 1e-6 grows ~1e5-fold in 20 steps on the quadratic, which amplifies float32's
    # rounding past the float32-vs-float64 tolerance (Optax's float32 run does the same, bit for
    # bit: tests/aliases/test_learning_rate_free.py runs the defaults against it in both dtypes).
    Entry(
        "prodigy",
        lambda: gx.prodigy(estim_lr0=1e-4),
        optax_reference=lambda: optax.contrib.prodigy(estim_lr0=1e-4),
        supports_complex=False,  # the estimate is a maximum of real numbers
        global_reduction=True,
    ),
    Entry(
        "prodigy_every_argument",
        lambda: gx.prodigy(
            0.5, betas=(0.8, 0.99), beta3=0.95, eps=1e-6, estim_lr0=1e-4, estim_lr_coef=2.0, weight_decay=1e-2
        ),
        optax_reference=lambda: optax.contrib.prodigy(
            0.5, betas=(0.8, 0.99), beta3=0.95, eps=1e-6, estim_lr0=1e-4, estim_lr_coef=2.0, weight_decay=1e-2
        ),
        supports_complex=False,  # the estimate is a maximum of real numbers
        global_reduction=True,
    ),
    Entry(
        "prodigy_safeguard_warmup",
        lambda: gx.prodigy(_warmup, estim_lr0=1e-3, safeguard_warmup=True),
        optax_reference=lambda: optax.contrib.prodigy(_warmup, estim_lr0=1e-3, safeguard_warmup=True),
        supports_complex=False,  # the estimate is a maximum of real numbers
        global_reduction=True,
    ),
    Entry(
        "dadapt_adamw",
        lambda: gx.dadapt_adamw(),
        optax_reference=lambda: optax.contrib.dadapt_adamw(),
        supports_complex=False,  # the estimate is a maximum of real numbers
        global_reduction=True,
    ),
    Entry(
        "dadapt_adamw_every_argument",
        lambda: gx.dadapt_adamw(0.5, betas=(0.8, 0.99), eps=1e-6, estim_lr0=1e-4, weight_decay=1e-2),
        optax_reference=lambda: optax.contrib.dadapt_adamw(
            0.5, betas=(0.8, 0.99), eps=1e-6, estim_lr0=1e-4, weight_decay=1e-2
        ),
        supports_complex=False,  # the estimate is a maximum of real numbers
        global_reduction=True,
    ),
]
