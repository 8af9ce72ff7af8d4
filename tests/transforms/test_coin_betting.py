"""Coin betting: scale_by_cocob and mechanize, against optax.contrib's, and their rules and errors."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gradxform as gx


def _run(opt, dtype=jnp.float64, steps=20, theirs=False, complex_phase=None):
    """Params after each step on a fixed gradient sequence (a matrix and a vector)."""
    rng = np.random.default_rng(1)

    def draw(shape):
        x = rng.normal(size=shape)
        if complex_phase is not None:
            x = np.exp(1j * complex_phase) * (x + 1j * rng.normal(size=shape))
        return jnp.asarray(x, dtype)

    params = {"w": draw((3, 2)), "v": draw(4)}
    state, history = opt.init(params), []
    for _ in range(steps):
        grads = {"w": draw((3, 2)), "v": draw(4)}
        with jax.numpy_dtype_promotion("standard" if theirs else "strict"):
            updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        history.append(params)
    return history


def _assert_same(ours, theirs):
    for step, (a, e) in enumerate(zip(ours, theirs)):
        for key in e:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]), err_msg=f"step {step + 1}")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", [{}, dict(alpha=10.0, eps=1e-4)], ids=["defaults", "kwargs"])
def test_scale_by_cocob_is_optax_contribs_bit_for_bit(kwargs, dtype):
    _assert_same(_run(gx.scale_by_cocob(**kwargs), dtype),
                 _run(optax.contrib.scale_by_cocob(**kwargs), dtype, theirs=True))


def test_cocobs_first_update_bets_one_over_alpha_of_each_gradient():
    params, grads = {"w": jnp.array([1.0, 2.0, 3.0])}, {"w": jnp.array([0.5, -2.0, 0.0])}
    opt = gx.scale_by_cocob(alpha=20.0)
    updates, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_allclose(updates["w"], [-1 / 20, 1 / 20, 0.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("base", ["sgd", "adam", "lion"])
def test_mechanize_of_a_gradxform_optimizer_is_optax_contribs_of_optaxs_bit_for_bit(base, dtype):
    def make(lib):
        return getattr(lib, base)(1e-2 if base != "sgd" else 1.0)

    _assert_same(_run(gx.mechanize(make(gx), weight_decay=1e-3, num_betas=4), dtype),
                 _run(optax.contrib.mechanize(make(optax), weight_decay=1e-3, num_betas=4), dtype, theirs=True))


def test_mechanize_wraps_an_optax_optimizer_too():
    # Standard promotion for both: Optax's adam inside mixes its int32 count with Python floats.
    _assert_same(_run(gx.mechanize(optax.adam(1e-2)), theirs=True),
                 _run(optax.contrib.mechanize(optax.adam(1e-2)), theirs=True))


def test_mechanize_takes_its_reference_point_at_the_first_update():
    # Params replaced after init (pretrained weights loaded) are the reference, not the init's.
    opt = gx.mechanize(gx.sgd(1.0))
    state = opt.init({"w": jnp.zeros(2)})
    loaded = {"w": jnp.array([1.0, -1.0])}
    _, state = opt.update({"w": jnp.array([0.5, 0.5])}, state, loaded)
    np.testing.assert_array_equal(state[0].x0["w"], loaded["w"])


def test_mechanize_keeps_the_base_optimizers_state_and_hyperparameters():
    opt = gx.mechanize(gx.adam(1e-2))
    state = opt.init({"w": jnp.ones(3)})
    assert float(gx.hyperparams(state)["learning_rate"]) == pytest.approx(1e-2)
    assert float(gx.hyperparams(state)["weight_decay"]) == pytest.approx(1e-2)
    assert state[0].s.shape == (6,)


def test_mechanize_of_complex_params_rotates_with_their_phase():
    plain = _run(gx.mechanize(gx.sgd(1.0)), jnp.complex128, steps=5, complex_phase=0.0)
    rotated = _run(gx.mechanize(gx.sgd(1.0)), jnp.complex128, steps=5, complex_phase=1.0)
    for a, b in zip(plain, rotated):
        for key in a:
            np.testing.assert_allclose(np.asarray(b[key]), np.exp(1j) * np.asarray(a[key]), rtol=1e-10)


@pytest.mark.parametrize("opt", [gx.scale_by_cocob(), gx.mechanize(gx.sgd(1.0))], ids=["cocob", "mechanize"])
def test_update_without_params_names_what_is_missing(opt):
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"update\(\) needs params"):
        opt.update(params, opt.init(params))


def test_cocob_refuses_complex_params_naming_the_leaf():
    with pytest.raises(TypeError, match=re.escape("scale_by_cocob: the coin-betting rule compares and clips real "
                                                  "numbers only, got a complex64 parameter at ['z']")):
        gx.cocob().init({"z": jnp.ones(2, jnp.complex64)})


@pytest.mark.parametrize("make, error, message", [
    (lambda: gx.scale_by_cocob(alpha=0.0), ValueError,
     "scale_by_cocob: alpha must be a finite number > 0, got alpha=0.0"),
    (lambda: gx.cocob(alpha=-1.0), ValueError, "cocob: alpha must be a finite number > 0, got alpha=-1.0"),
    (lambda: gx.scale_by_cocob(eps=0.0), ValueError, "scale_by_cocob: eps must be a finite number > 0, got eps=0.0"),
    (lambda: gx.scale_by_cocob(eps=lambda s: 1e-8), TypeError, "scale_by_cocob: eps must be a number"),
    (lambda: gx.cocob(weight_decay=-1.0), ValueError, "cocob: weight_decay: weight_decay must be a finite number >= 0"),
    (lambda: gx.mechanize(gx.sgd(1.0), weight_decay=-1.0), ValueError,
     "mechanize: weight_decay must be a finite number >= 0, got weight_decay=-1.0"),
    (lambda: gx.mechanize(gx.sgd(1.0), eps=0.0), ValueError, "mechanize: eps must be a finite number > 0, got eps=0.0"),
    (lambda: gx.mechanize(gx.sgd(1.0), s_init=0.0), ValueError,
     "mechanize: s_init must be a finite number > 0, got s_init=0.0"),
    (lambda: gx.mechanize(gx.sgd(1.0), num_betas=0), ValueError, "mechanize: num_betas must be"),
    (lambda: gx.mechanize(gx.sgd(1.0), num_betas=2.5), TypeError, "mechanize: num_betas must be an int"),
    (lambda: gx.mechanize("sgd"), TypeError, "mechanize"),
])
def test_bad_arguments_are_named_with_what_was_expected(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()
