"""Unit-wise adaptive gradient clipping (NFNets) and gradient centralization."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

# A scalar, a vector, an (in, out) matrix and an HWIO conv kernel, plus a zero-initialized bias
# (its bound comes from eps alone).
SHAPES = {"s": (), "v": (5,), "m": (4, 3), "k": (3, 3, 2, 4)}


def _tree(seed, scale, dtype, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(scale * rng.normal(size=s), dtype) for k, s in shapes.items()}


def _params(dtype=jnp.float64):
    return {**_tree(0, 1.0, dtype), "zero": jnp.zeros(3, dtype)}


def _grads(dtype=jnp.float64):
    # Output units scaled so that, at clipping=0.02, some units are clipped and others are not.
    g = {k: np.asarray(v) for k, v in _tree(1, 1.0, np.float64).items()}
    g["v"] = 0.01 * g["v"]
    g["m"] = g["m"] * np.array([1e-3, 0.1, 1.0])
    g["k"] = g["k"] * np.array([1e-3, 0.1, 1.0, 1e-4])
    g = {k: jnp.asarray(v, dtype) for k, v in g.items()}
    return {**g, "zero": jnp.asarray([1e-5, -2e-5, 1e-5], dtype)}


def _optax(transform, grads, params, jit=False):
    update = jax.jit(transform.update) if jit else transform.update
    with jax.numpy_dtype_promotion("standard"):
        out, _ = update(grads, transform.init(params), params)
    return out


def _apply(transform, grads, params=None, **extra_args):
    out, _ = transform.update(grads, transform.init(grads if params is None else params), params, **extra_args)
    return out


def _numpy_agc(g, w, clipping, eps, axes):
    """The paper's Eq. (3), unit by unit, with Optax's floor of 1e-6 on the update norm."""
    g, w = np.asarray(g), np.asarray(w)
    g_norm = np.sqrt(np.sum(np.abs(g) ** 2, axis=axes, keepdims=True))
    w_norm = np.sqrt(np.sum(np.abs(w) ** 2, axis=axes, keepdims=True))
    bound = clipping * np.maximum(w_norm, eps)
    return np.where(g_norm < bound, g, g * (bound / np.maximum(g_norm, 1e-6)))


# (the axes one unit sums over, by leaf)
UNIT_AXES = {"s": None, "v": None, "m": (0,), "k": (0, 1, 2), "zero": None}


# --------------------------------------------------------------------------------------------
# adaptive_grad_clip: values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_adaptive_grad_clip_matches_optax_bit_for_bit_in_float32(jit):
    params, grads = _params(jnp.float32), _grads(jnp.float32)
    clipper = gx.adaptive_grad_clip(0.02)
    update = jax.jit(clipper.update) if jit else clipper.update
    ours, _ = update(grads, clipper.init(params), params)
    theirs = _optax(optax.adaptive_grad_clip(0.02), grads, params)
    for k in grads:
        assert ours[k].dtype == jnp.float32
        np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


def test_adaptive_grad_clip_matches_optax_in_float64_and_clips_some_units_only():
    params, grads = _params(), _grads()
    clipper = gx.adaptive_grad_clip(0.02)
    ours, _ = jax.jit(clipper.update)(grads, clipper.init(params), params)
    theirs = _optax(optax.adaptive_grad_clip(0.02), grads, params, jit=True)
    for k in grads:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=0, err_msg=k)
    for k, axes in {"m": (0,), "k": (0, 1, 2)}.items():
        kept = np.all(np.asarray(ours[k]) == np.asarray(grads[k]), axis=axes)
        assert kept.any() and not kept.all(), k  # some units clipped, others not
    assert not np.array_equal(ours["s"], grads["s"]) and not np.array_equal(ours["zero"], grads["zero"])


def test_adaptive_grad_clip_follows_the_papers_unitwise_rule():
    params, grads = _params(), _grads()
    ours = _apply(gx.adaptive_grad_clip(0.02, eps=1e-3), grads, params)
    for k in grads:
        expected = _numpy_agc(grads[k], params[k], 0.02, 1e-3, UNIT_AXES[k])
        np.testing.assert_allclose(ours[k], expected, rtol=1e-14, atol=0, err_msg=k)


def test_adaptive_grad_clip_bounds_each_output_units_norm_by_its_weights_norm():
    params, grads = _params(), _grads()
    out = _apply(gx.adaptive_grad_clip(0.02), grads, params)
    g_norms = np.linalg.norm(np.asarray(out["m"]), axis=0)  # one per output column
    w_norms = np.linalg.norm(np.asarray(params["m"]), axis=0)
    assert np.all(g_norms <= 0.02 * w_norms * (1 + 1e-14))
    # A zero-initialized unit may still move by clipping * eps.
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out["zero"])), 0.02 * 1e-3, rtol=1e-14)


def test_adaptive_grad_clip_treats_a_leaf_with_one_long_axis_as_one_unit_as_optax():
    shapes = {"row": (1, 6), "col": (6, 1), "kernel": (1, 1, 1, 6)}
    params, grads = _tree(2, 1.0, jnp.float64, shapes), _tree(3, 0.5, jnp.float64, shapes)
    clipper = gx.adaptive_grad_clip(0.1)
    ours, _ = jax.jit(clipper.update)(grads, clipper.init(params), params)
    theirs = _optax(optax.adaptive_grad_clip(0.1), grads, params, jit=True)
    for k in shapes:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=0, err_msg=k)
        np.testing.assert_allclose(np.linalg.norm(ours[k]), 0.1 * np.linalg.norm(params[k]), rtol=1e-14)


@pytest.mark.parametrize("axis", [0, -1, (1, 2)], ids=str)
def test_adaptive_grad_clip_axis_matches_optax(axis):
    shapes = {"a": (3, 4, 5)}
    params, grads = _tree(4, 1.0, jnp.float32, shapes), _tree(5, 0.2, jnp.float32, shapes)
    ours = _apply(gx.adaptive_grad_clip(0.05, axis=axis), grads, params)
    theirs = _optax(optax.adaptive_grad_clip(0.05, axis=axis), grads, params)
    np.testing.assert_array_equal(ours["a"], theirs["a"])


def test_adaptive_grad_clip_covers_rank_5_kernels_and_complex_leaves():
    rng = np.random.default_rng(6)
    params = {"d": jnp.asarray(rng.normal(size=(2, 2, 2, 2, 3))),
              "z": jnp.asarray(rng.normal(size=(3, 2)) + 1j * rng.normal(size=(3, 2)))}
    grads = {"d": jnp.asarray(rng.normal(size=(2, 2, 2, 2, 3))),
             "z": jnp.asarray(0.1 * rng.normal(size=(3, 2)) + 0.1j * rng.normal(size=(3, 2)))}
    out = _apply(gx.adaptive_grad_clip(0.05), grads, params)
    axes = {"d": (0, 1, 2, 3), "z": (0,)}
    for k, g in grads.items():
        assert out[k].dtype == g.dtype
        np.testing.assert_allclose(out[k], _numpy_agc(g, params[k], 0.05, 1e-3, axes[k]), rtol=1e-14)


def test_adaptive_grad_clip_keeps_the_updates_dtype_when_params_are_wider():
    params, grads = _params(jnp.float64), _grads(jnp.float32)
    out = _apply(gx.adaptive_grad_clip(0.02), grads, params)
    for k in grads:
        assert out[k].dtype == jnp.float32
        expected = _numpy_agc(np.asarray(grads[k], np.float64), params[k], 0.02, 1e-3, UNIT_AXES[k])
        np.testing.assert_allclose(out[k], expected, rtol=1e-6)


def test_adaptive_grad_clip_passes_none_leaves_through():
    params = {"a": None, "b": jnp.array([3.0, 4.0])}
    out = _apply(gx.adaptive_grad_clip(0.1), {"a": None, "b": jnp.array([6.0, 8.0])}, params)
    assert out["a"] is None
    np.testing.assert_allclose(out["b"], [0.3, 0.4], rtol=1e-15)


def test_adaptive_grad_clip_under_jit_matches_eager_and_set_hyperparams_does_not_recompile():
    params, grads = _params(), _grads()
    clipper = gx.adaptive_grad_clip(0.02)
    traces = []

    def update(g, s, p):
        traces.append(None)
        return clipper.update(g, s, p)

    update = jax.jit(update)
    state = clipper.init(params)
    first, state = update(grads, state, params)
    second, state = update(grads, gx.set_hyperparams(state, clipping=0.005), params)
    assert len(traces) == 1
    # float64 sums may be fused in another order under jit: equal to rounding.
    for out, clipping in ((first, 0.02), (second, 0.005)):
        eager = _apply(gx.adaptive_grad_clip(clipping), grads, params)
        for k in grads:
            np.testing.assert_allclose(out[k], eager[k], rtol=1e-15, atol=0, err_msg=k)


# --------------------------------------------------------------------------------------------
# adaptive_grad_clip: hyperparameters in the state
# --------------------------------------------------------------------------------------------


def test_adaptive_grad_clip_hyperparameters_are_read_from_the_state():
    clipper = gx.adaptive_grad_clip(0.02, eps=1e-4)
    state = clipper.init(_params())
    assert isinstance(state, gx.ChainState) and state.links == (gx.EmptyState(),)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"clipping": 0.02, "eps": 1e-4}
    _, state = clipper.update(_grads(), state, _params())
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"clipping": 0.02, "eps": 1e-4}


# (hyperparameter, built with, set to): each change alters the result on _grads()/_params()
SETTINGS = [("clipping", 0.02, 0.005), ("eps", 1e-3, 0.1)]


@pytest.mark.parametrize("name, value, other", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_setting_an_adaptive_grad_clip_hyperparameter_clips_as_building_with_it_would(name, value, other):
    params, grads = _params(), _grads()
    built = _apply(gx.adaptive_grad_clip(**{name: other}), grads, params)
    assert any(not np.array_equal(built[k], _apply(gx.adaptive_grad_clip(**{name: value}), grads, params)[k])
               for k in grads)
    clipper = gx.adaptive_grad_clip(**{name: value})
    state = gx.set_hyperparams(clipper.init(params), **{name: other})
    out, state = clipper.update(grads, state, params)
    for k in grads:
        np.testing.assert_array_equal(out[k], built[k])
    assert float(gx.hyperparams(state)[name]) == other


@pytest.mark.parametrize("name, value, other", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_each_adaptive_grad_clip_hyperparameter_may_follow_a_schedule(name, value, other):
    params, grads = _params(), _grads()
    opt = gx.chain(gx.adaptive_grad_clip(**{name: lambda step: jnp.where(step < 1, value, other)}))
    state = opt.init(params)
    first, state = opt.update(grads, state, params)
    assert float(gx.hyperparams(state)[name]) == value
    second, state = opt.update(grads, state, params)
    assert float(gx.hyperparams(state)[name]) == other
    for k in grads:
        np.testing.assert_array_equal(first[k], _apply(gx.adaptive_grad_clip(**{name: value}), grads, params)[k])
        np.testing.assert_array_equal(second[k], _apply(gx.adaptive_grad_clip(**{name: other}), grads, params)[k])


# --------------------------------------------------------------------------------------------
# adaptive_grad_clip: errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.01, 0.0, float("inf")])
def test_adaptive_grad_clip_rejects_a_clipping_that_is_not_positive(bad):
    with pytest.raises(ValueError, match=re.escape(
            f"adaptive_grad_clip: clipping must be a finite number > 0, got clipping={bad!r}")):
        gx.adaptive_grad_clip(bad)


def test_adaptive_grad_clip_rejects_a_negative_eps():
    with pytest.raises(ValueError, match=re.escape(
            "adaptive_grad_clip: eps must be a finite number >= 0, got eps=-0.001.")):
        gx.adaptive_grad_clip(0.01, eps=-1e-3)


def test_adaptive_grad_clip_rejects_an_axis_that_is_not_ints():
    with pytest.raises(TypeError, match=re.escape(
            "adaptive_grad_clip: axis must be None, an int or a tuple of ints, got str '0'")):
        gx.adaptive_grad_clip(0.01, axis="0")


def test_adaptive_grad_clip_needs_params():
    clipper = gx.adaptive_grad_clip(0.01)
    with pytest.raises(ValueError, match=re.escape(
            "adaptive_grad_clip: update() needs params (the current parameters) to bound each unit's "
            "update by its weights' norm, got params=None")):
        clipper.update(_grads(), clipper.init(_params()))


def test_adaptive_grad_clip_rejects_updates_shaped_unlike_their_params():
    clipper = gx.adaptive_grad_clip(0.01)
    params = {"m": jnp.ones((4, 3))}
    with pytest.raises(ValueError, match=re.escape(
            "adaptive_grad_clip.update: updates['m'] has shape (3, 4), params['m'] has (4, 3).")):
        clipper.update({"m": jnp.ones((3, 4))}, clipper.init(params), params)
    with pytest.raises(ValueError,
                       match="adaptive_grad_clip.update: updates and params have different tree structures"):
        clipper.update({"n": jnp.ones((4, 3))}, clipper.init(params), params)


def test_adaptive_grad_clip_asks_for_axis_beyond_rank_5():
    clipper = gx.adaptive_grad_clip(0.01)
    params = {"big": jnp.ones((2, 2, 2, 2, 2, 3))}
    with pytest.raises(ValueError, match=re.escape(
            "adaptive_grad_clip: found a parameter of shape (2, 2, 2, 2, 2, 3) at ['big']; without axis, "
            "only ranks 0 to 5 have a unit convention. Pass axis=<the axes one unit's norm sums over>, "
            "e.g. axis=(0, 1, 2, 3, 4)")):
        clipper.update(params, clipper.init(params), params)
    out = _apply(gx.adaptive_grad_clip(0.01, axis=(0, 1, 2, 3, 4)), params, params)
    np.testing.assert_allclose(out["big"], 0.01 * np.ones((2, 2, 2, 2, 2, 3)), rtol=1e-14)


# --------------------------------------------------------------------------------------------
# centralize
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_centralize_matches_optax_exactly(dtype):
    grads = _tree(7, 1.0, dtype)
    ours = _apply(gx.centralize(), grads)
    theirs = _optax(optax.centralize(), grads, None)
    for k in grads:
        assert ours[k].dtype == dtype
        np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


def test_centralize_by_default_removes_each_leading_axis_slices_mean():
    grads = _tree(8, 1.0, jnp.float64)
    out = _apply(gx.centralize(), grads)
    np.testing.assert_allclose(np.sum(np.asarray(out["m"]), axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.sum(np.asarray(out["k"]), axis=(1, 2, 3)), 0.0, atol=1e-14)


def test_centralize_with_output_axis_last_follows_the_paper_for_flax_kernels():
    grads = _tree(9, 1.0, jnp.float64)
    out = _apply(gx.centralize(output_axis=-1), grads)
    for k, axes in {"m": (0,), "k": (0, 1, 2)}.items():
        g = np.asarray(grads[k])
        np.testing.assert_allclose(out[k], g - g.mean(axis=axes, keepdims=True), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(np.sum(np.asarray(out[k]), axis=axes), 0.0, atol=1e-14)


@pytest.mark.parametrize("output_axis", [0, -1])
def test_centralize_passes_vectors_scalars_and_none_through(output_axis):
    grads = {"s": jnp.array(2.5), "v": jnp.array([1.0, 2.0, 4.0]), "none": None}
    out = _apply(gx.centralize(output_axis), grads)
    assert out["none"] is None
    np.testing.assert_array_equal(out["s"], grads["s"])
    np.testing.assert_array_equal(out["v"], grads["v"])


def test_centralize_is_stateless_and_jits_like_eager():
    grads = _tree(10, 1.0, jnp.float64)
    opt = gx.chain(gx.centralize(), gx.scale_by_learning_rate(0.1))
    state = opt.init(grads)
    assert gx.hyperparams(gx.centralize().init(grads)) == {}
    assert isinstance(gx.centralize().init(grads), gx.EmptyState)
    jitted, new_state = jax.jit(opt.update)(grads, state)
    eager, _ = opt.update(grads, state)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    for k in grads:
        np.testing.assert_array_equal(jitted[k], eager[k])


@pytest.mark.parametrize("bad", [1, -2, "last"])
def test_centralize_rejects_another_output_axis(bad):
    with pytest.raises(ValueError, match=re.escape(
            f"centralize: output_axis must be one of [0, -1], got output_axis={bad!r}")):
        gx.centralize(bad)
