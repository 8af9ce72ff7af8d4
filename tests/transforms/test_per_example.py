"""per_example_global_norm_clip and per_example_layer_norm_clip against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal

import gradxform as gx


def per_example_grads(dtype, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.normal(size=(batch, 3, 2)), dtype),
            "b": jnp.asarray(rng.normal(size=(batch, 2)), dtype),
            "s": jnp.asarray(rng.normal(size=(batch,)), dtype)}


@pytest.mark.parametrize("name", ["per_example_global_norm_clip", "per_example_layer_norm_clip"])
def test_signature_is_optaxs(name):
    ours, theirs = inspect.signature(getattr(gx, name)), inspect.signature(getattr(optax, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("bound", [0.0, 0.5, 1.7, 3.0, jnp.inf])
def test_global_clip_matches_optax_bit_for_bit(dtype, bound):
    grads = per_example_grads(dtype)
    total, clipped = gx.per_example_global_norm_clip(grads, bound)
    expected_total, expected_clipped = optax.per_example_global_norm_clip(grads, bound)
    assert_trees_equal(total, expected_total)
    assert int(clipped) == int(expected_clipped)


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("bound", [0.0, 0.8, 2.5, jnp.inf])
def test_layer_clip_matches_optax_bit_for_bit(uniform, bound):
    grads = per_example_grads(jnp.float32)
    ours = gx.per_example_layer_norm_clip(grads, bound, uniform=uniform)
    theirs = optax.per_example_layer_norm_clip(grads, bound, uniform=uniform)
    assert_trees_equal(ours, theirs)


def test_documented_example_sums_clipped_rows():
    grads = [jnp.array([[0.0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]
    total, clipped = gx.per_example_global_norm_clip(grads, 1.25)
    np.testing.assert_allclose(np.asarray(total[0]), [1.75, 1.75, 1.75])
    assert int(clipped) == 3
    total, clipped = gx.per_example_global_norm_clip(grads, jnp.inf)
    np.testing.assert_allclose(np.asarray(total[0]), [7.0, 7.0, 7.0])
    assert int(clipped) == 0


def test_layer_clip_bounds_the_whole_clipped_gradient_per_example():
    grads = per_example_grads(jnp.float64, batch=1)
    total, _ = gx.per_example_layer_norm_clip(grads, 0.3, uniform=False)
    assert float(gx.global_norm(total)) <= 0.3 + 1e-12


def test_jitted_matches_optax_jitted_bit_for_bit():
    # Compared jitted with jitted: XLA fuses the division differently from eager evaluation.
    grads = per_example_grads(jnp.float32)
    ours = jax.jit(gx.per_example_global_norm_clip)(grads, 1.0)
    assert_trees_equal(ours, jax.jit(optax.per_example_global_norm_clip)(grads, 1.0))


@pytest.mark.parametrize("fn", [gx.per_example_global_norm_clip, gx.per_example_layer_norm_clip])
def test_leaves_without_a_common_batch_axis_are_rejected(fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: every leaf of grads must have the batch on axis 0"):
        fn({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}, 1.0)
    with pytest.raises(ValueError, match="batch on axis 0"):
        fn({"a": jnp.ones((3, 2)), "b": jnp.ones(())}, 1.0)


def test_a_negative_bound_is_rejected():
    with pytest.raises(ValueError, match=r"per_example_global_norm_clip: l2_norm_clip must be in \[0.0, inf\]"):
        gx.per_example_global_norm_clip(per_example_grads(jnp.float32), -1.0)
    with pytest.raises(ValueError, match="per_example_layer_norm_clip: global_l2_norm_clip"):
        gx.per_example_layer_norm_clip(per_example_grads(jnp.float32), -1.0)
    with pytest.raises(TypeError, match="per_example_layer_norm_clip: uniform must be True or False"):
        gx.per_example_layer_norm_clip(per_example_grads(jnp.float32), 1.0, uniform="yes")
