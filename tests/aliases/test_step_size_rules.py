"""Fromage and Polyak SGD: Optax's results bit for bit, their shared hyperparameters, their errors."""
import re

import jax.numpy as jnp
import numpy as np
import pytest
from harness import assert_same_bits, eager_beside_optax
from problem_losses import loss_value
from problems import PROBLEMS

import gradxform as gx

ON_PROBLEMS = [pytest.param(p, id=p.name) for p in PROBLEMS]

PAIRS = {
    "fromage": (lambda m: m.fromage(5e-3), None),
    "fromage_kwargs": (lambda m: m.fromage(0.3, min_norm=1e-2), None),
    "polyak_sgd": (lambda m: m.polyak_sgd(), loss_value),
    "polyak_sgd_kwargs": (
        lambda m: m.polyak_sgd(max_learning_rate=0.3, scaling=0.5, f_min=0.2, eps=1e-3, variant="sps+"),
        loss_value,
    ),
}


@pytest.mark.parametrize("problem", ON_PROBLEMS)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_float32_trajectory_is_optax_bit_for_bit(name, problem):
    build, extra_args = PAIRS[name]
    assert_same_bits(*eager_beside_optax(build, problem, 20, np.float32, extra_args))


@pytest.mark.parametrize("problem", ON_PROBLEMS)
def test_polyak_sgd_defaults_are_optax_bit_for_bit_over_100_float64_steps(problem):
    # The registry's polyak entries avoid the defaults only because of the float32 comparison.
    assert_same_bits(*eager_beside_optax(PAIRS["polyak_sgd"][0], problem, 100, np.float64, loss_value))


def test_fromage_new_iterate_is_the_trust_step_divided_by_sqrt_one_plus_rate_squared():
    rate = 0.5
    params = {"w": jnp.array([3.0, -4.0, 0.0])}
    grads = {"w": jnp.array([1.0, 2.0, -2.0])}  # |theta| = 5, |g| = 3
    opt = gx.fromage(rate)
    updates, _ = opt.update(grads, opt.init(params), params)
    expected = (np.asarray(params["w"]) - rate * 5.0 / 3.0 * np.asarray(grads["w"])) / np.sqrt(1 + rate**2)
    np.testing.assert_allclose(gx.apply_updates(params, updates)["w"], expected, rtol=1e-6)


def test_fromage_learning_rate_is_one_hyperparameter_read_by_both_terms():
    params = {"w": jnp.array([3.0, -4.0])}
    grads = {"w": jnp.array([0.6, -0.8])}
    opt = gx.fromage(0.1)
    state = opt.init(params)
    assert list(gx.hyperparams(state)).count("learning_rate") == 1
    reset = gx.set_hyperparams(state, learning_rate=0.75)
    ours, _ = opt.update(grads, reset, params)
    fresh, _ = gx.fromage(0.75).update(grads, gx.fromage(0.75).init(params), params)
    np.testing.assert_allclose(ours["w"], fresh["w"], rtol=1e-6)


def test_polyak_sgd_needs_the_loss():
    opt = gx.polyak_sgd()
    params = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match=re.escape("scale_by_polyak: update() needs the loss")):
        opt.update(params, opt.init(params), params)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: gx.fromage(-1.0), ValueError, "fromage: learning_rate must be a finite number >= 0"),
        (lambda: gx.fromage(0.1, min_norm=-1.0), ValueError, "fromage: min_norm must be a finite number >= 0"),
        (lambda: gx.polyak_sgd(variant="sps++"), ValueError,
         "polyak_sgd: variant must be one of ['sps', 'sps+'], got variant='sps++'"),
        (lambda: gx.polyak_sgd(max_learning_rate=-1.0), ValueError, "polyak_sgd: max_learning_rate must be"),
        (lambda: gx.polyak_sgd(scaling="one"), TypeError, "polyak_sgd: scaling must be a number or a schedule"),
    ],
)
def test_bad_arguments_are_rejected_by_the_function_called(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_recipes_show_their_primitives():
    text = repr(gx.fromage(0.1))
    assert "scale_by_learning_rate(learning_rate=learning_rate / sqrt(1 + learning_rate^2))" in text
    assert "add_scaled_params(rate=1 / sqrt(1 + learning_rate^2) - 1)" in text
    assert "scale_by_trust_ratio(min_norm=min_norm," in text
    assert "scale_by_polyak(" in repr(gx.polyak_sgd())
