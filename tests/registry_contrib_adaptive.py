"""Registry entries for optax.contrib's AdEMAMix, simplified AdEMAMix, ACProp, MADGRAD, MoMo and Sophia.

MoMo needs the loss (``value=``, from :mod:`problem_losses`); Sophia needs the objective itself
(``obj_fn=``, a differentiable JAX function wrapped in ``jax.tree_util.Partial`` so that it can
cross ``jax.jit``), recognised here from the tree's keys as :mod:`problem_losses` does.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from problem_losses import _quadratic_matrix, loss_value
from registry import MASKED, Entry

import gradxform as gx

# Why gx.flatten rejects Sophia (test_grouped checks the message).
WHOLE_TREE_COND = "combines leaves .* in one cond"


def _not_scalars(params):
    return jax.tree.map(lambda leaf: leaf.ndim > 0, params)


def _warmup(final):
    """A schedule rising from 0 to ``final`` (AdEMAMix's warm-up of alpha and b3)."""
    return lambda step: final * jnp.minimum(jnp.asarray(step, jnp.result_type(float)) / 50.0, 1.0)


def _quadratic(params):
    w = params["w"].reshape(-1)
    return 0.5 * w @ jnp.asarray(_quadratic_matrix(), w.dtype) @ w + 1.5 * (params["b"] - 1.0) ** 2


def _rosenbrock(params):
    x, y = params["xy"][0], params["xy"][1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _quartic(params):
    """Any other tree: a loss whose Hessian diagonal, 1 + 3 x^2, changes with the params."""
    total = jnp.zeros([], jnp.result_type(float))  # float64 under x64: any mix of leaf dtypes
    for x in jax.tree.leaves(params):
        total = total + jnp.sum(0.5 * x * x + 0.25 * x**4).astype(total.dtype)
    return total


_OBJECTIVES = {"quadratic": jax.tree_util.Partial(_quadratic), "rosenbrock": jax.tree_util.Partial(_rosenbrock),
               "quartic": jax.tree_util.Partial(_quartic)}


def objective(params, grads):
    """``{"obj_fn": the problem's loss}`` for Sophia's Hessian estimate (one object per problem,
    so that jitted steps do not recompile)."""
    if isinstance(params, dict) and set(params) == {"w", "b"} and jnp.shape(params["w"]) == (3, 2):
        return {"obj_fn": _OBJECTIVES["quadratic"]}
    if isinstance(params, dict) and set(params) == {"xy"}:
        return {"obj_fn": _OBJECTIVES["rosenbrock"]}
    return {"obj_fn": _OBJECTIVES["quartic"]}


ENTRIES: list[Entry] = [
    Entry("ademamix", lambda: gx.ademamix(1e-2), optax_reference=lambda: optax.contrib.ademamix(1e-2)),
    Entry(
        "ademamix_scheduled_masked",
        lambda: gx.ademamix(3e-3, b1=0.8, b2=0.99, b3=_warmup(0.999), alpha=_warmup(8.0), eps=1e-6,
                            eps_root=1e-9, weight_decay=0.1, mask=_not_scalars),
        optax_reference=lambda: optax.contrib.ademamix(
            3e-3, b1=0.8, b2=0.99, b3=_warmup(0.999), alpha=_warmup(8.0), eps=1e-6, eps_root=1e-9,
            weight_decay=0.1, mask=_not_scalars),
        flat_rejection=MASKED,
    ),
    Entry(
        "simplified_ademamix",
        lambda: gx.simplified_ademamix(1e-3),
        optax_reference=lambda: optax.contrib.simplified_ademamix(1e-3),
        supports_complex=False,  # Optax's second moment is g * g, not |g|^2, for complex g
    ),
    Entry(
        "simplified_ademamix_kwargs",
        lambda: gx.simplified_ademamix(1e-3, b1=0.9, b2=0.99, alpha=_warmup(2.0), eps=1e-6, eps_root=1e-9,
                                       weight_decay=0.1),
        optax_reference=lambda: optax.contrib.simplified_ademamix(
            1e-3, b1=0.9, b2=0.99, alpha=_warmup(2.0), eps=1e-6, eps_root=1e-9, weight_decay=0.1),
        supports_complex=False,
    ),
    Entry("acprop", lambda: gx.acprop(1e-2), optax_reference=lambda: optax.contrib.acprop(1e-2)),
    Entry(
        "acprop_kwargs_masked",
        lambda: gx.acprop(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, weight_decay=0.1, mask=_not_scalars),
        optax_reference=lambda: optax.contrib.acprop(
            3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, weight_decay=0.1, mask=_not_scalars),
        flat_rejection=MASKED,
    ),
    # MADGRAD's cube root of a sum of squares is real: Optax squares complex gradients as g**2.
    Entry("madgrad", lambda: gx.madgrad(1e-2), optax_reference=lambda: optax.contrib.madgrad(1e-2),
          supports_complex=False),
    # Optax computes the weight lambda_t in float32 even for float64 params (the square root of
    # its int32 step count is float32); gradxform in the params' dtype. With this larger
    # learning rate the ~6e-8 relative difference per weight reaches ~1e-5 on Rosenbrock in 100
    # steps (the defaults above stay within 1e-7). Float32 runs agree bit for bit
    # (tests/aliases/test_contrib_adaptive.py).
    Entry(
        "madgrad_kwargs",
        lambda: gx.madgrad(3e-2, momentum=0.5, weight_decay=1e-2, eps=1e-4),
        optax_reference=lambda: optax.contrib.madgrad(3e-2, momentum=0.5, weight_decay=1e-2, eps=1e-4),
        supports_complex=False,
        rtol=3e-5,
    ),
    # MoMo's step size sums over every leaf; the loss is a real number (no complex params). Where
    # the model's step is below the learning rate, it is a ratio of differences of nearly equal
    # sums, which turns the other order of a flat layout's float32 sums into differences beyond
    # test_grouped's 1e-6 (momo() with its learning rate of 1: 4e-6; momo_adam with an adaptive
    # bound: up to 2e-3). These entries keep the step at or near the cap; the defaults and the
    # adaptive bound of both are compared with Optax bit for bit in float32 on both problems in
    # tests/aliases/test_contrib_adaptive.py.
    Entry("momo", lambda: gx.momo(0.1), optax_reference=lambda: optax.contrib.momo(0.1),
          needs_extra_args=loss_value, global_reduction=True, supports_complex=False),
    Entry(
        "momo_adaptive_bound",
        lambda: gx.momo(0.1, beta=0.8, lower_bound=-1.0, weight_decay=1e-2, adapt_lower_bound=True),
        optax_reference=lambda: optax.contrib.momo(
            0.1, beta=0.8, lower_bound=-1.0, weight_decay=1e-2, adapt_lower_bound=True),
        needs_extra_args=loss_value, global_reduction=True, supports_complex=False,
    ),
    Entry("momo_adam", lambda: gx.momo_adam(), optax_reference=lambda: optax.contrib.momo_adam(),
          needs_extra_args=loss_value, global_reduction=True, supports_complex=False),
    Entry(
        "momo_adam_kwargs",
        lambda: gx.momo_adam(0.1, b1=0.8, b2=0.99, eps=1e-6, lower_bound=-1.0, weight_decay=1e-2),
        optax_reference=lambda: optax.contrib.momo_adam(
            0.1, b1=0.8, b2=0.99, eps=1e-6, lower_bound=-1.0, weight_decay=1e-2),
        needs_extra_args=loss_value, global_reduction=True, supports_complex=False,
    ),
    # Sophia refreshes its Hessian mean in a lax.cond over the whole tree, and its objective couples
    # the leaves: gx.flatten rejects it (when given obj_fn). The objective is real.
    Entry("sophia", lambda: gx.sophia(1e-2), optax_reference=lambda: optax.contrib.sophia(1e-2),
          needs_extra_args=objective, supports_complex=False, draws_noise=True,
          flat_rejection=WHOLE_TREE_COND),
    Entry(
        "sophia_kwargs",
        lambda: gx.sophia(
            3e-2, b1=0.9, b2=0.9, eps=1e-6, weight_decay=1e-2, gamma=0.05, clip_threshold=0.5,
            update_interval=3, hessian_diagonal_fn=gx.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(5))),
        optax_reference=lambda: optax.contrib.sophia(
            3e-2, b1=0.9, b2=0.9, eps=1e-6, weight_decay=1e-2, gamma=0.05, clip_threshold=0.5,
            update_interval=3,
            hessian_diagonal_fn=optax.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(5))),
        needs_extra_args=objective, supports_complex=False, draws_noise=True,
        flat_rejection=WHOLE_TREE_COND,
    ),
]
