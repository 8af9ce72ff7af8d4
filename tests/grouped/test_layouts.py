"""flatten: the inner transformation runs on one flat buffer per dtype, with identical results."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wrapper_trees import assert_same_but_last_bits_of_scalars, gradient_sequence

import gradxform as gx


def mixed_params():
    """float64 and float32 leaves, a scalar, an empty array and a None, in nested containers."""
    rng = np.random.default_rng(3)
    return {
        "a": {"kernel": jnp.asarray(rng.normal(size=(3, 2))), "bias": jnp.asarray(rng.normal(size=2))},
        "b": [jnp.asarray(rng.normal(size=(2, 2)), jnp.float32), None, jnp.zeros((0, 3))],
        "scale": jnp.asarray(rng.normal(), jnp.float32),
        "offset": jnp.asarray(rng.normal()),
    }


OPTIMIZERS = {
    "adam": lambda: gx.adam(0.1),
    "sgd_momentum": lambda: gx.sgd(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: gx.rmsprop(0.01, centered=True, momentum=0.5),
}


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_flatten_gives_the_same_trajectory_as_the_ungrouped_optimizer(make):
    params = mixed_params()
    grads = gradient_sequence(params, 5)
    flat_opt, opt = gx.flatten(make()), make()
    flat_state, state = flat_opt.init(params), opt.init(params)
    flat_params = plain_params = params
    for g in grads:
        flat_updates, flat_state = jax.jit(flat_opt.update)(g, flat_state, flat_params)
        updates, state = jax.jit(opt.update)(g, state, plain_params)
        assert_same_but_last_bits_of_scalars(flat_updates, updates)
        flat_params = gx.apply_updates(flat_params, flat_updates)
        plain_params = gx.apply_updates(plain_params, updates)


def test_flatten_keeps_one_buffer_per_dtype_in_the_state():
    state = gx.flatten(gx.scale_by_momentum(0.9)).init(mixed_params())
    assert set(state.inner.mu) == {"float64", "float32"}
    assert state.inner.mu["float64"].shape == (3 * 2 + 2 + 0 + 1,)
    assert state.inner.mu["float32"].shape == (2 * 2 + 1,)


def test_flatten_passes_the_step_of_an_enclosing_chain():
    params = mixed_params()
    inner = [gx.scale_by_momentum(0.9, ema=True), gx.bias_correction(0.9)]
    grads = gradient_sequence(params, 3)
    state_flat, state = gx.chain(gx.flatten(inner)).init(params), gx.chain(*inner).init(params)
    for g in grads:
        a, state_flat = gx.chain(gx.flatten(inner)).update(g, state_flat, params)
        b, state = gx.chain(*inner).update(g, state, params)
        assert_same_but_last_bits_of_scalars(a, b)
