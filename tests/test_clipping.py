"""Clipping by value, by block RMS, by per-leaf norm and by global norm."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

GRADS = {"w": jnp.array([[3.0, -4.0], [0.5, 12.0]]), "b": jnp.array([0.1, -0.2])}


def _np(tree):
    return {k: np.asarray(v) for k, v in tree.items()}


def _optax(transform, grads):
    with jax.numpy_dtype_promotion("standard"):
        out, _ = transform.update(grads, transform.init(grads))
    return out


# --------------------------------------------------------------------------------------------
# clip
# --------------------------------------------------------------------------------------------


def test_clip_bounds_every_element_to_the_interval():
    out, _ = gx.clip(1.0).update(GRADS, gx.EmptyState())
    for k, g in _np(GRADS).items():
        np.testing.assert_array_equal(out[k], np.minimum(np.maximum(g, -1.0), 1.0))


def test_clip_matches_optax_exactly():
    grads = {k: v.astype(jnp.float32) for k, v in GRADS.items()}
    ours, _ = gx.clip(0.3).update(grads, gx.EmptyState())
    theirs = _optax(optax.clip(0.3), grads)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_clip_passes_none_leaves_through():
    out, _ = gx.clip(1.0).update({"a": None, "b": jnp.array([2.0])}, gx.EmptyState())
    assert out["a"] is None
    np.testing.assert_array_equal(out["b"], [1.0])


def test_clip_rejects_a_negative_bound():
    with pytest.raises(ValueError, match=re.escape("clip: max_delta must be a finite number >= 0, got max_delta=-1.0")):
        gx.clip(-1.0)


# --------------------------------------------------------------------------------------------
# clip_by_block_rms
# --------------------------------------------------------------------------------------------


def test_clip_by_block_rms_divides_each_leaf_by_its_rms_over_the_threshold():
    out, _ = gx.clip_by_block_rms(1.0).update(GRADS, gx.EmptyState())
    for k, g in _np(GRADS).items():
        rms = np.sqrt(np.mean(g**2))
        np.testing.assert_allclose(out[k], g / max(1.0, rms / 1.0), rtol=1e-15)
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(out["w"]) ** 2)), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(out["b"], GRADS["b"])  # rms 0.16 < 1: unchanged


def test_clip_by_block_rms_matches_optax_exactly():
    grads = {k: v.astype(jnp.float32) for k, v in GRADS.items()}
    ours, _ = gx.clip_by_block_rms(0.15).update(grads, gx.EmptyState())
    theirs = _optax(optax.clip_by_block_rms(0.15), grads)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_clip_by_block_rms_rejects_a_zero_threshold():
    with pytest.raises(ValueError, match=re.escape("clip_by_block_rms: threshold must be a finite number > 0, got threshold=0")):
        gx.clip_by_block_rms(0)


# --------------------------------------------------------------------------------------------
# clip_by_norm (per leaf)
# --------------------------------------------------------------------------------------------


def test_clip_by_norm_clips_each_leaf_to_the_bound_independently():
    out, _ = gx.clip_by_norm(5.0).update(GRADS, gx.EmptyState())
    w, b = _np(GRADS)["w"], _np(GRADS)["b"]
    w_norm = np.linalg.norm(w)  # 13.37... > 5
    np.testing.assert_allclose(out["w"], w / w_norm * 5.0, rtol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out["w"])), 5.0, rtol=1e-15)
    np.testing.assert_array_equal(out["b"], b)  # norm 0.22 < 5: unchanged


def test_clip_by_norm_of_a_single_leaf_equals_clip_by_global_norm():
    g = {"w": GRADS["w"]}
    per_leaf, _ = gx.clip_by_norm(2.0).update(g, gx.EmptyState())
    whole, _ = gx.clip_by_global_norm(2.0).update(g, gx.clip_by_global_norm(2.0).init(g))
    np.testing.assert_array_equal(per_leaf["w"], whole["w"])


def test_clip_by_norm_rejects_a_negative_bound():
    with pytest.raises(ValueError, match=re.escape("clip_by_norm: max_norm must be a finite number > 0, got max_norm=-2.0")):
        gx.clip_by_norm(-2.0)


# --------------------------------------------------------------------------------------------
# clip_by_global_norm
# --------------------------------------------------------------------------------------------


def test_clip_by_global_norm_scales_every_leaf_by_the_same_factor():
    clipper = gx.clip_by_global_norm(2.0)
    out, _ = clipper.update(GRADS, clipper.init(GRADS))
    g = _np(GRADS)
    norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    for k in g:
        np.testing.assert_allclose(out[k], g[k] / norm * 2.0, rtol=1e-15)
    np.testing.assert_allclose(gx.global_norm(out), 2.0, rtol=1e-15)


def test_clip_by_global_norm_leaves_small_updates_unchanged():
    clipper = gx.clip_by_global_norm(100.0)
    out, _ = clipper.update(GRADS, clipper.init(GRADS))
    for k in GRADS:
        np.testing.assert_array_equal(out[k], GRADS[k])


def test_clip_by_global_norm_records_the_norm_before_clipping_as_float32():
    clipper = gx.clip_by_global_norm(1.0)
    state = clipper.init(GRADS)
    assert isinstance(state, gx.ClipByGlobalNormState)
    assert state.norm.dtype == jnp.float32 and state.norm.shape == () and state.norm == 0
    _, state = jax.jit(clipper.update)(GRADS, state)
    g = _np(GRADS)
    expected = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    assert state.norm.dtype == jnp.float32
    np.testing.assert_allclose(state.norm, expected, rtol=1e-7)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))


def test_clip_by_global_norm_inside_chain_exposes_the_norm_by_name():
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.scale_by_learning_rate(0.1))
    _, state = opt.update({"x": jnp.array([3.0, 4.0])}, opt.init({"x": jnp.zeros(2)}))
    assert float(state.parts[0].norm) == 5.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_clip_by_global_norm_matches_optax_exactly(dtype):
    rng = np.random.default_rng(0)
    grads = {"a": jnp.asarray(rng.normal(size=(7, 5)), dtype), "b": jnp.asarray(rng.normal(size=3), dtype)}
    clipper = gx.clip_by_global_norm(1.5)
    ours, state = clipper.update(grads, clipper.init(grads))
    theirs = _optax(optax.clip_by_global_norm(1.5), grads)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])
    np.testing.assert_array_equal(state.norm, optax.tree.norm(grads).astype(jnp.float32))


def test_clip_by_global_norm_adds_leaves_of_mixed_precision_under_strict_promotion():
    grads = {"a": jnp.array([3.0], jnp.float32), "b": jnp.array([4.0], jnp.float64)}
    clipper = gx.clip_by_global_norm(1.0)
    out, state = clipper.update(grads, clipper.init(grads))
    assert out["a"].dtype == jnp.float32 and out["b"].dtype == jnp.float64
    np.testing.assert_allclose(state.norm, 5.0)
    np.testing.assert_allclose(out["b"], [0.8])


def test_clip_by_global_norm_uses_the_magnitude_of_complex_leaves():
    grads = {"z": jnp.array([3.0 + 4.0j])}
    clipper = gx.clip_by_global_norm(1.0)
    out, state = clipper.update(grads, clipper.init(grads))
    np.testing.assert_allclose(state.norm, 5.0)
    np.testing.assert_allclose(out["z"], [0.6 + 0.8j])


def test_clip_by_global_norm_passes_none_leaves_through():
    grads = {"a": None, "b": jnp.array([6.0, 8.0])}
    clipper = gx.clip_by_global_norm(5.0)
    out, state = clipper.update(grads, clipper.init(grads))
    assert out["a"] is None
    np.testing.assert_allclose(out["b"], [3.0, 4.0])
    np.testing.assert_allclose(state.norm, 10.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_clip_by_global_norm_rejects_a_bound_that_is_not_positive_and_finite(bad):
    with pytest.raises(ValueError, match=re.escape(f"clip_by_global_norm: max_norm must be a finite number > 0, got max_norm={bad!r}")):
        gx.clip_by_global_norm(bad)


def test_clip_by_global_norm_rejects_a_bound_that_is_not_a_number():
    with pytest.raises(TypeError, match="clip_by_global_norm: max_norm must be a number"):
        gx.clip_by_global_norm("1.0")
