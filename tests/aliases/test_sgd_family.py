"""noisy_sgd: Optax's seed= keyword, a traced key, and a key placed like the rest of the state."""
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.25, -1.0])}
GRADS = {"w": jnp.array([[0.1, 0.2], [-0.3, 0.4]]), "b": jnp.array([1.0, 2.0])}


def _first_update(opt):
    return opt.update(GRADS, opt.init(PARAMS), PARAMS)[0]


def test_noisy_sgd_seed_keyword_is_the_key_and_warns_as_optax_does():
    with pytest.warns(DeprecationWarning, match=r"noisy_sgd: seed= is deprecated"):
        ours = _first_update(gx.noisy_sgd(0.1, seed=4))
    with pytest.warns(DeprecationWarning), jax.numpy_dtype_promotion("standard"):
        theirs = _first_update(optax.noisy_sgd(0.1, seed=4))
    for k in GRADS:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-15)
        np.testing.assert_array_equal(ours[k], _first_update(gx.noisy_sgd(0.1, key=4))[k])


def test_noisy_sgd_with_both_seed_and_key_raises():
    with pytest.raises(ValueError, match=r"noisy_sgd: give key or seed, not both"):
        gx.noisy_sgd(0.1, key=1, seed=2)


def test_noisy_sgd_built_under_jit_from_a_traced_int_key_matches_the_int_key():
    traced = jax.jit(lambda key: _first_update(gx.noisy_sgd(0.1, key=key)))(jnp.int32(9))
    eager = _first_update(gx.noisy_sgd(0.1, key=9))
    for k in GRADS:
        np.testing.assert_allclose(traced[k], eager[k], rtol=1e-14)


SHARDED_KEY_CHECK = textwrap.dedent("""
    import jax, jax.numpy as jnp
    import gradxform as gx
    opt = gx.noisy_sgd(1.0, key=0)  # built outside the mesh, as a module-level optimizer is
    mesh = jax.make_mesh((8,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
    with jax.set_mesh(mesh):
        sharding = jax.sharding.NamedSharding(mesh, jax.P(None, "x"))
        params = jnp.zeros((2, 8, 4), dtype=jnp.float32, out_sharding=sharding)
        state0 = opt.init(params)
        _, state1 = opt.update(params, state0, params)
        state2 = jax.jit(opt.init)(params)
        types = [jax.tree.leaves(jax.tree.map(jax.typeof, s)) for s in (state0, state1, state2)]
        print("same" if types[0] == types[1] == types[2] else f"differ: {types}")
""")


@pytest.mark.slow
def test_noisy_sgd_state_key_is_placed_on_the_mesh_like_every_other_state_leaf():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SHARDED_KEY_CHECK], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "same"
