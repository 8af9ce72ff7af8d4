"""unitwise_norm and unitwise_clip against Optax's (optax.transforms)."""
import inspect

import jax.numpy as jnp
import numpy as np
import optax
import optax.transforms
import pytest

import gradxform as gx


@pytest.mark.parametrize("name", ["unitwise_norm", "unitwise_clip"])
def test_signature_is_optaxs(name):
    ours = inspect.signature(getattr(gx, name)).parameters.values()
    theirs = inspect.signature(getattr(optax.transforms, name)).parameters.values()
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


@pytest.mark.parametrize("shape", [(), (4,), (1, 4), (3, 4), (2, 3, 4), (2, 2, 3, 4), (2, 2, 2, 3, 2)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_norm_matches_optax_bit_for_bit(shape, dtype):
    x = jnp.asarray(np.random.default_rng(0).normal(size=shape), dtype)
    ours, theirs = gx.unitwise_norm(x), optax.transforms.unitwise_norm(x)
    assert ours.shape == theirs.shape == x.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_norm_with_axis_matches_optax():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3, 4, 5, 6, 2)))
    for axis in [0, (1, 2), -1]:
        np.testing.assert_array_equal(np.asarray(gx.unitwise_norm(x, axis=axis)),
                                      np.asarray(optax.transforms.unitwise_norm(x, axis=axis)))


def test_clip_matches_optax_bit_for_bit():
    rng = np.random.default_rng(2)
    grad = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    g_norm = gx.unitwise_norm(grad)
    for bound in [0.0, 0.5, 1.0, 5.0]:
        max_norm = jnp.full(grad.shape, bound, jnp.float32)
        np.testing.assert_array_equal(
            np.asarray(gx.unitwise_clip(g_norm, max_norm, grad)),
            np.asarray(optax.transforms.unitwise_clip(g_norm, max_norm, grad)))


def test_clipped_units_have_the_bound_as_norm():
    grad = jnp.array([[3.0, 0.1], [4.0, 0.1]])
    out = gx.unitwise_clip(gx.unitwise_norm(grad), jnp.ones((2, 2)), grad)
    np.testing.assert_allclose(np.asarray(out), [[0.6, 0.1], [0.8, 0.1]], rtol=1e-6)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"unitwise_norm: found a parameter of shape \(2, 2, 2, 2, 2, 2\)"):
        gx.unitwise_norm(jnp.ones((2,) * 6))
    with pytest.raises(TypeError, match="unitwise_norm: axis must be None, an int or a tuple of ints"):
        gx.unitwise_norm(jnp.ones((2, 2)), axis="rows")
    with pytest.raises(ValueError, match="unitwise_clip: g_norm, max_norm and grad must have one shape"):
        gx.unitwise_clip(jnp.ones((2, 1)), jnp.ones((2, 2)), jnp.ones((2, 2)))
