"""selective_transform against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence

import gradxform as gx


def params_tree(dtype=jnp.float32):
    rng = np.random.default_rng(0)
    return {"encoder": {"w": jnp.asarray(rng.normal(size=(3, 2)), dtype), "b": jnp.asarray(rng.normal(size=2), dtype)},
            "head": jnp.asarray(rng.normal(size=(2,)), dtype)}


def test_signature_is_optaxs():
    ours = inspect.signature(gx.selective_transform).parameters.values()
    theirs = inspect.signature(optax.selective_transform).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


@pytest.mark.parametrize("mask", [
    {"encoder": {"w": True, "b": True}, "head": False},
    {"encoder": {"w": False, "b": True}, "head": False},
    False,
])
def test_matches_optax_for_twenty_float32_steps_in_chains(mask):
    params = params_tree()
    ours = gx.chain(gx.clip(1.0), gx.selective_transform(gx.adam(0.1), freeze_mask=mask))
    theirs = optax.chain(optax.clip(1.0), optax.selective_transform(optax.adam(0.1), freeze_mask=mask))
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    update_ours, update_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for g in gradient_sequence(params, 20):
        u_ours, s_ours = update_ours(g, s_ours, params)
        with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
            u_theirs, s_theirs = update_theirs(g, s_theirs, params)
        assert_trees_equal(u_ours, u_theirs)


def test_frozen_parameters_get_zero_updates_and_no_moments():
    params = params_tree()
    mask = {"encoder": {"w": True, "b": True}, "head": False}
    opt = gx.selective_transform(gx.sgd(0.1, momentum=0.9), freeze_mask=mask)
    state = opt.init(params)
    updates, state = opt.update(jax.tree.map(jnp.ones_like, params), state, params)
    assert_trees_equal(updates["encoder"], jax.tree.map(jnp.zeros_like, params["encoder"]))
    np.testing.assert_allclose(np.asarray(updates["head"]), -0.1)
    assert set(state.inner_states) == {"train", "freeze"}
    momentum = state.inner_states["train"].inner_state[0].mu
    assert isinstance(momentum["encoder"]["w"], gx.MaskedNode)


def test_inside_optax_chain():
    params = params_tree()
    opt = optax.chain(optax.scale(2.0), gx.selective_transform(gx.sgd(1.0), freeze_mask=True))
    updates, _ = opt.update(params, opt.init(params), params)
    assert all(float(jnp.abs(u).max()) == 0.0 for u in jax.tree.leaves(updates))


def test_a_mask_that_is_not_bools_is_rejected():
    with pytest.raises(TypeError, match="selective_transform: freeze_mask must be True or False"):
        gx.selective_transform(gx.sgd(0.1), freeze_mask={"w": "yes"})
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        gx.selective_transform(gx.sgd(0.1), True)  # freeze_mask is keyword only, as in Optax
