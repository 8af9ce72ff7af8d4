"""normalize_by_update_norm against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params

import gradxform as gx


def test_signature_is_optaxs():
    ours = inspect.signature(gx.normalize_by_update_norm).parameters.values()
    theirs = inspect.signature(optax.normalize_by_update_norm).parameters.values()
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", [{}, {"scale_factor": -0.1}, {"scale_factor": 2.0, "eps": 1e-3}])
def test_matches_optax_bit_for_bit(dtype, kwargs):
    params = nested_params(dtype)
    for g in gradient_sequence(params, 3):
        ours, _ = gx.normalize_by_update_norm(**kwargs).update(
            g, gx.normalize_by_update_norm(**kwargs).init(params))
        theirs, _ = optax.normalize_by_update_norm(**kwargs).update(g, optax.EmptyState())
        assert_trees_equal(ours, theirs)


def test_normalized_descent_in_a_chain_matches_optax_for_twenty_float32_steps():
    # Jitted, Optax's scale_factor and eps are constants that XLA folds into the division (it
    # multiplies by a reciprocal, which even makes Optax's jitted result differ from its eager
    # one); ours are values in the state, divided as written. So: within 2 ulp under jit, and
    # bit for bit eagerly (test_matches_optax_bit_for_bit).
    params = nested_params(jnp.float32)
    ours = gx.chain(gx.clip(2.0), gx.normalize_by_update_norm(scale_factor=-0.05))
    theirs = optax.chain(optax.clip(2.0), optax.normalize_by_update_norm(scale_factor=-0.05))
    mixed = optax.chain(optax.clip(2.0), gx.normalize_by_update_norm(scale_factor=-0.05))
    s_ours, s_theirs, s_mixed = ours.init(params), theirs.init(params), mixed.init(params)
    update = jax.jit(ours.update)
    for g in gradient_sequence(params, 20):
        u_ours, s_ours = update(g, s_ours, params)
        u_theirs, s_theirs = jax.jit(theirs.update)(g, s_theirs, params)
        u_mixed, s_mixed = mixed.update(g, s_mixed, params)
        for a, b in zip(jax.tree.leaves(u_ours), jax.tree.leaves(u_theirs)):
            np.testing.assert_array_max_ulp(np.asarray(a), np.asarray(b), maxulp=2)
        np.testing.assert_allclose(float(gx.global_norm(u_mixed)), 0.05, rtol=1e-4)


def test_the_output_has_norm_scale_factor():
    updates, _ = gx.normalize_by_update_norm(3.0, eps=0.0).update(
        {"a": jnp.array([3.0, 4.0])}, gx.normalize_by_update_norm(3.0, eps=0.0).init(None))
    np.testing.assert_allclose(np.asarray(updates["a"]), [1.8, 2.4], rtol=1e-6)


def test_scale_factor_can_be_a_schedule_and_is_a_hyperparameter():
    opt = gx.normalize_by_update_norm(scale_factor=lambda step: -1.0 / (step.astype(jnp.float64) + 1), eps=0.0)
    state = opt.init(jnp.zeros(2))
    norms = []
    for _ in range(3):
        u, state = opt.update(jnp.array([3.0, 4.0]), state)
        norms.append(float(jnp.linalg.norm(u)))
    np.testing.assert_allclose(norms, [1.0, 0.5, 1 / 3], rtol=1e-6)
    assert set(gx.hyperparams(gx.normalize_by_update_norm().init(jnp.zeros(2)))) == {"scale_factor", "eps"}


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="normalize_by_update_norm: scale_factor must be a finite number other than 0"):
        gx.normalize_by_update_norm(scale_factor=0.0)
    with pytest.raises(ValueError, match="normalize_by_update_norm: eps must be a finite number >= 0"):
        gx.normalize_by_update_norm(eps=-1.0)
    with pytest.raises(TypeError, match="normalize_by_update_norm: scale_factor must be a number"):
        gx.normalize_by_update_norm(scale_factor="big")
