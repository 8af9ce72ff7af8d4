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


def _apply(transform, grads, **extra_args):
    """One update from the transformation's initial state."""
    out, _ = transform.update(grads, transform.init(grads), **extra_args)
    return out


def _optax(transform, grads):
    with jax.numpy_dtype_promotion("standard"):
        out, _ = transform.update(grads, transform.init(grads))
    return out


# --------------------------------------------------------------------------------------------
# clip
# --------------------------------------------------------------------------------------------


def test_clip_bounds_every_element_to_the_interval():
    out = _apply(gx.clip(1.0), GRADS)
    for k, g in _np(GRADS).items():
        np.testing.assert_array_equal(out[k], np.minimum(np.maximum(g, -1.0), 1.0))


def test_clip_matches_optax_exactly():
    grads = {k: v.astype(jnp.float32) for k, v in GRADS.items()}
    ours = _apply(gx.clip(0.3), grads)
    theirs = _optax(optax.clip(0.3), grads)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_clip_passes_none_leaves_through():
    out = _apply(gx.clip(1.0), {"a": None, "b": jnp.array([2.0])})
    assert out["a"] is None
    np.testing.assert_array_equal(out["b"], [1.0])


def test_clip_rejects_a_negative_bound():
    with pytest.raises(ValueError, match=re.escape("clip: max_delta must be a finite number >= 0, got max_delta=-1.0")):
        gx.clip(-1.0)


# --------------------------------------------------------------------------------------------
# clip_by_block_rms
# --------------------------------------------------------------------------------------------


def test_clip_by_block_rms_divides_each_leaf_by_its_rms_over_the_threshold():
    out = _apply(gx.clip_by_block_rms(1.0), GRADS)
    for k, g in _np(GRADS).items():
        rms = np.sqrt(np.mean(g**2))
        np.testing.assert_allclose(out[k], g / max(1.0, rms / 1.0), rtol=1e-15)
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(out["w"]) ** 2)), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(out["b"], GRADS["b"])  # rms 0.16 < 1: unchanged


@pytest.mark.slow
def test_clip_by_block_rms_matches_optax_exactly():
    grads = {k: v.astype(jnp.float32) for k, v in GRADS.items()}
    ours = _apply(gx.clip_by_block_rms(0.15), grads)
    theirs = _optax(optax.clip_by_block_rms(0.15), grads)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_clip_by_block_rms_rejects_a_zero_threshold():
    message = "clip_by_block_rms: threshold must be a finite number > 0, got threshold=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        gx.clip_by_block_rms(0)


# --------------------------------------------------------------------------------------------
# clip_by_norm (per leaf)
# --------------------------------------------------------------------------------------------


def test_clip_by_norm_clips_each_leaf_to_the_bound_independently():
    out = _apply(gx.clip_by_norm(5.0), GRADS)
    w, b = _np(GRADS)["w"], _np(GRADS)["b"]
    w_norm = np.linalg.norm(w)  # 13.37... > 5
    np.testing.assert_allclose(out["w"], w / w_norm * 5.0, rtol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out["w"])), 5.0, rtol=1e-15)
    np.testing.assert_array_equal(out["b"], b)  # norm 0.22 < 5: unchanged


def test_clip_by_norm_of_a_single_leaf_equals_clip_by_global_norm():
    g = {"w": GRADS["w"]}
    per_leaf = _apply(gx.clip_by_norm(2.0), g)
    whole = _apply(gx.clip_by_global_norm(2.0), g)
    np.testing.assert_array_equal(per_leaf["w"], whole["w"])


def test_clip_by_norm_rejects_a_negative_bound():
    message = "clip_by_norm: max_norm must be a finite number > 0, got max_norm=-2.0"
    with pytest.raises(ValueError, match=re.escape(message)):
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
    assert isinstance(state[0], gx.ClipByGlobalNormState)  # the one link of its own chain
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
    assert float(state[0].norm) == 5.0


@pytest.mark.slow
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
    message = f"clip_by_global_norm: max_norm must be a finite number > 0, got max_norm={bad!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        gx.clip_by_global_norm(bad)


def test_clip_by_global_norm_rejects_a_bound_that_is_not_a_number():
    with pytest.raises(TypeError, match="clip_by_global_norm: max_norm must be a number"):
        gx.clip_by_global_norm("1.0")


def test_clip_by_global_norm_counts_the_steps_it_clipped():
    clipper = gx.clip_by_global_norm(1.0)
    state = clipper.init(GRADS)
    assert (state.clipped_steps.dtype, state.steps.dtype) == (jnp.int32, jnp.int32)
    assert (int(state.clipped_steps), int(state.steps)) == (0, 0)
    update = jax.jit(clipper.update)
    small = jax.tree.map(lambda g: 1e-3 * g, GRADS)  # global norm 0.013 < 1
    for grads in (GRADS, small, GRADS, small, small):
        _, state = update(grads, state)
    assert (int(state.clipped_steps), int(state.steps)) == (2, 5)
    fraction = state.clipped_steps / jnp.maximum(state.steps, 1)  # as the docstring says
    np.testing.assert_allclose(fraction, 0.4)


def test_clip_by_global_norm_counts_a_norm_equal_to_the_bound_as_clipped():
    clipper = gx.clip_by_global_norm(5.0)
    out, state = clipper.update({"x": jnp.array([3.0, 4.0])}, clipper.init({"x": jnp.zeros(2)}))
    np.testing.assert_allclose(out["x"], [3.0, 4.0], rtol=1e-15)
    assert int(state.clipped_steps) == 1


