"""normalize (gradxform/transforms/normalization.py) against optax.contrib.normalize."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import assert_same_bits, eager_beside_optax
from problems import PROBLEMS
from wrapper_trees import assert_trees_equal

import gradxform as gx


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.complex64])
def test_normalize_matches_optax_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    updates = {"w": jnp.asarray(rng.normal(size=(3, 4)), dtype), "b": jnp.asarray(rng.normal(size=(2,)), dtype)}
    ours, _ = gx.normalize().update(updates, gx.normalize().init(updates))
    with jax.numpy_dtype_promotion("standard"):  # Optax divides a complex update by a real norm
        theirs, _ = optax.contrib.normalize().update(updates, optax.contrib.normalize().init(updates))
    assert_trees_equal(ours, theirs)
    np.testing.assert_allclose(float(gx.global_norm(ours)), 1.0, rtol=1e-6)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_normalized_descent_matches_optax_bit_for_bit_in_float32(problem):
    def build(lib):
        normalize = gx.normalize() if lib is gx else optax.contrib.normalize()
        return lib.chain(normalize, lib.scale(-1e-2))

    ours, theirs = eager_beside_optax(build, problem, steps=20)
    assert_same_bits(ours, theirs)


def test_a_zero_update_stays_zero_where_optax_gives_nan():
    updates, _ = gx.normalize().update(jnp.zeros(3), gx.normalize().init(jnp.zeros(3)))
    np.testing.assert_array_equal(np.asarray(updates), np.zeros(3))
    theirs, _ = optax.contrib.normalize().update(jnp.zeros(3), optax.contrib.normalize().init(jnp.zeros(3)))
    assert np.isnan(np.asarray(theirs)).all()
