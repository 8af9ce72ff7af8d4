"""Small nested parameter trees, with ``None`` leaves, shared by the wrapper tests."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def nested_params(dtype=jnp.float64, seed=0):
    """A tree with dicts, a list, a scalar and two ``None`` leaves, as Flax-style models have."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype)

    return {
        "encoder": {
            "dense": {"kernel": arr(3, 2), "bias": arr(2)},
            "layer_norm": {"scale": arr(2), "offset": None},
        },
        "decoder": [{"kernel": arr(2, 2), "bias": arr(2)}, None],
        "temperature": arr(),
    }


def gradient_sequence(params, steps, seed=1):
    """``steps`` random trees shaped like ``params`` (``None`` leaves stay ``None``)."""
    rng = np.random.default_rng(seed)
    return [
        jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        for _ in range(steps)
    ]


def run(optimizer, params, grads, jit=False, **extra_args):
    """Updates returned at each step and the final state, starting from ``optimizer.init(params)``."""
    state = optimizer.init(params)
    update = jax.jit(optimizer.update) if jit else optimizer.update
    outputs = []
    for g in grads:
        updates, state = update(g, state, params, **extra_args)
        outputs.append(updates)
    return outputs, state


def assert_trees_equal(actual, expected):
    """Same structure (``None`` leaves included) and bitwise-equal leaves."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def assert_trees_close(actual, expected, rtol=1e-12, atol=0.0):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


def assert_same_but_last_bits_of_scalars(actual, expected):
    """Leaves bitwise equal, but 0-d leaves within a few units in the last place.

    XLA's CPU backend evaluates some operations (division through a refined reciprocal) on
    arrays and on 0-d scalars differently, so a 0-d leaf can round differently once it sits in a
    buffer with others.
    """
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert a.dtype == e.dtype
        if a.ndim == 0:
            np.testing.assert_array_max_ulp(np.asarray(a), np.asarray(e), maxulp=4)
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(e))
