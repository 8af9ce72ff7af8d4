"""signSGD, Signum and Rprop: Optax's results bit for bit in float32, their arguments checked."""
import re

import jax.numpy as jnp
import numpy as np
import pytest
from harness import assert_same_bits, eager_beside_optax
from problems import PROBLEMS

import gradxform as gx

ON_PROBLEMS = [pytest.param(p, id=p.name) for p in PROBLEMS]

# (gradxform's optimizer, Optax's), built alike
PAIRS = {
    "sign_sgd": lambda m: m.sign_sgd(1e-2),
    "signum": lambda m: m.signum(1e-2),
    "signum_kwargs": lambda m: m.signum(3e-3, beta=0.5, accumulator_dtype=jnp.float32),
    "rprop": lambda m: m.rprop(1e-1),
    "rprop_kwargs": lambda m: m.rprop(3e-2, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.2),
}


@pytest.mark.parametrize("problem", ON_PROBLEMS)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_float32_trajectory_is_optax_bit_for_bit(name, problem):
    assert_same_bits(*eager_beside_optax(PAIRS[name], problem))


def test_sign_sgd_moves_every_element_by_the_learning_rate():
    opt = gx.sign_sgd(0.25)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    updates, _ = opt.update({"w": jnp.array([1e-6, -50.0, 0.0])}, opt.init(params))
    np.testing.assert_array_equal(updates["w"], [-0.25, 0.25, 0.0])


def test_signum_follows_the_sign_of_the_moving_average_not_of_the_gradient():
    opt = gx.signum(1.0, beta=0.9)
    params = {"w": jnp.zeros(1)}
    state = opt.init(params)
    _, state = opt.update({"w": jnp.array([1.0])}, state)  # m = 0.1
    updates, _ = opt.update({"w": jnp.array([-0.5])}, state)  # m = 0.09 - 0.05 = 0.04 > 0
    np.testing.assert_array_equal(updates["w"], [-1.0])


def test_rprop_first_update_is_zero_and_a_flip_cancels_the_step():
    opt = gx.rprop(0.1)
    params = {"w": jnp.zeros(2)}
    state = opt.init(params)
    first, state = opt.update({"w": jnp.array([1.0, -1.0])}, state)
    np.testing.assert_array_equal(first["w"], [0.0, 0.0])  # Optax's one-step lag
    second, state = opt.update({"w": jnp.array([2.0, 3.0])}, state)  # w[1] flips
    np.testing.assert_array_equal(second["w"], [-0.1, 0.0])
    sizes = state[0].step_sizes["w"]
    np.testing.assert_allclose(sizes, [0.12, 0.05], rtol=1e-6)


def test_rprop_learning_rate_is_the_initial_step_size_not_a_hyperparameter():
    state = gx.rprop(0.3).init({"w": jnp.zeros(2, jnp.float32)})
    np.testing.assert_array_equal(state[0].step_sizes["w"], np.full(2, 0.3, np.float32))
    assert "learning_rate" not in gx.hyperparams(state)
    assert float(gx.hyperparams(state)["eta_plus"]) == pytest.approx(1.2)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: gx.rprop(lambda step: 0.1), TypeError, "rprop: learning_rate must be"),
        (lambda: gx.rprop(0.0), ValueError, "rprop: learning_rate must be a finite number > 0, got learning_rate=0.0"),
        (lambda: gx.rprop(0.1, eta_minus=1.5), ValueError, "rprop: eta_minus must be in (0, 1], got eta_minus=1.5"),
        (lambda: gx.rprop(0.1, eta_plus=0.9), ValueError, "rprop: eta_plus must be a finite number >= 1.0"),
        (lambda: gx.rprop(0.1, min_step_size=1.0, max_step_size=0.5), ValueError,
         "rprop: max_step_size must be >= min_step_size, got min_step_size=1.0 and max_step_size=0.5"),
        (lambda: gx.signum(0.1, beta=1.0), ValueError, "signum: beta must be in [0, 1), got beta=1.0"),
        (lambda: gx.signum(-0.1), ValueError, "signum: learning_rate must be a finite number >= 0"),
        (lambda: gx.sign_sgd("fast"), TypeError, "sign_sgd: learning_rate must be a number or a schedule"),
    ],
)
def test_bad_arguments_are_rejected_by_the_function_called(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_rprop_rejects_complex_params():
    with pytest.raises(TypeError, match=re.escape("scale_by_rprop: every parameter must be real")):
        gx.rprop(0.1).init({"w": jnp.zeros(2, jnp.complex64)})


def test_recipes_show_their_primitives():
    assert "sign()" in repr(gx.sign_sgd(0.1))
    assert "scale_by_momentum(decay=beta, ema=True)" in repr(gx.signum(0.1))
    assert "scale_by_rprop(" in repr(gx.rprop(0.1)) and "scale(step_size=-1.0)" in repr(gx.rprop(0.1))
