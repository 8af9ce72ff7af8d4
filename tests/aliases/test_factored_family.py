"""Adafactor and SM3 (gradxform/aliases/factored_family.py) against Optax 0.2.8, and their recipes.

The registry (tests/registry_factored.py) compares float64 trajectories step by step; here the
float32 trajectories are compared with Optax's bit for bit, eagerly: op by op, each update is
rounded as Optax's is. Under jit XLA treats Optax's Python-number hyperparameters as constants
and reassociates products with them (``(lr * u) * rms(theta)`` compiles to
``u * (lr * rms(theta))``), which hyperparameters read from the state do not allow: there the
trajectories agree to a few float32 ulps, checked with a tight tolerance.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import trajectory
from problems import PROBLEMS, Problem

import gradxform as gx


def _decay_matrices(params):
    return jax.tree.map(lambda v: v.ndim > 1, params)


def _bowl() -> Problem:
    """f = 1/2 sum_k d_k * x_k^2 on a matrix, a 3-d leaf and a vector (no scalar: Optax's sm3
    fails on rank-0 leaves)."""
    rng = np.random.default_rng(3)
    init = {"w": rng.normal(size=(4, 3)), "t": rng.normal(size=(2, 3, 2)), "v": rng.normal(size=5)}
    scales = {k: np.logspace(-1, 1, v.size).reshape(v.shape) for k, v in init.items()}
    return Problem("bowl", init, lambda p: {k: scales[k] * x for k, x in p.items()})


ADAFACTORS = {
    "defaults": dict(),
    "factored_schedule": dict(
        learning_rate=optax.linear_schedule(3e-2, 1e-3, 20), min_dim_size_to_factor=2, decay_rate=0.7,
        clipping_threshold=2.0,
    ),
    "momentum_masked_decay": dict(
        learning_rate=1e-2, min_dim_size_to_factor=2, momentum=0.9, weight_decay_rate=1e-3,
        weight_decay_mask=_decay_matrices,
    ),
    "unfactored_unclipped_absolute": dict(
        learning_rate=1e-2, factored=False, clipping_threshold=None, multiply_by_parameter_scale=False,
        decay_offset=2, eps=1e-20,
    ),
}
SM3S = {"defaults": dict(learning_rate=3e-2), "momentum": dict(learning_rate=1e-2, momentum=0.5)}
ON = [pytest.param(p, id=p.name) for p in (PROBLEMS[0], _bowl())]  # a scalar beside a matrix; a 3-d leaf


def _optax_trajectory(opt, problem, steps, jit):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float in its counts
        return trajectory(opt, problem, steps, dtype=np.float32, jit=jit)


def _assert_bitwise_equal(actual, expected):
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"step {step + 1}, leaf {key!r}")


@pytest.mark.slow  # eager trajectories: ~5 s each
@pytest.mark.parametrize("problem", ON)
@pytest.mark.parametrize("name", ADAFACTORS)
def test_adafactor_is_optax_adafactor_bit_for_bit_in_float32(name, problem):
    kwargs = ADAFACTORS[name]
    actual = trajectory(gx.adafactor(**kwargs), problem, 20, dtype=np.float32, jit=False)
    _assert_bitwise_equal(actual, _optax_trajectory(optax.adafactor(**kwargs), problem, 20, jit=False))


@pytest.mark.slow  # eager trajectories: ~5 s each
@pytest.mark.parametrize("name", SM3S)
def test_sm3_is_optax_sm3_bit_for_bit_in_float32(name):
    problem, kwargs = _bowl(), SM3S[name]
    actual = trajectory(gx.sm3(**kwargs), problem, 20, dtype=np.float32, jit=False)
    _assert_bitwise_equal(actual, _optax_trajectory(optax.sm3(**kwargs), problem, 20, jit=False))


@pytest.mark.slow  # jitted trajectories
@pytest.mark.parametrize("make", [
    pytest.param(lambda m: m.adafactor(**ADAFACTORS["momentum_masked_decay"]), id="adafactor"),
    pytest.param(lambda m: m.sm3(**SM3S["momentum"]), id="sm3"),
])
def test_jitted_float32_trajectories_agree_with_optax_to_a_few_ulps(make):
    problem = _bowl()
    actual = trajectory(make(gx), problem, 20, dtype=np.float32)
    expected = _optax_trajectory(make(optax), problem, 20, jit=True)
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=2e-6, atol=1e-7, err_msg=f"step {step + 1}")


@pytest.mark.slow  # 100-step trajectories
def test_a_float32_momentum_beside_float64_params_is_rounded_once_and_stays_within_1e6_of_optax():
    # gradxform averages in float64 and rounds the stored momentum once; Optax multiplies the
    # float32 momentum in float32 first (a documented difference in the last float32 bits).
    kwargs = dict(learning_rate=1e-2, momentum=0.9, factored=False)
    actual = trajectory(gx.adafactor(**kwargs), PROBLEMS[0], 100)
    with jax.numpy_dtype_promotion("standard"):
        expected = trajectory(optax.adafactor(**kwargs), PROBLEMS[0], 100)
    for a, e in zip(actual, expected):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=1e-6)
    momentum = gx.adafactor(**kwargs).init({"w": jnp.ones(2, jnp.float64)})[4].mu["w"]
    assert momentum.dtype == jnp.float32


def test_adafactor_chains_its_primitives_in_optax_order():
    opt = gx.adafactor(1e-2, momentum=0.9, weight_decay_rate=1e-3)
    body = gx.recipe(opt)["body"]
    assert body["name"] == "chain"
    assert [part["name"] for part in body["parts"]] == [
        "scale_by_factored_rms", "clip_by_block_rms", "scale_by_learning_rate",
        "scale_by_param_block_rms", "scale_by_momentum", "weight_decay", "scale",
    ]


def test_adafactor_leaves_out_each_optional_term_given_none():
    opt = gx.adafactor(clipping_threshold=None, multiply_by_parameter_scale=False)
    names = [part["name"] for part in gx.recipe(opt)["body"]["parts"]]
    assert names == ["scale_by_factored_rms"] + ["identity"] * 5 + ["scale"]
    g = {"w": jnp.asarray([3.0, -4.0], jnp.float64)}
    updates, _ = opt.update(g, opt.init(g))  # no params needed without the parameter scale
    np.testing.assert_allclose(updates["w"], [-1.0, 1.0], rtol=1e-12)


def test_adafactor_hyperparameters_are_named_once_and_settable():
    params = {"w": jnp.ones((2, 2), jnp.float32)}
    opt = gx.adafactor(1e-2, momentum=0.9, weight_decay_rate=1e-3)
    state = opt.init(params)
    names = set(gx.hyperparams(state))
    assert {"learning_rate", "decay_rate", "clipping_threshold", "momentum", "weight_decay_rate", "eps"} <= names
    state = gx.set_hyperparams(state, learning_rate=0.0, weight_decay_rate=0.0)
    updates, _ = jax.jit(opt.update)(params, state, params)
    np.testing.assert_array_equal(updates["w"], np.zeros((2, 2)))


def test_adafactor_multiplying_by_the_parameter_scale_needs_params():
    opt = gx.adafactor(1e-2)
    g = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="scale_by_param_block_rms: update\\(\\) needs params"):
        opt.update(g, opt.init(g))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"learning_rate": -1.0}, ValueError, "learning_rate must be a finite number >= 0, got learning_rate=-1.0"),
    ({"clipping_threshold": 0.0}, ValueError, "clipping_threshold must be a finite number > 0"),
    ({"momentum": 1.0}, ValueError, "momentum must be in \\[0, 1\\), got momentum=1.0"),
    ({"weight_decay_rate": -1e-3}, ValueError, "weight_decay_rate must be a finite number >= 0"),
    ({"decay_offset": -1}, ValueError, "adafactor: decay_offset must be an int >= 0, got decay_offset=-1"),
    ({"multiply_by_parameter_scale": 1}, TypeError, "adafactor: multiply_by_parameter_scale must be True or False"),
    ({"factored": "yes"}, TypeError, "factored must be True or False"),
])
def test_adafactor_rejects_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        gx.adafactor(**kwargs)


def test_sm3_runs_on_a_scalar_leaf_where_optax_fails_and_treats_it_as_adagrad():
    params = {"b": jnp.asarray(1.0, jnp.float64)}
    grads = [{"b": jnp.asarray(g, jnp.float64)} for g in (3.0, 4.0)]
    opt = gx.sm3(1.0, momentum=None)
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(g, state)
    np.testing.assert_allclose(updates["b"], -4.0 / np.sqrt(25.0 + 1e-8), rtol=1e-15)
    reference = optax.sm3(1.0)
    with pytest.raises(IndexError):
        reference.update(grads[0], reference.init(params))


def test_sm3_without_momentum_is_the_scaled_gradient_where_optax_fails():
    g = {"w": jnp.asarray([[3.0, 0.0], [-4.0, 1.0]], jnp.float64)}
    opt = gx.sm3(0.5, momentum=None)
    updates, _ = opt.update(g, opt.init(g))
    w = np.asarray(g["w"])
    np.testing.assert_allclose(updates["w"], -0.5 * w / np.sqrt(w**2 + 1e-8), rtol=1e-12)  # 0 where g = 0
    reference = optax.sm3(0.5, momentum=None)
    with pytest.raises(TypeError):
        reference.update(g, reference.init(g))


def test_sm3_takes_a_learning_rate_schedule():
    problem = _bowl()
    schedule = gx.piecewise_constant_schedule(3e-2, {10: 0.0})
    actual = trajectory(gx.sm3(schedule), problem, 12)
    constant = trajectory(gx.sm3(3e-2), problem, 10)
    _assert_bitwise_equal(actual[:10], constant)
    np.testing.assert_array_equal(actual[-1]["w"], actual[-3]["w"])  # rate 0 from the 11th step on


def test_sm3_rejects_complex_params_and_bad_arguments():
    with pytest.raises(TypeError, match="scale_by_cover_rss: .* real parameters only"):
        gx.sm3(1e-2).init({"z": jnp.ones(2, jnp.complex64)})
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\), got momentum=1.5"):
        gx.sm3(1e-2, momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        gx.sm3(-1.0)
