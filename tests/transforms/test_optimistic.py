"""scale_by_optimistic_gradient: Optax's same-named transform, alone and inside optax.chain."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]], jnp.float32), "b": jnp.array(0.25, jnp.float32)}


def _grads(steps, seed=0, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    return [{"w": jnp.asarray(rng.normal(size=(2, 2)), dtype), "b": jnp.asarray(rng.normal(), dtype)}
            for _ in range(steps)]


def _updates(opt, grads, standard=False):
    params = jax.tree.map(lambda p, g: p.astype(g.dtype), PARAMS, grads[0])
    state, out = opt.init(params), []
    for g in grads:
        with jax.numpy_dtype_promotion("standard" if standard else "strict"):
            updates, state = opt.update(g, state, params)
        out.append(updates)
    return out


def _assert_same(ours, theirs):
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]))


ARGS = [pytest.param({}, id="defaults"), pytest.param(dict(alpha=0.3, beta=0.7), id="kwargs"),
        pytest.param(dict(alpha=2e-3, beta=0.1), id="small")]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kwargs", ARGS)
def test_alone_is_optax_bit_for_bit(kwargs, dtype):
    grads = _grads(6, dtype=dtype)
    _assert_same(_updates(gx.scale_by_optimistic_gradient(**kwargs), grads),
                 _updates(optax.scale_by_optimistic_gradient(**kwargs), grads, standard=True))


@pytest.mark.parametrize("kwargs", ARGS)
def test_inside_optax_chain_is_optax_bit_for_bit(kwargs):
    grads = _grads(6, seed=2)
    ours = optax.chain(optax.scale_by_adam(), gx.scale_by_optimistic_gradient(**kwargs), optax.scale(-0.1))
    theirs = optax.chain(optax.scale_by_adam(), optax.scale_by_optimistic_gradient(**kwargs), optax.scale(-0.1))
    _assert_same(_updates(ours, grads, standard=True), _updates(theirs, grads, standard=True))


def test_first_update_uses_the_gradient_as_its_own_predecessor():
    opt = gx.scale_by_optimistic_gradient(alpha=0.5, beta=2.0)
    state = opt.init({"w": jnp.zeros(1)})
    first, state = opt.update({"w": jnp.array([4.0])}, state)
    np.testing.assert_allclose(first["w"], [2.0])  # 2.5 * 4 - 2 * 4
    second, _ = opt.update({"w": jnp.array([1.0])}, state)
    np.testing.assert_allclose(second["w"], [2.5 - 8.0])
    np.testing.assert_array_equal(state.previous_gradient["w"], [4.0])


def test_alpha_and_beta_can_be_set_in_the_state():
    opt = gx.chain(gx.scale_by_optimistic_gradient())
    state = gx.set_hyperparams(opt.init({"w": jnp.zeros(1)}), alpha=2.0, beta=0.0)
    out, _ = opt.update({"w": jnp.array([3.0])}, state)
    np.testing.assert_allclose(out["w"], [6.0])


def test_rejects_a_non_finite_coefficient_and_mismatched_trees():
    with pytest.raises(ValueError, match=re.escape("scale_by_optimistic_gradient: beta must be a finite number")):
        gx.scale_by_optimistic_gradient(beta=float("nan"))
    opt = gx.scale_by_optimistic_gradient()
    with pytest.raises(ValueError, match="scale_by_optimistic_gradient: updates and state have different"):
        opt.update({"v": jnp.zeros(1)}, opt.init({"w": jnp.zeros(1)}))