def test_clip_by_global_norm_counts_saturate_instead_of_wrapping():
    clipper = gx.clip_by_global_norm(1.0)
    top = jnp.int32(2**31 - 1)
    state = clipper.init(GRADS)
    state = state._replace(links=(state[0]._replace(clipped_steps=top, steps=top),))
    _, state = clipper.update(GRADS, state)
    assert (int(state.clipped_steps), int(state.steps)) == (2**31 - 1, 2**31 - 1)


# --------------------------------------------------------------------------------------------
# Hyperparameters in the state: read, set, scheduled
# --------------------------------------------------------------------------------------------

# (factory, hyperparameter, value built with, another value that changes the result on GRADS)
BOUNDS = [
    pytest.param(gx.clip, "max_delta", 1.0, 0.3, id="clip"),
    pytest.param(gx.clip_by_block_rms, "threshold", 1.0, 0.15, id="clip_by_block_rms"),
    pytest.param(gx.clip_by_norm, "max_norm", 5.0, 2.0, id="clip_by_norm"),
    pytest.param(gx.clip_by_global_norm, "max_norm", 5.0, 2.0, id="clip_by_global_norm"),
]


def _assert_same_updates(actual, expected):
    for k in expected:
        np.testing.assert_array_equal(actual[k], expected[k])


@pytest.mark.parametrize("factory, name, value, other", BOUNDS)
def test_the_bound_is_read_from_the_state_by_name(factory, name, value, other):
    clipper = factory(value)
    state = clipper.init(GRADS)
    assert list(gx.hyperparams(state)) == [name]
    assert float(gx.hyperparams(state)[name]) == value
    _, state = clipper.update(GRADS, state)
    assert float(gx.hyperparams(state)[name]) == value


@pytest.mark.parametrize("factory, name, value, other", BOUNDS)
def test_setting_the_bound_clips_as_building_with_it_would(factory, name, value, other):
    assert not np.array_equal(_apply(factory(value), GRADS)["w"], _apply(factory(other), GRADS)["w"])
    clipper = factory(value)
    state = gx.set_hyperparams(clipper.init(GRADS), **{name: other})
    out, state = clipper.update(GRADS, state)
    _assert_same_updates(out, _apply(factory(other), GRADS))
    assert float(gx.hyperparams(state)[name]) == other


@pytest.mark.parametrize("factory, name, value, other", BOUNDS)
def test_the_bound_may_follow_a_schedule_of_the_step(factory, name, value, other):
    opt = gx.chain(factory(lambda step: jnp.where(step < 1, value, other)))
    state = opt.init(GRADS)
    first, state = opt.update(GRADS, state)
    assert float(gx.hyperparams(state)[name]) == value
    second, state = opt.update(GRADS, state)
    assert float(gx.hyperparams(state)[name]) == other
    _assert_same_updates(first, _apply(factory(value), GRADS))
    _assert_same_updates(second, _apply(factory(other), GRADS))


def test_setting_the_bound_under_jit_does_not_recompile():
    clipper = gx.clip_by_global_norm(5.0)
    traces = []

    def update(grads, state):
        traces.append(None)
        return clipper.update(grads, state)

    update = jax.jit(update)
    state = clipper.init(GRADS)
    loose, state = update(GRADS, state)
    tight, state = update(GRADS, gx.set_hyperparams(state, max_norm=0.5))
    assert len(traces) == 1
    np.testing.assert_allclose(gx.global_norm(loose), 5.0, rtol=1e-15)
    np.testing.assert_allclose(gx.global_norm(tight), 0.5, rtol=1e-15)


def test_a_named_bound_is_read_and_set_under_its_name():
    opt = gx.chain(gx.clip_by_norm(gx.hyperparameter("clip", 5.0)), gx.clip(gx.hyperparameter("clip", 5.0)))
    state = opt.init(GRADS)
    assert list(gx.hyperparams(state)) == ["clip"]
    out, _ = opt.update(GRADS, gx.set_hyperparams(state, clip=2.0))
    expected = _apply(gx.chain(gx.clip_by_norm(2.0), gx.clip(2.0)), GRADS)
    _assert_same_updates(out, expected)


@pytest.mark.parametrize(
    "clipper, state_type",
    [(gx.clip(1.0), gx.EmptyState), (gx.clip_by_block_rms(1.0), gx.EmptyState),
     (gx.clip_by_norm(1.0), gx.EmptyState), (gx.clip_by_global_norm(1.0), gx.ClipByGlobalNormState)],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_each_clipper_keeps_its_own_state_type_across_updates(clipper, state_type):
    state = clipper.init(GRADS)
    _, new_state = jax.jit(clipper.update)(GRADS, state)
    # on its own a clipper is the one link of its chain, which holds its bound
    assert isinstance(state[0], state_type) and isinstance(new_state[0], state_type)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_clip_by_block_rms_shrinks_complex_leaves_by_their_magnitude_under_strict_promotion():
    grads = {"z": jnp.array([3.0 + 4.0j, 0.0j], jnp.complex64)}  # rms = 5 / sqrt(2)
    clipper = gx.clip_by_block_rms(1.0)
    with jax.numpy_dtype_promotion("strict"):
        out, _ = clipper.update(grads, clipper.init(grads))
    assert out["z"].dtype == jnp.complex64
    np.testing.assert_allclose(out["z"], [(3.0 + 4.0j) * np.sqrt(2) / 5, 0.0], rtol=1e-6)
