"""Muon's dimension numbers: weights of any rank as stacks of matrices, against optax.contrib."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib as oc
import pytest

import gradxform as gx
from gradxform.transforms import matrix_views

RNG = np.random.default_rng(0)
PARAMS = {
    "conv": jnp.asarray(RNG.normal(size=(3, 3, 4, 6))),  # (h, w, c_in, c_out)
    "attn": jnp.asarray(RNG.normal(size=(8, 2, 4))),  # (d_model, heads, d_head)
    "w": jnp.asarray(RNG.normal(size=(5, 7))),
    "b": jnp.asarray(RNG.normal(size=(7,))),
}


def spec(lib):
    """Conv kernel as one matrix, one matrix per attention head, a plain matrix, AdamW's bias."""
    dims = lib.MuonDimensionNumbers
    return {"conv": dims((0, 1, 2), 3), "attn": dims(0, 2), "w": dims(), "b": None}


def by_rank(lib):
    """A function of the params: every leaf of rank >= 2 is matrices of its last axis' columns."""
    dims = lib.MuonDimensionNumbers
    return lambda p: jax.tree.map(lambda x: dims(tuple(range(x.ndim - 1)), x.ndim - 1) if x.ndim >= 2 else None, p)


def run(opt, steps=8, update_lib=gx):
    with jax.numpy_dtype_promotion("standard"):  # Optax's muon mixes ints and floats
        return _run(opt, steps, update_lib)


def _run(opt, steps, update_lib):
    params, state = PARAMS, opt.init(PARAMS)
    for t in range(steps):
        grads = jax.tree.map(lambda x, t=t: jnp.sin((t + 1) * x), params)
        updates, state = opt.update(grads, state, params)
        params = update_lib.apply_updates(params, updates)
    return params


def assert_close(a, b, rtol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"consistent_rms": 0.2}, {"adaptive": True}, {"nesterov": False}])
def test_muon_with_dimension_numbers_matches_optax_contrib(kwargs):
    ours = run(gx.muon(0.05, muon_weight_dimension_numbers=spec(gx), **kwargs))
    theirs = run(oc.muon(0.05, muon_weight_dimension_numbers=spec(oc), **kwargs), update_lib=optax)
    assert_close(ours, theirs, rtol=1e-6)


def test_a_function_of_the_params_as_dimension_numbers_matches_optax_contrib():
    ours = run(gx.muon(0.05, muon_weight_dimension_numbers=by_rank(gx)), steps=4)
    theirs = run(oc.muon(0.05, muon_weight_dimension_numbers=by_rank(oc)), steps=4, update_lib=optax)
    assert_close(ours, theirs, rtol=1e-6)


def test_scale_by_muon_with_dimension_numbers_matches_optax_contrib():
    matrices = {k: v for k, v in PARAMS.items() if k != "b"}
    ours, theirs = (lib.scale_by_muon(weight_dimension_numbers={k: v for k, v in spec(lib).items() if k != "b"})
                    for lib in (gx, oc))
    got, _ = ours.update(matrices, ours.init(matrices))
    with jax.numpy_dtype_promotion("standard"):  # Optax's muon mixes ints and floats
        expected, _ = theirs.update(matrices, theirs.init(matrices))
    assert_close(got, expected, rtol=1e-10)


def test_a_matrix_given_the_default_numbers_is_orthogonalized_as_without_them():
    plain = gx.orthogonalize_by_newton_schulz()
    numbered = gx.orthogonalize_by_newton_schulz(weight_dimension_numbers=gx.MuonDimensionNumbers())
    w = {"w": PARAMS["w"]}
    a, _ = plain.update(w, plain.init(w))
    b, _ = numbered.update(w, numbered.init(w))
    np.testing.assert_array_equal(np.asarray(a["w"]), np.asarray(b["w"]))


def test_each_head_is_its_own_orthogonal_matrix():
    orthogonalize = gx.orthogonalize_by_newton_schulz(ns_steps=30, ns_coeffs=(1.5, -0.5, 0.0),
                                                      weight_dimension_numbers=gx.MuonDimensionNumbers(0, 2))
    attn = {"attn": PARAMS["attn"]}
    out, _ = orthogonalize.update(attn, orthogonalize.init(attn))
    for head in range(2):
        q = np.asarray(out["attn"][:, head, :])  # (8, 4): orthonormal columns after the cubic iteration
        np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-6)


def test_as_matrices_moves_batch_reduction_output_axes_and_undoes_it():
    x = jnp.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    stacked, restore = matrix_views.as_matrices(x, gx.MuonDimensionNumbers(reduction_axis=(3, 1), output_axis=2))
    assert stacked.shape == (2, 15, 4)
    np.testing.assert_array_equal(np.asarray(stacked[1]), np.asarray(x[1].transpose(2, 0, 1).reshape(15, 4)))
    np.testing.assert_array_equal(np.asarray(restore(stacked)), np.asarray(x))
    assert matrix_views.fans((2, 3, 4, 5), gx.MuonDimensionNumbers((3, 1), 2)) == (15, 4)


@pytest.mark.parametrize("dims, message", [
    (gx.MuonDimensionNumbers(0, 0), "the reduction and output axes must be distinct"),
    (gx.MuonDimensionNumbers(0, 3), "an axis is out of range for rank 2"),
    (gx.MuonDimensionNumbers((), 1), "each of reduction_axis and output_axis must be an int or a non-empty"),
    (gx.MuonDimensionNumbers(0.5, 1), "each of reduction_axis and output_axis must be an int or a non-empty"),
])
def test_numbers_that_do_not_fit_a_leaf_are_refused_at_init_naming_it(dims, message):
    leads = r"^muon.init: orthogonalize_by_newton_schulz: the dimension numbers .* do not fit "
    with pytest.raises(ValueError, match=leads + r"the leaf of shape \(5, 7\) at \['w'\]: " + message):
        gx.muon(0.1, muon_weight_dimension_numbers={"w": dims}).init({"w": PARAMS["w"]})


def test_a_tree_that_misses_a_leaf_or_is_not_numbers_is_refused():
    with pytest.raises(ValueError, match=r"weight_dimension_numbers gives nothing for the leaf at \['b'\]"):
        gx.muon(0.1, muon_weight_dimension_numbers={"w": gx.MuonDimensionNumbers()}).init(
            {"w": PARAMS["w"], "b": PARAMS["b"]})
    with pytest.raises(TypeError, match=r"weight_dimension_numbers must be a MuonDimensionNumbers"):
        gx.orthogonalize_by_newton_schulz(weight_dimension_numbers={"w": (0, 1)}).init({"w": PARAMS["w"]})


def test_fan_in_axis_and_dimension_numbers_are_not_both_given():
    with pytest.raises(ValueError, match=r"^muon: scale_by_shape: give fan_in_axis=1 or weight_dimension_numbers"):
        gx.muon(0.1, fan_in_axis=1, muon_weight_dimension_numbers=gx.MuonDimensionNumbers())
