"""scale_by_rprop and scale_by_sign: Optax's same-named transforms, alone and inside optax.chain."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]], jnp.float32), "b": jnp.array(0.25, jnp.float32)}


def _grads(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": jnp.asarray(rng.normal(size=(2, 2)), jnp.float32), "b": jnp.asarray(rng.normal(), jnp.float32)}
            for _ in range(steps)]


def _updates(opt, grads, standard=False):
    """Each step's updates of ``opt`` on PARAMS; Optax's transforms need standard promotion."""
    state, out = opt.init(PARAMS), []
    for g in grads:
        with jax.numpy_dtype_promotion("standard" if standard else "strict"):
            updates, state = opt.update(g, state, PARAMS)
        out.append(updates)
    return out


def _assert_same(ours, theirs):
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]))


RPROP_ARGS = [
    pytest.param(dict(learning_rate=0.1), id="defaults"),
    pytest.param(dict(learning_rate=0.05, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-2, max_step_size=0.1),
                 id="kwargs"),
]


@pytest.mark.parametrize("kwargs", RPROP_ARGS)
def test_scale_by_rprop_alone_is_optax_bit_for_bit(kwargs):
    grads = _grads(15)
    _assert_same(_updates(gx.scale_by_rprop(**kwargs), grads),
                 _updates(optax.scale_by_rprop(**kwargs), grads, standard=True))


@pytest.mark.parametrize("kwargs", RPROP_ARGS)
def test_scale_by_rprop_inside_optax_chain_is_optax_bit_for_bit(kwargs):
    grads = _grads(15, seed=1)
    ours = optax.chain(gx.scale_by_rprop(**kwargs), optax.scale(-1.0))
    theirs = optax.chain(optax.scale_by_rprop(**kwargs), optax.scale(-1.0))
    _assert_same(_updates(ours, grads, standard=True), _updates(theirs, grads, standard=True))


def test_scale_by_rprop_step_sizes_stay_within_their_bounds():
    opt = gx.scale_by_rprop(0.1, eta_minus=0.5, eta_plus=2.0, min_step_size=0.03, max_step_size=0.3)
    state = opt.init({"w": jnp.zeros(2)})
    for g in ([1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [1.0, -1.0]):
        _, state = opt.update({"w": jnp.array(g)}, state)
        sizes = np.asarray(state.step_sizes["w"])
        assert np.all((0.03 <= sizes) & (sizes <= 0.3))
    np.testing.assert_allclose(state.step_sizes["w"], [0.3, 0.03])  # grown to the cap; shrunk to the floor


def test_scale_by_rprop_keeps_the_step_size_after_a_flip_and_moves_again():
    # iRprop-: a flip cancels the step (prev = 0), so the next gradient compares with 0
    opt = gx.scale_by_rprop(0.1)
    state = opt.init({"w": jnp.zeros(1)})
    outputs = []
    for g in (1.0, -1.0, -1.0, -1.0):
        u, state = opt.update({"w": jnp.array([g])}, state)
        outputs.append(float(u["w"][0]))
    np.testing.assert_allclose(outputs, [0.0, 0.0, 0.0, -0.05])


def test_scale_by_rprop_hyperparameters_can_be_set():
    opt = gx.scale_by_rprop(0.1)
    state = opt.init({"w": jnp.zeros(1)})
    state = gx.set_hyperparams(state, eta_plus=3.0)
    for g in (1.0, 1.0):
        _, state = opt.update({"w": jnp.array([g])}, state)
    np.testing.assert_allclose(state.step_sizes["w"], [0.3])


def test_scale_by_rprop_rejects_updates_shaped_unlike_the_state():
    opt = gx.scale_by_rprop(0.1)
    state = opt.init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match="scale_by_rprop: updates and state have different tree structures"):
        opt.update({"v": jnp.zeros(2)}, state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=-1.0), "scale_by_rprop: learning_rate must be a finite number > 0, got learning_rate=-1.0"),
        (dict(learning_rate=0.1, eta_minus=0.0), "scale_by_rprop: eta_minus must be in (0, 1], got eta_minus=0.0"),
        (dict(learning_rate=0.1, min_step_size=-1.0), "scale_by_rprop: min_step_size must be a finite number >= 0"),
    ],
)
def test_scale_by_rprop_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        gx.scale_by_rprop(**kwargs)


def test_scale_by_sign_is_optax_alone_and_inside_optax_chain():
    grads = _grads(3)
    _assert_same(_updates(gx.scale_by_sign(), grads), _updates(optax.scale_by_sign(), grads, standard=True))
    ours = optax.chain(gx.scale_by_sign(), optax.scale(-0.5))
    theirs = optax.chain(optax.scale_by_sign(), optax.scale(-0.5))
    _assert_same(_updates(ours, grads, standard=True), _updates(theirs, grads, standard=True))


def test_scale_by_sign_is_sign_and_says_so():
    out, state = gx.scale_by_sign().update({"w": jnp.array([-2.0, 0.0, 3.0])}, gx.EmptyState())
    np.testing.assert_array_equal(out["w"], [-1.0, 0.0, 1.0])
    assert repr(gx.scale_by_sign()) == "scale_by_sign() = sign()"
