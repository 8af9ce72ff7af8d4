"""scale_gradient against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def test_signature_is_optaxs():
    ours = inspect.signature(gx.scale_gradient).parameters.values()
    theirs = inspect.signature(optax.scale_gradient).parameters.values()
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


@pytest.mark.parametrize("scale", [0.0, 1.0, 0.3, -2.0])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_forward_unchanged_and_gradient_scaled_as_optax(scale, dtype):
    x = {"a": jnp.array([0.5, -1.5], dtype), "b": jnp.array(2.0, dtype)}

    def loss(scaler, x):
        y = scaler(x, scale)
        return jnp.sum(jnp.sin(y["a"]) * y["b"]) + y["b"] ** 2

    assert float(loss(gx.scale_gradient, x)) == float(loss(optax.scale_gradient, x))
    ours, theirs = jax.grad(loss, 1)(gx.scale_gradient, x), jax.grad(loss, 1)(optax.scale_gradient, x)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_traced_scale_works_under_jit():
    grad = jax.jit(jax.grad(lambda x, s: jnp.sum(gx.scale_gradient(x, s) ** 2)))(jnp.array([1.0, 2.0]), 0.5)
    np.testing.assert_array_equal(np.asarray(grad), [1.0, 2.0])


def test_a_non_finite_scale_or_a_schedule_is_rejected():
    with pytest.raises(ValueError, match="scale_gradient: scale must be a finite number, got scale=nan"):
        gx.scale_gradient(jnp.ones(2), float("nan"))
    with pytest.raises(TypeError, match="scale_gradient: scale must be a number"):
        gx.scale_gradient(jnp.ones(2), lambda step: 0.5)
