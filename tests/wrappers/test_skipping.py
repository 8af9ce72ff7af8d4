"""skip_large_updates (and skip_not_finite) as MultiSteps's should_skip_update_fn, against Optax."""
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params

import gradxform as gx


@pytest.mark.parametrize("name", ["skip_large_updates", "skip_not_finite"])
def test_signature_is_optaxs(name):
    ours = inspect.signature(getattr(gx, name)).parameters.values()
    theirs = inspect.signature(getattr(optax, name)).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


def test_should_skip_update_function_is_a_protocol_with_optaxs_call():
    call = inspect.signature(gx.ShouldSkipUpdateFunction.__call__).parameters
    assert list(call) == list(inspect.signature(optax.ShouldSkipUpdateFunction.__call__).parameters)
    gx.MultiSteps(gx.sgd(0.1), 2, should_skip_update_fn=gx.skip_not_finite)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("bound", [0.5, 4.0, 1e9, jnp.inf])
def test_results_match_optax(dtype, bound):
    params = nested_params(dtype)
    for g in gradient_sequence(params, 3) + [jax.tree.map(lambda x: x * jnp.nan, params)]:
        skip, info = gx.skip_large_updates(g, jnp.int32(0), None, bound)
        expected_skip, expected_info = optax.skip_large_updates(g, jnp.int32(0), None, bound)
        assert skip.dtype == jnp.bool_ and skip.shape == ()
        assert_trees_equal((skip, info), (expected_skip, expected_info))


@pytest.mark.parametrize("fn_name", ["skip_large_updates", "skip_not_finite"])
def test_multisteps_skips_the_same_micro_batches_as_optax(fn_name):
    params = nested_params(jnp.float32)
    grads = gradient_sequence(params, 12)
    grads[3] = jax.tree.map(lambda x: 100.0 * x, grads[3])
    grads[6] = jax.tree.map(lambda x: x.at[...].set(jnp.inf) if x.ndim == 0 else x, grads[6])

    def skip(lib):
        fn = getattr(lib, fn_name)
        return functools.partial(fn, max_squared_norm=50.0) if fn_name == "skip_large_updates" else fn

    ours = gx.MultiSteps(gx.sgd(0.1, momentum=0.9), 2, should_skip_update_fn=skip(gx),
                         accumulator_dtype=jnp.float32)
    theirs = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), 2, should_skip_update_fn=skip(optax))
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    update_ours, update_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for g in grads:
        u_ours, s_ours = update_ours(g, s_ours, params)
        with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
            u_theirs, s_theirs = update_theirs(g, s_theirs, params)
        assert_trees_equal(u_ours, u_theirs)
        assert_trees_equal(s_ours.skip_state, s_theirs.skip_state)
        assert int(s_ours.mini_step) == int(s_theirs.mini_step)
        assert int(s_ours.gradient_step) == int(s_theirs.gradient_step)
    assert int(s_ours.gradient_step) < 6  # some micro-batches were skipped


def test_a_non_positive_bound_is_rejected():
    with pytest.raises(ValueError, match=r"skip_large_updates: max_squared_norm must be in \(0.0, inf\]"):
        gx.skip_large_updates(jnp.ones(2), jnp.int32(0), None, 0.0)
    with pytest.raises(TypeError, match="skip_large_updates: max_squared_norm must be a number"):
        gx.skip_large_updates(jnp.ones(2), jnp.int32(0), None, "big")


def test_the_squared_norm_sums_every_leaf():
    _, info = gx.skip_large_updates({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, 0, None, 26.0)
    np.testing.assert_array_equal(np.asarray(info["norm_squared"]), 25.0)
    assert not bool(info["should_skip"])
