"""set_to_zero, stateless, stateless_with_tree_map, init_empty_state: as Optax's."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(3.0, jnp.float32), "frozen": None}
GRADS = {"w": jnp.array([0.5, 0.25]), "b": jnp.array(-1.0, jnp.float32), "frozen": None}


def test_init_empty_state_ignores_the_params():
    assert gx.init_empty_state(PARAMS) == gx.EmptyState() == gx.init_empty_state(None)


def test_set_to_zero_zeroes_updates_keeping_shapes_dtypes_and_none():
    opt = gx.set_to_zero()
    updates, state = opt.update(GRADS, opt.init(PARAMS))
    assert updates["frozen"] is None and state == gx.EmptyState()
    for key in ("w", "b"):
        assert updates[key].dtype == GRADS[key].dtype and updates[key].shape == GRADS[key].shape
        np.testing.assert_array_equal(updates[key], 0)
    theirs, _ = optax.set_to_zero().update(GRADS, optax.set_to_zero().init(PARAMS))
    assert jax.tree.structure(updates) == jax.tree.structure(theirs)


def test_set_to_zero_freezes_a_partition_inside_a_chain():
    opt = gx.partition({"train": gx.sgd(0.1), "frozen": gx.set_to_zero()}, {"w": "train", "b": "frozen"})
    params = {"w": PARAMS["w"], "b": PARAMS["b"]}
    updates, _ = opt.update({"w": GRADS["w"], "b": GRADS["b"]}, opt.init(params), params)
    np.testing.assert_array_equal(gx.apply_updates(params, updates)["b"], params["b"])
    assert repr(gx.set_to_zero()) == "set_to_zero()"


def test_stateless_applies_a_function_of_updates_and_params():
    opt = gx.stateless(lambda g, p: jax.tree.map(lambda u, q: u * q, g, p))
    params, grads = {"w": PARAMS["w"]}, {"w": GRADS["w"]}
    updates, state = opt.update(grads, opt.init(params), params)
    np.testing.assert_array_equal(updates["w"], grads["w"] * params["w"])
    assert state == gx.EmptyState()
    seen = []
    gx.stateless(lambda g, p: seen.append(p) or g).update(grads, gx.EmptyState())
    assert seen == [None]


def test_stateless_with_tree_map_maps_leaf_by_leaf_with_or_without_params():
    opt = gx.stateless_with_tree_map(lambda g, p: g if p is None else g + p)
    params, grads = {"w": PARAMS["w"], "b": PARAMS["b"]}, {"w": GRADS["w"], "b": GRADS["b"]}
    with_params, _ = opt.update(grads, opt.init(params), params)
    without, _ = opt.update(grads, opt.init(params))
    theirs = optax.stateless_with_tree_map(lambda g, p: g if p is None else g + p)
    expected, _ = theirs.update(grads, theirs.init(params), params)
    for key in grads:
        np.testing.assert_array_equal(with_params[key], expected[key])
        np.testing.assert_array_equal(without[key], grads[key])


def test_stateless_transformations_sit_in_a_chain_and_take_extra_arguments():
    opt = gx.chain(gx.stateless(lambda g, p: g), gx.stateless_with_tree_map(lambda g, p: 2 * g), gx.scale(-1.0))
    params, grads = {"w": PARAMS["w"]}, {"w": GRADS["w"]}
    updates, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    np.testing.assert_array_equal(updates["w"], -2 * grads["w"])


@pytest.mark.parametrize("factory", [gx.stateless, gx.stateless_with_tree_map])
def test_a_function_that_is_not_callable_is_an_error(factory):
    with pytest.raises(TypeError, match=rf"{factory.__name__}: f must be a function, got int 3"):
        factory(3)
