"""schedule_free_sgd and schedule_free_adamw: against optax.contrib in float32 (with warmup, which
the float64 registry cannot compare), their recipes, warmup, and their errors."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from schedule_free_runs import side_by_side

import gradxform as gx


def within_ulps_of_params(ours_u, theirs_u, params, ulps):
    """|our update - Optax's| <= ulps * spacing(|y|): the update here is a sum of steps, Optax's
    a difference of points (see gx.schedule_free), so they agree to the rounding of y."""
    y = np.abs(np.asarray(params)) + np.abs(np.asarray(theirs_u))
    return np.all(np.abs(np.asarray(ours_u) - np.asarray(theirs_u)) <= ulps * np.spacing(y))


SGD_CASES = [
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "warmup_steps": 5, "b1": 0.8, "weight_decay": 1e-2},
    {"learning_rate": 0.02, "warmup_steps": 3, "weight_lr_power": 1.0},
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_states_and_eval_params_are_bit_identical_to_optax_in_float32(kwargs):
    with jax.enable_x64(False):  # as a float32 user runs: under x64 Optax's warmup is float32, ours float64
        rows = side_by_side(gx.schedule_free_sgd(**kwargs), optax.contrib.schedule_free_sgd(**kwargs))
    for step, (params, ours_u, theirs_u, ours, theirs, ours_x, theirs_x) in enumerate(rows, 1):
        for key in params:
            message = f"step {step}, leaf {key!r}"
            np.testing.assert_array_equal(ours.z[key], theirs.z[key], err_msg=message)
            np.testing.assert_array_equal(ours_x[key], theirs_x[key], err_msg=message)
            assert within_ulps_of_params(ours_u[key], theirs_u[key], params[key], ulps=2), message
        np.testing.assert_array_equal(ours.weight_sum, theirs.weight_sum)
        np.testing.assert_array_equal(ours.max_lr, theirs.max_lr)


ADAMW_CASES = [
    {"learning_rate": 1e-2},
    {"learning_rate": 3e-2, "warmup_steps": 4, "b1": 0.95, "b2": 0.99, "eps": 1e-6,
     "weight_decay": 0.1, "weight_lr_power": 1.5},
]


@pytest.mark.parametrize("kwargs", ADAMW_CASES)
def test_adamw_matches_optax_to_float32_rounding(kwargs):
    # Optax's base multiplies g by 1 / (sqrt(v_hat) + eps); this recipe divides g by
    # sqrt(v_hat) + eps (gx.ratio): an ulp apart, so z and the eval params agree to rounding.
    with jax.enable_x64(False):  # as a float32 user runs: under x64 Optax's warmup is float32, ours float64
        rows = side_by_side(gx.schedule_free_adamw(**kwargs), optax.contrib.schedule_free_adamw(**kwargs))
    for step, (params, ours_u, theirs_u, ours, theirs, ours_x, theirs_x) in enumerate(rows, 1):
        for key in params:
            message = f"step {step}, leaf {key!r}"
            np.testing.assert_allclose(ours.z[key], theirs.z[key], rtol=1e-6, atol=1e-7, err_msg=message)
            np.testing.assert_allclose(ours_x[key], theirs_x[key], rtol=1e-6, atol=1e-6, err_msg=message)
            assert within_ulps_of_params(ours_u[key], theirs_u[key], params[key], ulps=4), message
        np.testing.assert_array_equal(ours.weight_sum, theirs.weight_sum)
        np.testing.assert_array_equal(ours.max_lr, theirs.max_lr)


def test_warmup_moves_nothing_on_the_first_step_and_weights_it_at_one_over_warmup():
    opt = gx.schedule_free_sgd(0.5, warmup_steps=4)
    params = jnp.array([1.0, -2.0], jnp.float32)
    state = opt.init(params)
    updates, state = opt.update(jnp.array([1.0, 1.0], jnp.float32), state, params)
    np.testing.assert_array_equal(updates, np.zeros(2))  # the base's rate at step 0 is 0
    assert float(state.max_lr) == 0.125  # the averaging reads the warmup at t = 1: 0.5 / 4


def test_sgd_recipe_is_weight_decay_and_learning_rate_inside_schedule_free():
    text = repr(gx.schedule_free_sgd(0.1, weight_decay=1e-3))
    assert text.startswith("schedule_free_sgd(")
    for part in ("schedule_free(", "weight_decay(", "scale_by_learning_rate("):
        assert part in text
    assert "weight_decay(" not in repr(gx.schedule_free_sgd(0.1))


def test_adamw_recipe_is_a_ratio_without_momentum_inside_schedule_free():
    text = repr(gx.schedule_free_adamw())
    for part in ("schedule_free(", "ratio(", "identity()", "mean_of_squares(", "bias_correction(",
                 "sqrt_plus_eps(", "scale_by_learning_rate("):
        assert part in text
    assert "scale_by_momentum" not in text


def test_hyperparameters_are_named_as_in_the_signature():
    state = gx.schedule_free_adamw(weight_decay=0.1).init({"w": jnp.zeros(2)})
    assert set(gx.hyperparams(state)) == {
        "b1", "b2", "eps", "weight_decay", "weight_lr_power",
        "inner_state/learning_rate", "schedule_free/learning_rate",
    }


def test_defaults_are_optax_contribs():
    import inspect

    for name in ("schedule_free_sgd", "schedule_free_adamw", "schedule_free"):
        ours = inspect.signature(getattr(gx, name)).parameters
        theirs = inspect.signature(getattr(optax.contrib, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: gx.schedule_free_sgd(warmup_steps=0), ValueError,
         r"schedule_free_sgd: warmup_steps must be an int >= 1, got warmup_steps=0"),
        (lambda: gx.schedule_free_adamw(warmup_steps=2.5), TypeError,
         r"schedule_free_adamw: warmup_steps must be an int, got float 2.5"),
        (lambda: gx.schedule_free_adamw(warmup_steps=True), TypeError,
         r"schedule_free_adamw: warmup_steps must be an int"),
        (lambda: gx.schedule_free_sgd(-1.0, warmup_steps=3), ValueError,
         r"schedule_free_sgd: learning_rate must be a finite number >= 0, got learning_rate=-1.0"),
        (lambda: gx.schedule_free_sgd(b1=0.0), ValueError, r"schedule_free: b1 must be in \(0, 1\]"),
        (lambda: gx.schedule_free_adamw(b2=1.0), ValueError, r"b2 must be in \[0, 1\)"),
        (lambda: gx.schedule_free_adamw(eps=-1.0), ValueError, r"eps must be a finite number > 0"),
        (lambda: gx.schedule_free_sgd(weight_decay=-1.0), ValueError,
         r"weight_decay must be a finite number >= 0"),
        (lambda: gx.schedule_free_sgd(state_dtype="int8"), TypeError,
         r"schedule_free: state_dtype must be None or a floating-point dtype"),
    ],
)
def test_bad_arguments_are_refused_when_built(make, error, message):
    with pytest.raises(error, match=message):
        make()
