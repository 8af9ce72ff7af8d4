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


def _pytorch_adafactor_step(theta, g, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay):
    """One step of ``torch.optim.Adafactor`` on one leaf, transcribed in NumPy (float64).

    PyTorch 2.13's single-tensor rule: the decay 1 - t^beta2_decay; the relative step
    min(lr, 1/sqrt(t)) times max(eps2, RMS(theta)); decoupled decay by lr * weight_decay; the last
    two axes factored for rank >= 2, eps1 bounding the estimate; the update clipped to RMS d.
    """
    one_minus_beta2 = t ** beta2_decay
    alpha = max(eps2, np.sqrt(np.mean(theta ** 2))) * min(lr, 1 / np.sqrt(t))
    theta = theta * (1 - lr * weight_decay)
    if g.ndim > 1:
        row, col = state
        row = row + one_minus_beta2 * (np.mean(g ** 2, axis=-1, keepdims=True) - row)
        col = col + one_minus_beta2 * (np.mean(g ** 2, axis=-2, keepdims=True) - col)
        estimate = (row @ col) / np.maximum(np.mean(row, axis=-2, keepdims=True), eps1)
        state = (row, col)
    else:
        state = state + one_minus_beta2 * (g ** 2 - state)
        estimate = state
    update = g / np.sqrt(np.maximum(estimate, eps1 * eps1))
    denom = max(1.0, np.sqrt(np.mean(update ** 2)) / d)
    return theta - alpha / denom * update, state


@pytest.mark.parametrize("weight_decay, lr", [(0.0, 1e-2), (0.1, 0.3)])
def test_adafactor_reaches_pytorchs_adafactor_by_arguments(weight_decay, lr):
    """factored_axes="last", eps_placement="estimate", relative_step=True (and the argument
    mapping of the docstring) are torch.optim.Adafactor, step by step in float64: a 3-d leaf
    factored over its last two axes, a matrix, a vector and a scalar."""
    rng = np.random.default_rng(7)
    params = {"t": rng.normal(size=(2, 3, 4)), "w": rng.normal(size=(5, 2)), "v": rng.normal(size=3),
              "s": np.array(0.7)}
    eps1 = float(np.finfo(np.float64).eps)
    opt = gx.adafactor(lr, min_dim_size_to_factor=0, factored_axes="last", eps_placement="estimate",
                       eps=None, relative_step=True, decay_rate=0.8, min_param_scale=1e-3,
                       clipping_threshold=1.0, weight_decay_rate=lr * weight_decay)
    state = opt.init(params)
    torch_state = {k: ((np.zeros(v.shape[:-1] + (1,)), np.zeros(v.shape[:-2] + (1, v.shape[-1])))
                       if v.ndim > 1 else np.zeros_like(v)) for k, v in params.items()}
    step = jax.jit(opt.update)
    for t in range(1, 13):
        grads = {k: np.cos(3 * v * t) + 0.05 * v for k, v in params.items()}
        updates, state = step(grads, state, params)
        ours = gx.apply_updates(params, updates)
        for k in params:
            theirs, torch_state[k] = _pytorch_adafactor_step(
                np.asarray(params[k]), grads[k], torch_state[k], t, lr, -0.8, eps1, 1e-3, 1.0, weight_decay)
            # atol: an entry crossing zero loses relative digits to the formula order (PyTorch
            # multiplies theta by 1 - lr * wd first), 1e-8 of a leaf of size about 1.
            np.testing.assert_allclose(ours[k], theirs, rtol=1e-6, atol=1e-8, err_msg=f"{k} at step {t}")
        params = {k: np.asarray(v) for k, v in ours.items()}


def test_scale_by_relative_step_is_the_capped_inverse_square_root_of_the_step():
    opt = gx.scale_by_relative_step(0.3)
    state = opt.init({"w": jnp.ones(2)})
    seen = []
    for _ in range(20):
        out, state = opt.update({"w": jnp.ones(2)}, state)
        seen.append(float(out["w"][0]))
    np.testing.assert_allclose(seen, [min(0.3, 1 / np.sqrt(t)) for t in range(1, 21)], rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(factored_axes="first"), r"adafactor: factored_axes must be one of \['largest', 'last'\]"),
        (dict(eps_placement="root"), r"adafactor: eps_placement must be one of"),
        (dict(eps=None), r"adafactor: eps=None .* needs eps_placement='estimate'"),
        (dict(min_param_scale=-1.0), r"adafactor: min_param_scale"),
    ],
)
def test_adafactor_rejects_bad_pytorch_convention_arguments(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        gx.adafactor(1e-2, **kwargs)
