"""apply_updates: None params and None leaves as Optax treats them."""
import jax.numpy as jnp
import numpy as np
import optax

import gradxform as gx


def test_apply_updates_to_none_params_returns_none_as_optax_does():
    updates = {"w": jnp.ones(3)}
    assert optax.apply_updates(None, updates) is None
    assert gx.apply_updates(None, updates) is None


def test_apply_updates_keeps_a_none_param_none_whatever_its_update():
    params = {"w": jnp.ones(2), "frozen": None}
    for updates in ({"w": jnp.ones(2), "frozen": None}, {"w": jnp.ones(2), "frozen": jnp.ones(2)}):
        ours, theirs = gx.apply_updates(params, updates), optax.apply_updates(params, updates)
        assert ours["frozen"] is None and theirs["frozen"] is None
        np.testing.assert_array_equal(ours["w"], theirs["w"])
