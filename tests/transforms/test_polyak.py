"""scale_by_polyak: Optax's same-named transform, alone and inside optax.chain; the loss it needs."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def _loss(params):
    return jnp.sum(params["w"] ** 2) + 2.0 * jnp.sum((params["b"] - 1.0) ** 2)


def _run(opt, steps=10, standard=False, dtype=jnp.float32):
    """Params after each step of ``opt`` on ``_loss``, the loss passed as ``value=``."""
    params = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]], dtype), "b": jnp.array(0.25, dtype)}
    state, history = opt.init(params), []
    for _ in range(steps):
        value, grads = jax.value_and_grad(_loss)(params)
        with jax.numpy_dtype_promotion("standard" if standard else "strict"):
            updates, state = opt.update(grads, state, params, value=value)
        params = optax.apply_updates(params, updates)
        history.append(params)
    return history


def _assert_same(ours, theirs):
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]))


POLYAK_ARGS = [
    pytest.param({}, id="defaults"),
    pytest.param(dict(f_min=0.5, max_learning_rate=0.2, eps=1e-2, variant="sps+"), id="kwargs"),
]


def _descent(opt):
    """``opt`` followed by a sign flip, as a transformation taking ``value=`` on its own."""
    def update(updates, state, params=None, **extra_args):
        out, state = opt.update(updates, state, params, **extra_args)
        return jax.tree.map(lambda u: -u, out), state
    return gx.GradientTransformation(opt.init, update)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", POLYAK_ARGS)
def test_scale_by_polyak_alone_is_optax_bit_for_bit(kwargs, dtype):
    ours, theirs = _descent(gx.scale_by_polyak(**kwargs)), _descent(optax.scale_by_polyak(**kwargs))
    _assert_same(_run(ours, dtype=dtype), _run(theirs, standard=True, dtype=dtype))


@pytest.mark.parametrize("kwargs", POLYAK_ARGS)
def test_scale_by_polyak_inside_optax_chain_is_optax_bit_for_bit(kwargs):
    # optax.chain hands extra arguments only to instances of its GradientTransformationExtraArgs;
    # a gradxform transformation is one once wrapped in it.
    ours = optax.chain(optax.GradientTransformationExtraArgs(*gx.scale_by_polyak(**kwargs)), optax.scale(-1.0))
    theirs = optax.chain(optax.scale_by_polyak(**kwargs), optax.scale(-1.0))
    _assert_same(_run(ours, standard=True), _run(theirs, standard=True))


@pytest.mark.parametrize("kwargs", POLYAK_ARGS)
def test_scale_by_polyak_in_a_gradxform_chain_is_optax_bit_for_bit(kwargs):
    ours = gx.chain(gx.scale(-1.0), gx.scale_by_polyak(**kwargs))
    theirs = optax.chain(optax.scale(-1.0), optax.scale_by_polyak(**kwargs))
    _assert_same(_run(ours), _run(theirs, standard=True))


def test_polyak_step_is_the_gap_over_the_squared_norm_capped():
    opt = gx.scale_by_polyak(f_min=1.0, max_learning_rate=10.0)
    grads = {"w": jnp.array([3.0, 4.0])}  # |g|^2 = 25
    out, _ = opt.update(grads, opt.init(grads), value=6.0)  # (6 - 1) / 25 = 0.2
    np.testing.assert_allclose(out["w"], [0.6, 0.8], rtol=1e-6)
    capped = gx.scale_by_polyak(max_learning_rate=0.1)  # with its own state: a state keeps its numbers
    out, _ = capped.update(grads, capped.init(grads), value=100.0)
    np.testing.assert_allclose(out["w"], [0.3, 0.4], rtol=1e-6)


def test_sps_plus_takes_no_step_below_f_min_and_sps_steps_back():
    grads = {"w": jnp.array([1.0, 0.0])}
    for variant, expected in (("sps+", 0.0), ("sps", -0.5)):
        opt = gx.scale_by_polyak(f_min=1.0, variant=variant)
        out, _ = opt.update(grads, opt.init(grads), value=0.5)
        np.testing.assert_allclose(out["w"], [expected, 0.0])


def test_a_zero_gradient_gives_a_zero_step_not_nan():
    zero = {"w": jnp.zeros(3)}
    out, _ = gx.scale_by_polyak().update(zero, gx.scale_by_polyak().init(zero), value=1.0)
    np.testing.assert_array_equal(out["w"], np.zeros(3))


def test_update_without_the_loss_says_how_to_pass_it():
    opt = gx.scale_by_polyak()
    grads = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match=re.escape("scale_by_polyak: update() needs the loss at the current params")):
        opt.update(grads, opt.init(grads))
    with pytest.raises(ValueError, match=re.escape("scale_by_polyak: value must be a scalar")):
        opt.update(grads, opt.init(grads), value=jnp.ones(2))
    with pytest.raises(TypeError, match=re.escape("scale_by_polyak: value must be a real loss")):
        opt.update(grads, opt.init(grads), value=jnp.asarray(1.0 + 1j))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(variant="sps-"), ValueError,
         "scale_by_polyak: variant must be one of ['sps', 'sps+'], got variant='sps-'"),
        (dict(max_learning_rate=0.0), ValueError, "scale_by_polyak: max_learning_rate must be a finite number > 0"),
        (dict(eps=-1.0), ValueError, "scale_by_polyak: eps must be a finite number >= 0, got eps=-1.0"),
        (dict(f_min=float("inf")), ValueError, "scale_by_polyak: f_min must be a finite number, got f_min=inf"),
    ],
)
def test_scale_by_polyak_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        gx.scale_by_polyak(**kwargs)


def test_the_loss_may_be_traced_under_jit():
    opt = gx.scale_by_polyak()
    grads = {"w": jnp.array([3.0, 4.0])}
    update = jax.jit(lambda g, s, v: opt.update(g, s, value=v))
    out, _ = update(grads, opt.init(grads), jnp.float32(5.0))
    np.testing.assert_allclose(out["w"], [0.6, 0.8], rtol=1e-6)


def test_complex_updates_rotate_with_the_phase_of_the_gradients():
    rng = np.random.default_rng(0)
    grads = {"w": jnp.asarray(rng.normal(size=3) + 1j * rng.normal(size=3)), "b": jnp.asarray(0.5 - 2j)}
    rotation = np.exp(0.7j)
    opt = gx.scale_by_polyak(f_min=0.1)
    plain, _ = opt.update(grads, opt.init(grads), value=2.0)
    rotated, _ = opt.update(jax.tree.map(lambda g: g * rotation, grads), opt.init(grads), value=2.0)
    for key in grads:
        np.testing.assert_allclose(rotated[key], rotation * np.asarray(plain[key]), rtol=1e-12)
