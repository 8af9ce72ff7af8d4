"""periodic_update against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import optax
import pytest
from wrapper_trees import assert_trees_equal, nested_params

import gradxform as gx


def test_signature_is_optaxs():
    ours = inspect.signature(gx.periodic_update).parameters.values()
    theirs = inspect.signature(optax.periodic_update).parameters.values()
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


@pytest.mark.parametrize("period", [1, 3])
def test_the_slow_copy_follows_optaxs_for_ten_steps(period):
    online = nested_params(jnp.float32, seed=0)
    ours = theirs = nested_params(jnp.float32, seed=1)
    for step in range(10):
        online = jax.tree.map(lambda p: p + 1.0, online)
        ours = jax.jit(gx.periodic_update, static_argnums=3)(online, ours, jnp.int32(step), period)
        theirs = optax.periodic_update(online, theirs, jnp.int32(step), period)
        assert_trees_equal(ours, theirs)
        assert_trees_equal(ours, online) if step % period == 0 else None


def test_bad_arguments_are_rejected():
    params = nested_params(jnp.float32)
    with pytest.raises(ValueError, match="periodic_update: update_period must be an int >= 1, got update_period=0"):
        gx.periodic_update(params, params, 0, 0)
    with pytest.raises(TypeError, match="periodic_update: update_period must be an int"):
        gx.periodic_update(params, params, 0, 2.5)
    with pytest.raises(ValueError, match="periodic_update: new_tensors and old_tensors have different tree"):
        gx.periodic_update(params, {"a": jnp.ones(2)}, 0, 2)
