"""Registry entries for the sign and step-size rules: signSGD, Signum, Rprop, Fromage, Polyak SGD,
optimistic gradient descent, Optimistic Adam (both interfaces) and distance over gradients (DoG).

Polyak SGD needs the loss at the current params (``update(..., value=loss)``). The shared
problems give only gradients, so ``problem_losses.loss_value`` computes it from the problem the
params come from (see there).

Optax's scale_by_distance_over_gradients returns updates of shape (1,) for scalar params and
broadcasts (1,) against every leaf, which the harness's strict rank promotion refuses, so the
DoG entries are checked against a NumPy transcription of layer-wise DoG (below); the comparison
with Optax itself is in tests/transforms/test_distance.py.
"""
from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import optax
from problem_losses import loss_value
from reference import Reference
from registry import PER_LEAF, Entry

import gradxform as gx

# --- A NumPy transcription of layer-wise DoG ------------------------------------------------


def make_ldog(reps_rel=1e-6, eps=1e-8, global_scale=1.0):
    """Ivgi, Hinder & Carmon 2023, layer-wise DoG (Section 4), as Optax writes it.

    Per leaf: r_0 = reps_rel (1 + |x_0|), r_t = max(r_(t-1), |x_t - x_0|), G_t = G_(t-1) + |g_t|^2,
    u_t = global_scale r_t / sqrt(G_t + eps) g_t.
    """

    def init(params):
        return {
            "x0": {k: v.copy() for k, v in params.items()},
            "r": {k: reps_rel * (1 + np.linalg.norm(v)) for k, v in params.items()},
            "G": {k: 0.0 for k in params},
        }

    def update(grads, state, params):
        r = {k: max(state["r"][k], np.linalg.norm(params[k] - state["x0"][k])) for k in grads}
        G = {k: state["G"][k] + np.sum(g * g) for k, g in grads.items()}
        out = {k: global_scale * r[k] / np.sqrt(G[k] + eps) * g for k, g in grads.items()}
        return out, {"x0": state["x0"], "r": r, "G": G}

    return Reference(init, update)


def _decaying_rate(step):
    """A learning-rate schedule computed alike for both libraries (their own schedules round
    differently: Optax's linear_schedule is float32 even under x64). In float64 under x64, since
    Fromage's 1/sqrt(1 + lr^2) - 1 loses most of a float32's digits to cancellation."""
    return 0.1 / (1.0 + 0.05 * jnp.asarray(step, jnp.result_type(float)))


