"""add_scaled_params: the parameters times a factor of either sign, added to the update."""
import re

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def test_adds_the_scaled_params_as_optax_add_decayed_weights_does():
    params = {"w": jnp.array([1.0, -2.0], jnp.float32)}
    grads = {"w": jnp.array([0.3, 0.7], jnp.float32)}
    for rate in (0.25, -0.1):
        ours, _ = gx.add_scaled_params(rate).update(grads, gx.add_scaled_params(rate).init(params), params)
        theirs, _ = optax.add_decayed_weights(rate).update(grads, optax.EmptyState(), params)
        np.testing.assert_array_equal(ours["w"], theirs["w"])


def test_a_negative_rate_shrinks_the_params():
    params = {"w": jnp.array([2.0, -4.0])}
    opt = gx.add_scaled_params(-0.5)
    updates, _ = opt.update({"w": jnp.zeros(2)}, opt.init(params), params)
    np.testing.assert_array_equal(gx.apply_updates(params, updates)["w"], [1.0, -2.0])


def test_rejects_a_non_finite_rate_and_missing_params():
    with pytest.raises(ValueError, match=re.escape("add_scaled_params: rate must be a finite number, got rate=inf")):
        gx.add_scaled_params(float("inf"))
    opt = gx.add_scaled_params(0.1)
    with pytest.raises(ValueError, match=re.escape("add_scaled_params: update() needs params")):
        opt.update({"w": jnp.zeros(2)}, opt.init({"w": jnp.zeros(2)}))
