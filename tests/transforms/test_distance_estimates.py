"""Step sizes from distance estimates: scale_by_dog and scale_by_dowg (whole-tree DoG and DoWG,
against optax.contrib's), scale_by_prodigy and scale_by_dadapt_adamw (their rules and errors)."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax.contrib import _dog

import gradxform as gx


def _run(opt, dtype=jnp.float64, steps=20, theirs=False, complex_phase=None):
    """Params after each step on a fixed gradient sequence (a matrix and a vector)."""
    rng = np.random.default_rng(0)

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


DOG_ARGS = [
    pytest.param(dict(init_step=("heuristic", 1e-3)), id="heuristic"),
    pytest.param(dict(init_step=("distance", 0.1), eps=1e-6), id="distance"),
    pytest.param(dict(init_step=("learning_rate", 1e-2)), id="learning_rate"),
]
DOWG_ARGS = [
    pytest.param({}, id="defaults"),
    pytest.param(dict(init_estim_sq_dist=1e-2, eps=1e-6), id="initial_distance"),
]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", DOG_ARGS)
def test_scale_by_dog_is_optax_contribs_bit_for_bit(kwargs, dtype):
    _assert_same(_run(gx.scale_by_dog(**kwargs), dtype), _run(_dog.scale_by_dog(**kwargs), dtype, theirs=True))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", DOWG_ARGS)
def test_scale_by_dowg_is_optax_contribs_bit_for_bit(kwargs, dtype):
    _assert_same(_run(gx.scale_by_dowg(**kwargs), dtype), _run(_dog.scale_by_dowg(**kwargs), dtype, theirs=True))


def test_inside_optax_chain_it_is_optax_contribs():
    ours = optax.chain(optax.clip(1.0), gx.scale_by_dog(("distance", 0.1)), optax.scale(-1.0))
    theirs = optax.chain(optax.clip(1.0), _dog.scale_by_dog(("distance", 0.1)), optax.scale(-1.0))
    _assert_same(_run(ours), _run(theirs, theirs=True))


def test_dogs_first_step_has_the_initial_distance_as_its_length():
    params = {"w": jnp.array([3.0, 4.0]), "b": jnp.array(0.0)}
    grads = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(2.0)}
    for init_step, length in [(("distance", 0.5), 0.5), (("heuristic", 0.1), 0.1 * (1 + 5.0))]:
        opt = gx.scale_by_dog(init_step, eps=0.0)
        updates, _ = opt.update(grads, opt.init(params), params)
        np.testing.assert_allclose(optax.tree.norm(updates), length, rtol=1e-6)


def test_dogs_learning_rate_init_step_takes_the_given_first_step_then_the_distance_rule():
    params, grads = {"w": jnp.array([3.0, 4.0])}, {"w": jnp.array([1.0, 0.0])}
    opt = gx.scale_by_dog(("learning_rate", 0.25), eps=0.0)
    state = opt.init(params)
    first, state = opt.update(grads, state, params)
    np.testing.assert_allclose(first["w"], [0.25, 0.0])
    moved = {"w": params["w"] - 2 * first["w"]}  # 0.5 from the start
    second, _ = opt.update(grads, state, moved)
    np.testing.assert_allclose(second["w"], [0.5 / np.sqrt(2.0), 0.0], rtol=1e-6)


def test_dowg_weighs_each_gradient_by_the_squared_distance_of_its_step():
    params, grads = {"w": jnp.array([0.0])}, {"w": jnp.array([1.0])}
    opt = gx.scale_by_dowg(init_estim_sq_dist=4.0, eps=1e-12)
    state = opt.init(params)
    _, state = opt.update(grads, state, params)
    _, state = opt.update(grads, state, {"w": jnp.array([3.0])})  # r^2 = 9 > 4
    np.testing.assert_allclose(state[0].weighted_sq_norm_grads, 4.0 + 9.0)
    np.testing.assert_allclose(state[0].estim_sq_dist, 9.0)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: gx.dog(), id="dog"),
    pytest.param(lambda: gx.dowg(weight_decay=1e-2), id="dowg"),
])
def test_complex_updates_rotate_with_the_phase_of_gradients_and_params(make):
    plain = _run(make(), jnp.complex128, steps=5, complex_phase=0.0)
    rotated = _run(make(), jnp.complex128, steps=5, complex_phase=1.0)
    for a, b in zip(plain, rotated):
        for key in a:
            np.testing.assert_allclose(np.asarray(b[key]), np.exp(1j) * np.asarray(a[key]), rtol=1e-10)


def test_statistics_of_a_mixed_tree_keep_its_widest_precision_and_leaves_keep_their_dtypes():
    params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2, jnp.float64)}
    opt = gx.dog()
    state = opt.init(params)
    updates, new_state = opt.update(params, state, params)
    assert state[1].max_dist.dtype == jnp.float64 and new_state[1].max_dist.dtype == jnp.float64
    assert updates["a"].dtype == jnp.bfloat16 and updates["b"].dtype == jnp.float64


def test_prodigy_and_dadapt_raise_their_estimate_from_the_progress_made():
    params = {"w": jnp.array([1.0, -2.0])}
    for opt in (gx.scale_by_prodigy(), gx.scale_by_dadapt_adamw()):
        state = opt.init(params)
        for _ in range(30):  # the quadratic 1/2 ||w||^2
            updates, state = opt.update(params, state, params)
            params = gx.apply_updates(params, updates)
        assert float(state[0].estim_lr) > 1e-3  # from 1e-6
        params = {"w": jnp.array([1.0, -2.0])}


NEEDS_PARAMS = [gx.scale_by_dog(("distance", 1.0)), gx.scale_by_dowg(), gx.scale_by_prodigy(),
                gx.scale_by_dadapt_adamw()]


@pytest.mark.parametrize("opt", NEEDS_PARAMS, ids=["dog", "dowg", "prodigy", "dadapt_adamw"])
def test_update_without_params_names_what_is_missing(opt):
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"update\(\) needs params"):
        opt.update(params, opt.init(params))


@pytest.mark.parametrize("make, error, message", [
    (lambda: gx.scale_by_dog(("radius", 1.0)), ValueError,
     "scale_by_dog: init_step must be a pair (kind, value) with kind one of ['distance', 'learning_rate', "
     "'heuristic'], got ('radius', 1.0)"),
    (lambda: gx.scale_by_dog(1e-6), ValueError, "scale_by_dog: init_step must be a pair (kind, value)"),
    (lambda: gx.scale_by_dog(("distance", 0.0)), ValueError,
     "scale_by_dog: init_step_value must be a finite number > 0, got init_step_value=0.0"),
    (lambda: gx.scale_by_dog(("distance", lambda s: 1.0)), TypeError, "scale_by_dog: init_step_value must be a number"),
    (lambda: gx.scale_by_dog(("distance", 1.0), eps=-1.0), ValueError,
     "scale_by_dog: eps must be a finite number >= 0, got eps=-1.0"),
    (lambda: gx.scale_by_dowg(init_estim_sq_dist=0.0), ValueError,
     "scale_by_dowg: init_estim_sq_dist must be a finite number > 0, got init_estim_sq_dist=0.0"),
    (lambda: gx.scale_by_dowg(eps=lambda s: 1e-4), TypeError, "scale_by_dowg: eps must be a number"),
    (lambda: gx.dowg(eps=0.0), ValueError, "dowg: eps must be a finite number > 0, got eps=0.0"),
    (lambda: gx.scale_by_prodigy(b1=1.0), ValueError,
     "scale_by_prodigy: prodigy_estimate: b1 must be in [0, 1), got b1=1.0"),
    (lambda: gx.prodigy(betas=(0.9, 1.0)), ValueError, "prodigy: prodigy_estimate: b2 must be in [0, 1), got b2=1.0"),
    (lambda: gx.scale_by_prodigy(beta3=1.5), ValueError,
     "scale_by_prodigy: prodigy_estimate: beta3 must be in [0, 1], got beta3=1.5"),
    (lambda: gx.scale_by_prodigy(estim_lr0=0.0), ValueError,
     "scale_by_prodigy: prodigy_estimate: estim_lr0 must be a finite number > 0, got estim_lr0=0.0"),
    (lambda: gx.scale_by_prodigy(estim_lr0=lambda s: 1.0), TypeError,
     "scale_by_prodigy: prodigy_estimate: estim_lr0 must be a number"),
    (lambda: gx.scale_by_prodigy(estim_lr_coef=0.0), ValueError,
     "scale_by_prodigy: prodigy_estimate: estim_lr_coef must be a finite number > 0, got estim_lr_coef=0.0"),
    (lambda: gx.prodigy(weight_decay=-1.0), ValueError,
     "prodigy: scale_by_prodigy: weight_decay must be a finite number >= 0, got weight_decay=-1.0"),
    (lambda: gx.scale_by_prodigy(safeguard_warmup=1), TypeError,
     "scale_by_prodigy: prodigy_estimate: safeguard_warmup must be True or False"),
    (lambda: gx.dadapt_adamw(learning_rate=-1.0), ValueError,
     "dadapt_adamw: learning_rate must be a finite number >= 0, got learning_rate=-1.0"),
    (lambda: gx.scale_by_dadapt_adamw(estim_lr0=-1.0), ValueError,
     "scale_by_dadapt_adamw: estim_lr0 must be a finite number > 0, got estim_lr0=-1.0"),
])
def test_bad_arguments_are_named_with_what_was_expected(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize("opt", [gx.prodigy(), gx.dadapt_adamw()], ids=["prodigy", "dadapt_adamw"])
def test_complex_params_are_refused_naming_the_leaf(opt):
    with pytest.raises(TypeError, match=re.escape("got a complex64 parameter at ['z']")):
        opt.init({"z": jnp.ones(2, jnp.complex64)})