def _deprecated(build):
    """Optax's ``optimistic_adam`` warns that it is deprecated; the reference is built quietly."""
    def make(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return build(*args, **kwargs)
    return make


ENTRIES: list[Entry] = [
    Entry("sign_sgd", lambda: gx.sign_sgd(1e-2), optax_reference=lambda: optax.sign_sgd(1e-2)),
    Entry("signum", lambda: gx.signum(1e-2), optax_reference=lambda: optax.signum(1e-2)),
    Entry(
        "signum_beta",
        lambda: gx.signum(3e-3, beta=0.5, accumulator_dtype=jnp.float32),
        optax_reference=lambda: optax.signum(3e-3, beta=0.5, accumulator_dtype=jnp.float32),
        supports_complex=False,  # a float32 accumulator would drop the imaginary part
        updates_at_least=jnp.float32,  # the sign of the float32 momentum, as Optax's
    ),
    Entry("rprop", lambda: gx.rprop(1e-1), optax_reference=lambda: optax.rprop(1e-1), supports_complex=False),
    Entry(
        "rprop_kwargs",
        lambda: gx.rprop(3e-2, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.2),
        optax_reference=lambda: optax.rprop(
            3e-2, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.2
        ),
        supports_complex=False,
    ),
    Entry(
        "fromage", lambda: gx.fromage(5e-3), optax_reference=lambda: optax.fromage(5e-3), flat_rejection=PER_LEAF
    ),
    Entry(
        "fromage_min_norm_schedule",
        lambda: gx.fromage(_decaying_rate, min_norm=1e-2),
        optax_reference=lambda: optax.fromage(_decaying_rate, min_norm=1e-2),
        flat_rejection=PER_LEAF,
    ),
    # With the defaults (eps=0, a step of up to 1), Polyak steps on the quadratic amplify rounding
    # ~1e4-fold in 20 steps (Optax's float32 run leaves its float64 run by 2e-2), beyond the
    # float32 comparison's tolerance; eps=1 damps that. The defaults are compared with Optax,
    # bit for bit, in tests/aliases/test_step_size_rules.py.
    Entry(
        "polyak_sgd_eps",
        lambda: gx.polyak_sgd(eps=1.0),
        optax_reference=lambda: optax.polyak_sgd(eps=1.0),
        needs_extra_args=loss_value,
        global_reduction=True,
        # Only because test_properties' complex tree mixes complex64 and complex128 leaves: the
        # step size sums |g|^2 over both, so complex64 rounding reaches the complex128 leaf beyond
        # its 1e-10 tolerance (as for L-BFGS). polyak_sgd_plus, whose step is capped here, and
        # tests/transforms/test_polyak.py check complex params.
        supports_complex=False,
    ),
    Entry(
        "polyak_sgd_plus",
        lambda: gx.polyak_sgd(max_learning_rate=0.3, scaling=0.5, f_min=0.2, eps=1e-3, variant="sps+"),
        optax_reference=lambda: optax.polyak_sgd(
            max_learning_rate=0.3, scaling=0.5, f_min=0.2, eps=1e-3, variant="sps+"
        ),
        needs_extra_args=loss_value,
        global_reduction=True,
    ),
    Entry(
        "optimistic_gradient_descent",
        lambda: gx.optimistic_gradient_descent(1e-3),
        optax_reference=lambda: optax.optimistic_gradient_descent(1e-3),
    ),
    Entry(
        "optimistic_gradient_descent_kwargs",
        lambda: gx.optimistic_gradient_descent(2e-3, alpha=0.5, beta=0.25),
        optax_reference=lambda: optax.optimistic_gradient_descent(2e-3, alpha=0.5, beta=0.25),
    ),
    Entry(
        "optimistic_adam",
        lambda: gx.optimistic_adam(2e-3),
        optax_reference=lambda: _deprecated(optax.optimistic_adam)(2e-3),
    ),
    Entry(
        "optimistic_adam_kwargs",
        lambda: gx.optimistic_adam(3e-3, optimism=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False),
        optax_reference=lambda: _deprecated(optax.optimistic_adam)(
            3e-3, optimism=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
        ),
    ),
    Entry(
        "optimistic_adam_v2",
        lambda: gx.optimistic_adam_v2(2e-3),
        optax_reference=lambda: optax.optimistic_adam_v2(2e-3),
    ),
    Entry(
        "optimistic_adam_v2_kwargs",
        lambda: gx.optimistic_adam_v2(
            1e-2, alpha=0.5, beta=0.2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
        ),
        optax_reference=lambda: optax.optimistic_adam_v2(
            1e-2, alpha=0.5, beta=0.2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
        ),
    ),
    # param_dtype=None keeps the initial params in float64 beside the float64 reference: stored
    # in float32 (the default), their rounding would be a sizeable part of the first distances.
    Entry(
        "distance_over_gradients",
        lambda: gx.scale_by_distance_over_gradients(reps_rel=1e-4, param_dtype=None, global_scale=-1.0),
        numpy_reference=lambda: make_ldog(reps_rel=1e-4, global_scale=-1.0),
        flat_rejection=PER_LEAF,
        supports_complex=False,
    ),
    Entry(
        "distance_over_gradients_kwargs",
        lambda: gx.scale_by_distance_over_gradients(reps_rel=1e-3, eps=1e-4, param_dtype=None, global_scale=-0.5),
        numpy_reference=lambda: make_ldog(reps_rel=1e-3, eps=1e-4, global_scale=-0.5),
        flat_rejection=PER_LEAF,
        supports_complex=False,
    ),
]
