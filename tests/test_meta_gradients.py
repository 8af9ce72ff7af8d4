"""Differentiating through optimizer steps: meta-gradients agree with finite differences.

``jax.grad`` of the loss after a few steps, with respect to the learning rate, must be finite
and equal to the central finite difference in float64, also when one entry of every gradient
is exactly 0 (its second moment stays 0: the square root's slope there was infinite, and
``0 * inf`` made every meta-gradient NaN) and through RAdam's branch not taken (its
rectification term is not real for the first steps).
"""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx
from gradxform.core.numerics import safe_sqrt

TARGET = {"w": jnp.array([1.0, 0.0, 3.0], jnp.float64), "b": jnp.array(-1.0, jnp.float64)}
WEIGHTS = jnp.array([1.0, 0.0, 2.0], jnp.float64)  # the middle entry's gradient is always 0
START = {"w": jnp.array([0.5, -1.0, 2.0], jnp.float64), "b": jnp.array(0.3, jnp.float64)}
STEPS = 5


def _loss(params):
    return jnp.sum(WEIGHTS * (params["w"] - TARGET["w"]) ** 2) + (params["b"] - TARGET["b"]) ** 2


def _loss_after_steps(make, learning_rate):
    opt = make(learning_rate)
    params = START
    state = opt.init(params)
    for _ in range(STEPS):
        grads = jax.grad(_loss)(params)
        updates, state = opt.update(grads, state, params)
        params = gx.apply_updates(params, updates)
    return _loss(params)


# Each built from a learning rate that jax.grad traces; the rest are the registry's or Optax's
# defaults, so that these are the optimizers users differentiate through.
OPTIMIZERS = {
    "adam": lambda lr: gx.adam(lr),
    "adamw": lambda lr: gx.adamw(lr, weight_decay=1e-2),
    "nadam": lambda lr: gx.nadam(lr),
    "amsgrad": lambda lr: gx.amsgrad(lr),
    "radam": lambda lr: gx.radam(lr),
    "radam_rectified_early": lambda lr: gx.radam(lr, b2=0.9, threshold=4.0),
    "lamb": lambda lr: gx.lamb(lr),
    "rmsprop_eps_outside_root": lambda lr: gx.rmsprop(lr, eps_in_sqrt=False),
    "adabelief": lambda lr: gx.adabelief(lr),
    "yogi": lambda lr: gx.yogi(lr),
    "adopt": lambda lr: gx.adopt(lr),
}


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


@pytest.mark.slow  # one XLA compilation of 5 differentiated steps per optimizer: seconds each
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_meta_gradient_of_the_learning_rate_matches_central_differences(name):
    def loss(lr):
        return _loss_after_steps(OPTIMIZERS[name], lr)

    @jax.jit  # one compilation for the gradient and both neighbours
    def exact_and_neighbours(lr, h):
        return jax.grad(loss)(lr), jax.vmap(loss)(jnp.stack([lr + h, lr - h]))

    h = 1e-6
    exact, (ahead, behind) = exact_and_neighbours(jnp.asarray(1e-2), jnp.asarray(h))
    central = (ahead - behind) / (2 * h)
    assert np.isfinite(exact)
    np.testing.assert_allclose(exact, central, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["adam", "radam", "lamb"])
def test_meta_gradient_is_finite_eagerly(name):
    exact = jax.grad(lambda lr: _loss_after_steps(OPTIMIZERS[name], lr))(jnp.asarray(1e-2))
    assert np.isfinite(exact)


@pytest.mark.parametrize("name", ["adam", "radam", "lamb"])
def test_second_moment_of_zero_entry_gets_a_zero_meta_gradient_not_nan(name):
    """The gradient of the step with respect to the (zero) gradient entry itself is finite."""
    opt = OPTIMIZERS[name](1e-2)

    def first_update(w_middle):
        grads = {"w": jnp.array([0.3, 0.0, -0.2]).at[1].set(w_middle), "b": jnp.array(0.1)}
        updates, _ = opt.update(grads, opt.init(START), START)
        return jnp.sum(updates["w"] ** 2)

    assert np.isfinite(jax.grad(first_update)(0.0))


def test_safe_sqrt_is_sqrt_with_slope_zero_at_zero():
    x = jnp.array([0.0, 1e-300, 0.25, 4.0, 1e300])
    np.testing.assert_array_equal(safe_sqrt(x), jnp.sqrt(x))
    slopes = jax.vmap(jax.grad(safe_sqrt))(x)
    np.testing.assert_array_equal(slopes[0], 0.0)
    np.testing.assert_allclose(slopes[1:], 0.5 / jnp.sqrt(x[1:]), rtol=1e-15)


def test_safe_sqrt_compiles_to_the_same_computation_as_sqrt():
    x = jnp.ones(3, jnp.float32)

    def compiled(fn):
        text = jax.jit(fn).lower(x).as_text(dialect="hlo")
        lines = [re.sub(r", metadata=\{[^}]*\}", "", line) for line in text.splitlines()]
        return [line for line in lines if not line.startswith("HloModule")]

    assert compiled(safe_sqrt) == compiled(jnp.sqrt)
