"""scale_by_distance_over_gradients (layer-wise DoG): Optax's same-named transform, alone and in optax.chain.

Optax's returns an update of shape (1,) for a scalar parameter and broadcasts (1,) against every
leaf, so these comparisons use trees without scalar leaves and allow rank promotion for Optax.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def _run(opt, dtype, steps=20, theirs=False):
    """Params after each step; gradients drawn from a fixed sequence."""
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2)), dtype), "v": jnp.asarray(rng.normal(size=4), dtype)}
    state, history = opt.init(params), []
    for _ in range(steps):
        grads = {"w": jnp.asarray(rng.normal(size=(3, 2)), dtype), "v": jnp.asarray(rng.normal(size=4), dtype)}
        with jax.numpy_dtype_promotion("standard" if theirs else "strict"), \
                jax.numpy_rank_promotion("allow" if theirs else "raise"):
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        history.append(params)
    return history


def _assert_same(ours, theirs):
    for step, (a, e) in enumerate(zip(ours, theirs)):
        for key in e:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]), err_msg=f"step {step + 1}")


ARGS = [
    pytest.param({}, id="defaults"),
    pytest.param(dict(reps_rel=1e-2, eps=1e-6, global_scale=-1.0), id="kwargs"),
    pytest.param(dict(reps_rel=1e-3, param_dtype=jnp.float64, global_scale=-0.5), id="float64_init"),
]


@pytest.mark.parametrize("kwargs", ARGS)
def test_alone_is_optax_bit_for_bit_in_float64(kwargs):
    _assert_same(_run(gx.scale_by_distance_over_gradients(**kwargs), jnp.float64),
                 _run(optax.scale_by_distance_over_gradients(**kwargs), jnp.float64, theirs=True))


@pytest.mark.parametrize("kwargs", ARGS[:2])
def test_alone_is_optax_bit_for_bit_in_float32_without_x64(kwargs):
    # Under x64 Optax's sum of squares starts as a float64 zero and makes float32 params' updates
    # float64; without x64 both libraries compute in float32 throughout.
    with jax.enable_x64(False):
        _assert_same(_run(gx.scale_by_distance_over_gradients(**kwargs), jnp.float32),
                     _run(optax.scale_by_distance_over_gradients(**kwargs), jnp.float32, theirs=True))


def test_alone_under_x64_float32_agrees_with_optax_to_rounding():
    # The one difference: gradxform rounds each update to float32, Optax adds a float64 update.
    kwargs = dict(reps_rel=1e-2, eps=1e-6, global_scale=-1.0)
    ours = _run(gx.scale_by_distance_over_gradients(**kwargs), jnp.float32)
    theirs = _run(optax.scale_by_distance_over_gradients(**kwargs), jnp.float32, theirs=True)
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=1e-6, atol=1e-6)


def test_inside_optax_chain_is_optax_bit_for_bit():
    ours = optax.chain(optax.clip(1.0), gx.scale_by_distance_over_gradients(reps_rel=1e-2), optax.scale(-1.0))
    theirs = optax.chain(optax.clip(1.0), optax.scale_by_distance_over_gradients(reps_rel=1e-2), optax.scale(-1.0))
    _assert_same(_run(ours, jnp.float64, theirs=True), _run(theirs, jnp.float64, theirs=True))


def test_a_scalar_parameter_gets_a_scalar_update_and_state():
    opt = gx.scale_by_distance_over_gradients(global_scale=-1.0)
    params = {"b": jnp.asarray(2.0)}
    state = opt.init(params)
    updates, state = opt.update({"b": jnp.asarray(0.5)}, state, params)
    assert updates["b"].shape == () and state.grad_sum_of_squares["b"].shape == ()
    # r_0 = 1e-6 * (1 + 2), G_1 = 0.25: u = -r_0 / sqrt(0.25 + 1e-8) * 0.5
    np.testing.assert_allclose(updates["b"], -3e-6 / np.sqrt(0.25 + 1e-8) * 0.5, rtol=1e-12)


def test_the_step_grows_with_the_distance_travelled():
    opt = gx.scale_by_distance_over_gradients(reps_rel=1e-3, eps=0.0)
    params = {"w": jnp.zeros(2)}
    state = opt.init(params)
    _, state = opt.update({"w": jnp.ones(2)}, state, params)
    np.testing.assert_allclose(state.max_dist["w"], 1e-3)
    moved = {"w": jnp.array([3.0, 4.0])}
    updates, state = opt.update({"w": jnp.ones(2)}, state, moved)
    np.testing.assert_allclose(state.max_dist["w"], 5.0)
    np.testing.assert_allclose(updates["w"], [5.0 / 2.0, 5.0 / 2.0])  # 5 / sqrt(2 + 2)
    _, state = opt.update({"w": jnp.ones(2)}, state, params)  # back at the start: the max stays
    np.testing.assert_allclose(state.max_dist["w"], 5.0)


def test_update_needs_params():
    opt = gx.scale_by_distance_over_gradients()
    state = opt.init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match=re.escape("scale_by_distance_over_gradients: update() needs params")):
        opt.update({"w": jnp.ones(2)}, state)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(reps_rel=0.0), ValueError, "scale_by_distance_over_gradients: reps_rel must be a finite number > 0"),
        (dict(reps_rel=lambda step: 1e-6), TypeError, "scale_by_distance_over_gradients: reps_rel must be"),
        (dict(eps=-1.0), ValueError, "scale_by_distance_over_gradients: eps must be a finite number >= 0"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        gx.scale_by_distance_over_gradients(**kwargs)


def test_complex_params_need_a_complex_or_no_param_dtype():
    params = {"w": jnp.ones(2, jnp.complex64)}
    message = "param_dtype=float32 is real but the parameter at ['w'] is complex64"
    with pytest.raises(TypeError, match=re.escape(message)):
        gx.scale_by_distance_over_gradients().init(params)
    opt = gx.scale_by_distance_over_gradients(param_dtype=None, global_scale=-1.0)
    updates, _ = opt.update({"w": jnp.array([1j, 1.0], jnp.complex64)}, opt.init(params), params)
    assert updates["w"].dtype == jnp.complex64 and np.all(np.isfinite(np.asarray(updates["w"])))
