"""split_real_and_imaginary (gradxform/wrappers/complex_split.py) against optax.contrib's."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"z": jnp.array([1 + 2j, 3 - 1j, -0.5j], jnp.complex64), "r": jnp.array([1.0, -2.0], jnp.float32)}


def _gradients(params, t):
    return jax.tree.map(lambda p: jnp.sin(p * (t + 1)) + 0.1 * p, params)


def _run(opt, apply_updates, steps=20):
    params, state = PARAMS, opt.init(PARAMS)
    for t in range(steps):
        updates, state = opt.update(_gradients(params, t), state, params)
        params = apply_updates(params, updates)
    return params


@pytest.mark.parametrize("inner", ["adam", "sgd"])
def test_complex_params_follow_optax_bit_for_bit_in_float32(inner):
    ours = gx.split_real_and_imaginary(gx.adam(1e-2) if inner == "adam" else gx.sgd(1e-2, momentum=0.9))
    theirs = optax.contrib.split_real_and_imaginary(
        optax.adam(1e-2) if inner == "adam" else optax.sgd(1e-2, momentum=0.9))
    a = _run(ours, gx.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        b = _run(theirs, optax.apply_updates)
    for key in PARAMS:
        assert a[key].dtype == PARAMS[key].dtype
        np.testing.assert_array_equal(a[key], b[key])


def test_each_part_is_its_own_coordinate():
    """Adam on the split parameter keeps g_x^2 and g_y^2 apart: its first step is -lr * sign of
    each part, where Adam on the complex leaf steps along the gradient's phase."""
    z = jnp.array([1 + 1j], jnp.complex64)
    g = jnp.array([2.0 - 0.5j], jnp.complex64)
    split = gx.split_real_and_imaginary(gx.adam(0.1))
    u, _ = split.update(g, split.init(z), z)
    np.testing.assert_allclose(u, [-0.1 + 0.1j], rtol=1e-5)
    whole = gx.adam(0.1)
    v, _ = whole.update(g, whole.init(z), z)
    np.testing.assert_allclose(v, -0.1 * np.asarray(g) / np.abs(np.asarray(g)), rtol=1e-5)


def test_the_wrapper_shows_in_the_recipe_and_jits():
    opt = gx.split_real_and_imaginary(gx.adam(1e-2))
    assert repr(opt).startswith("split_real_and_imaginary(")
    state = opt.init(PARAMS)
    updates, _ = jax.jit(opt.update)(_gradients(PARAMS, 0), state, PARAMS)
    assert updates["z"].dtype == jnp.complex64


def test_inner_must_be_a_transformation():
    with pytest.raises(TypeError, match="split_real_and_imaginary"):
        gx.split_real_and_imaginary(3)
