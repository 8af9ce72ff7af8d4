"""keep_params_nonnegative against Optax's."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal

import gradxform as gx


def test_takes_no_arguments_as_optax():
    assert gx.keep_params_nonnegative.__name__ == "keep_params_nonnegative"
    gx.keep_params_nonnegative()
    optax.keep_params_nonnegative()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_matches_optax_inside_a_chain_for_twenty_steps(dtype):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.uniform(0, 1, size=(3, 2)), dtype), "b": jnp.asarray(0.2, dtype)}
    ours = gx.chain(gx.sgd(0.5), gx.keep_params_nonnegative())
    theirs = optax.chain(optax.sgd(0.5), optax.keep_params_nonnegative())
    p_ours, p_theirs = params, params
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for _ in range(20):
        g = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), dtype), params)
        u_ours, s_ours = ours.update(g, s_ours, p_ours)
        u_theirs, s_theirs = theirs.update(g, s_theirs, p_theirs)
        assert_trees_equal(u_ours, u_theirs)
        p_ours, p_theirs = gx.apply_updates(p_ours, u_ours), optax.apply_updates(p_theirs, u_theirs)
        assert all(bool(jnp.all(p >= 0)) for p in jax.tree.leaves(p_ours))


def test_an_update_that_would_cross_zero_lands_on_zero():
    params = jnp.array([1.0, 0.5, 0.0, -1.0])
    updates, _ = gx.keep_params_nonnegative().update(
        jnp.array([-0.5, -2.0, -1.0, 0.5]), gx.keep_params_nonnegative().init(params), params)
    np.testing.assert_array_equal(np.asarray(updates), [-0.5, -0.5, 0.0, 1.0])


def test_works_inside_optax_chain():
    params = {"w": jnp.array([0.1, 2.0])}
    opt = optax.chain(optax.sgd(1.0), gx.keep_params_nonnegative())
    updates, _ = opt.update({"w": jnp.array([1.0, 1.0])}, opt.init(params), params)
    np.testing.assert_array_equal(np.asarray(updates["w"]), [-0.1, -1.0])


def test_needs_params():
    opt = gx.keep_params_nonnegative()
    with pytest.raises(ValueError, match="keep_params_nonnegative: update\\(\\) needs params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))
