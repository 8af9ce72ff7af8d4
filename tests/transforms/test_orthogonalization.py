"""Newton-Schulz orthogonalization and the scale by matrix shape (gradxform/transforms/orthogonalization.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optax.contrib import _muon as optax_muon  # its array-level function is not exported

import gradxform as gx

RNG = np.random.default_rng(7)


def _apply(transform, updates):
    out, _ = jax.jit(transform.update)(updates, transform.init(updates))
    return out


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
@pytest.mark.parametrize("preconditioning", ["frobenius", "spectral", "aol", "schatten"])
def test_newton_schulz_matches_optax_on_wide_tall_and_square_matrices(shape, preconditioning):
    x = jnp.asarray(RNG.normal(size=shape), jnp.float32)
    ours = _apply(gx.orthogonalize_by_newton_schulz(preconditioning=preconditioning), {"x": x})["x"]
    theirs = jax.jit(lambda x: optax_muon.orthogonalize_via_newton_schulz(
        x, jnp.asarray((3.4445, -4.7750, 2.0315)), 5, preconditioning))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_newton_schulz_with_the_cubic_converges_to_u_v_transpose():
    x = RNG.normal(size=(4, 3))
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    out = _apply(gx.orthogonalize_by_newton_schulz((1.5, -0.5, 0.0), ns_steps=40), {"x": jnp.asarray(x)})["x"]
    np.testing.assert_allclose(out, u @ vt, atol=1e-6)


def test_standard_quintic_puts_singular_values_near_one():
    x = jnp.asarray(RNG.normal(size=(6, 10)))
    singular = np.linalg.svd(_apply(gx.orthogonalize_by_newton_schulz(), {"x": x})["x"], compute_uv=False)
    assert np.all((singular > 0.6) & (singular < 1.3)), singular


def test_a_table_of_coefficients_runs_one_row_per_step():
    x = jnp.asarray(RNG.normal(size=(3, 3)))
    table = ((1.5, -0.5, 0.0), (1.0, 0.0, 0.0), (2.0, 0.0, 0.0))  # one cubic step, identity, doubling
    one_step = _apply(gx.orthogonalize_by_newton_schulz((1.5, -0.5, 0.0), ns_steps=1), {"x": x})["x"]
    out = _apply(gx.orthogonalize_by_newton_schulz(table, ns_steps=3), {"x": x})["x"]
    np.testing.assert_allclose(out, 2 * one_step, rtol=1e-12)


def test_adaptive_scales_by_the_dual_norm():
    x = jnp.asarray(RNG.normal(size=(2, 3)))
    plain = _apply(gx.orthogonalize_by_newton_schulz(), {"x": x})["x"]
    adaptive = _apply(gx.orthogonalize_by_newton_schulz(adaptive=True), {"x": x})["x"]
    np.testing.assert_allclose(adaptive, jnp.sum(x * plain) * plain, rtol=1e-12)


def test_complex_matrices_stay_complex_and_finite():
    x = jnp.asarray(RNG.normal(size=(2, 3)) + 1j * RNG.normal(size=(2, 3)), jnp.complex64)
    for preconditioning in ["frobenius", "spectral", "aol", "schatten"]:
        out = _apply(gx.orthogonalize_by_newton_schulz(preconditioning=preconditioning), {"x": x})["x"]
        assert out.dtype == jnp.complex64 and np.all(np.isfinite(out))


@pytest.mark.parametrize("make", [gx.orthogonalize_by_newton_schulz, gx.scale_by_shape])
@pytest.mark.parametrize("shape", [(3,), (), (2, 2, 3)])
def test_init_rejects_a_leaf_that_is_not_a_matrix(make, shape):
    name = make.__name__
    with pytest.raises(ValueError, match=rf"{name}: every leaf must be a matrix \(2-D\), got shape "
                                         rf"{re_shape(shape)} at \['b'\]"):
        make().init({"w": jnp.ones((2, 2)), "b": jnp.ones(shape)})


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ns_coeffs="polar"), r"ns_coeffs must be three numbers .* preset name in \['standard', 'dion'\]"),
        (dict(ns_coeffs=((1.0, 2.0, 3.0, 4.0),)), r"ns_coeffs must be three numbers"),
        (dict(ns_coeffs=[[1.0, 0.0, 0.0]] * 6), r"ns_coeffs gives 6 triples, one per step, but ns_steps=5"),
        (dict(eps=-1e-8), r"eps must be"),
        (dict(preconditioning="svd"), r"preconditioning must be one of"),
        (dict(adaptive="yes"), r"adaptive must be True or False"),
        (dict(ns_steps=2.5), r"ns_steps"),
    ],
)
def test_orthogonalize_rejects_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=rf"orthogonalize_by_newton_schulz: {message}"):
        gx.orthogonalize_by_newton_schulz(**kwargs)


@pytest.mark.parametrize("shape, factor", [((3, 2), 1.0), ((2, 8), 2.0), ((4, 4), 1.0)])
def test_scale_by_shape_width_rule(shape, factor):
    g = jnp.ones(shape)
    np.testing.assert_allclose(_apply(gx.scale_by_shape(), {"g": g})["g"], factor * g, rtol=1e-12)


def test_scale_by_shape_consistent_rms_rule():
    g = jnp.ones((2, 8))
    np.testing.assert_allclose(_apply(gx.scale_by_shape(0.2), {"g": g})["g"], 0.2 * np.sqrt(8.0) * g,
                               rtol=1e-12)


def test_scale_by_shape_rejects_a_negative_rms():
    with pytest.raises(ValueError, match=r"scale_by_shape: consistent_rms must be"):
        gx.scale_by_shape(-0.2)


@pytest.mark.parametrize("shape, factor", [((3, 2), 1.5**0.5), ((2, 8), 1.0), ((8, 2), 2.0)])
def test_scale_by_shape_pytorch_layout_reads_the_input_axis_second(shape, factor):
    g = jnp.ones(shape)  # torch.optim.Muon's sqrt(max(1, A / B)) for a (A, B) = (out, in) weight
    np.testing.assert_allclose(_apply(gx.scale_by_shape(fan_in_axis=1), {"g": g})["g"], factor * g,
                               rtol=1e-12)


def test_scale_by_shape_rejects_an_axis_other_than_0_or_1():
    with pytest.raises(ValueError, match=r"scale_by_shape: fan_in_axis must be one of \[0, 1\], got fan_in_axis=2"):
        gx.scale_by_shape(fan_in_axis=2)
