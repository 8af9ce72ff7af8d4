"""Registry entries for schedule-free learning: ``schedule_free_sgd``, ``schedule_free_adamw`` and
the ``schedule_free`` wrapper, each against ``optax.contrib``'s same-named function.

The harness compares the params, which are the interpolated points y; the averages x that
``schedule_free_eval_params`` returns are compared in tests/wrappers/test_schedule_free.py.
No entry uses ``warmup_steps`` here: under x64 Optax's warmup schedule evaluated at its int32
count is float32 while gradxform's is float64, which moves float64 trajectories by ~1e-5
relative; warmup is compared in float32 (states and eval params bit for bit) in
tests/aliases/test_schedule_free_family.py.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax
import optax.contrib
from registry import Entry

import gradxform as gx


def _rising_rate(step):
    """A learning-rate schedule computed alike for both libraries (in the default float dtype)."""
    t = jnp.asarray(step, jnp.result_type(float))
    return 1e-3 * jnp.minimum(1.0, (t + 1.0) / 8.0)


ENTRIES: list[Entry] = [
    Entry(
        "schedule_free_sgd",
        lambda: gx.schedule_free_sgd(1e-3),
        optax_reference=lambda: optax.contrib.schedule_free_sgd(1e-3),
        supports_complex=False,
    ),
    Entry(
        "schedule_free_sgd_weight_decay",
        lambda: gx.schedule_free_sgd(2e-3, b1=0.8, weight_decay=1e-2, weight_lr_power=1.0),
        optax_reference=lambda: optax.contrib.schedule_free_sgd(
            2e-3, b1=0.8, weight_decay=1e-2, weight_lr_power=1.0
        ),
        supports_complex=False,
    ),
    Entry(
        "schedule_free_adamw",
        lambda: gx.schedule_free_adamw(1e-2),
        optax_reference=lambda: optax.contrib.schedule_free_adamw(1e-2),
        supports_complex=False,
    ),
    Entry(
        "schedule_free_adamw_weight_decay",
        lambda: gx.schedule_free_adamw(
            3e-3, b1=0.95, b2=0.99, eps=1e-6, weight_decay=1e-2, weight_lr_power=1.5
        ),
        optax_reference=lambda: optax.contrib.schedule_free_adamw(
            3e-3, b1=0.95, b2=0.99, eps=1e-6, weight_decay=1e-2, weight_lr_power=1.5
        ),
        supports_complex=False,
    ),
    Entry(
        "schedule_free_scheduled_sgd",
        lambda: gx.schedule_free(gx.sgd(_rising_rate), _rising_rate, b1=0.9),
        optax_reference=lambda: optax.contrib.schedule_free(
            optax.sgd(_rising_rate), _rising_rate, b1=0.9
        ),
        supports_complex=False,
    ),
]
