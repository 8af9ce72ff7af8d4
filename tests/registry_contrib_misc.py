"""Registry entries for GaLore, DP-SGD and normalize (against ``optax.contrib``), PyTorch's Rprop
and ASGD, sparse updates (SparseAdam, masked RMSprop) and L1 regularization (against NumPy
transcriptions in tests/reference_contrib_misc.py).

DP-SGD takes per-example gradients: its entries put a batch of three scaled copies of each
gradient in front of it (``_per_example``), in both libraries alike. Its noise is small (a standard
deviation of 2e-3) so that the float32 run, whose noise is drawn in float32, stays within float32
tolerance of Optax's float64 run; the same key draws the same noise in both libraries (checked
bit for bit in tests/transforms/test_privacy.py).
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import optax
from optax import contrib
from reference_contrib_misc import (
    make_adam_l1,
    make_ista,
    make_masked_rmsprop,
    make_sparse_adam,
    make_torch_asgd,
    make_torch_rprop,
)
from registry import PER_LEAF, PER_LEAF_NOISE, Entry

import gradxform as gx

_EXAMPLE_WEIGHTS = (1.5, -0.5, 3.0)  # the batch: three copies of the gradient, scaled


def _per_example() -> gx.GradientTransformation:
    """Each gradient as a batch of per-example gradients on axis 0 (no state)."""

    def update(updates, state, params=None):
        weights = jnp.asarray(_EXAMPLE_WEIGHTS)
        batch = jax.tree.map(lambda g: weights.astype(g.dtype).reshape((-1,) + (1,) * g.ndim) * g[None], updates)
        return batch, state

    return gx.GradientTransformation(lambda params: gx.EmptyState(), update)


def _optax_dpsgd(*args, **kwargs):
    with warnings.catch_warnings():  # Optax 0.2.8's dpsgd passes the deprecated seed= itself
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.chain(_per_example(), contrib.dpsgd(*args, **kwargs))


def _sparse_adam_eps(eps, b2):
    """SparseAdam adds eps to sqrt(v) before the bias correction: Adam's eps at step s."""
    return lambda step: eps / jnp.sqrt(1 - b2 ** (jnp.asarray(step, jnp.result_type(float)) + 1))


ENTRIES: list[Entry] = [
    Entry(
        "galore",
        lambda: gx.galore(1e-2, rank=1, update_proj_gap=3),
        optax_reference=lambda: contrib.galore(1e-2, rank=1, update_proj_gap=3),
        supports_complex=False,  # the projector comes from a real SVD
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "galore_transposed_decayed",
        lambda: gx.galore(
            1e-2, rank=1, update_proj_gap=1, scale=0.5, base_optimizer=gx.scale_by_adam(b1=0.8),
            weight_decay=1e-2, weight_dimension_numbers=gx.GaLoreDimensionNumbers(1, 0),
        ),
        optax_reference=lambda: contrib.galore(
            1e-2, rank=1, update_proj_gap=1, scale=0.5, base_optimizer=optax.scale_by_adam(b1=0.8),
            weight_decay=1e-2, weight_dimension_numbers=contrib.GaLoreDimensionNumbers(1, 0),
        ),
        supports_complex=False,  # the projector comes from a real SVD
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "normalize",
        lambda: gx.chain(gx.normalize(), gx.scale(-1e-2)),
        optax_reference=lambda: optax.chain(contrib.normalize(), optax.scale(-1e-2)),
        global_reduction=True,
    ),
    Entry(
        "dpsgd",
        lambda: gx.chain(_per_example(), gx.dpsgd(1e-2, l2_norm_clip=1.0, noise_multiplier=2e-3, seed=3)),
        optax_reference=lambda: _optax_dpsgd(1e-2, l2_norm_clip=1.0, noise_multiplier=2e-3, seed=3),
        draws_noise=True,
        flat_rejection=PER_LEAF_NOISE,
    ),
    Entry(
        "dpsgd_nesterov",
        lambda: gx.chain(_per_example(), gx.dpsgd(
            1e-3, l2_norm_clip=0.5, noise_multiplier=4e-3, seed=7, momentum=0.9, nesterov=True)),
        optax_reference=lambda: _optax_dpsgd(
            1e-3, l2_norm_clip=0.5, noise_multiplier=4e-3, seed=7, momentum=0.9, nesterov=True),
        draws_noise=True,
        flat_rejection=PER_LEAF_NOISE,
    ),
    Entry(
        "torch_rprop",
        lambda: gx.torch_rprop(1e-2),
        numpy_reference=lambda: make_torch_rprop(1e-2),
        supports_complex=False,  # signs are compared
    ),
    Entry(
        "torch_rprop_clipped_start",
        lambda: gx.torch_rprop(0.1, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05)),
        numpy_reference=lambda: make_torch_rprop(0.1, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05)),
        supports_complex=False,  # signs are compared
    ),
    Entry(
        "asgd",
        lambda: gx.asgd(1e-3, lambd=1e-1, t0=5, weight_decay=1e-2),
        numpy_reference=lambda: make_torch_asgd(1e-3, lambd=1e-1, t0=5, weight_decay=1e-2),
    ),
    Entry(
        "sparse_adam_rows",
        lambda: gx.sparse(gx.adam(1e-2, eps=_sparse_adam_eps(1e-3, 0.999)), rows=True,
                          lazy_moments=True),
        numpy_reference=lambda: make_sparse_adam(1e-2, eps=1e-3),
        flat_rejection=PER_LEAF,  # one indicator per row
    ),
    Entry(
        "sparse_rmsprop_lazy",
        lambda: gx.sparse(gx.rmsprop(1e-2, decay=0.99, eps=1e-3, eps_in_sqrt=False), lazy_moments=True),
        numpy_reference=lambda: make_masked_rmsprop(1e-2, decay=0.99, eps=1e-3),
    ),
    Entry(
        "ista_soft_threshold",
        lambda: gx.chain(gx.sgd(1e-3), gx.soft_threshold(0.5, learning_rate=1e-3)),
        numpy_reference=lambda: make_ista(1e-3, 0.5),
    ),
    Entry(
        "adam_l1_subgradient",
        lambda: gx.chain(gx.add_l1_subgradient(0.1), gx.adam(1e-2)),
        numpy_reference=lambda: make_adam_l1(1e-2, 0.1),
    ),
]
