"""incremental_update and the update_moment family: Optax's results, None leaves kept."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

NEW = {"w": jnp.array([1.0, -2.0, 0.5]), "c": jnp.array([1 + 2j, -1j]), "none": None}
OLD = {"w": jnp.array([0.25, 0.5, -1.0]), "c": jnp.array([0.5 + 0j, 1 + 1j]), "none": None}


def _same(ours, theirs):
    assert ours["none"] is None
    for key in ("w", "c"):
        assert ours[key].dtype == theirs[key].dtype
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_incremental_update_is_polyak_averaging_as_optax_s():
    _same(gx.incremental_update(NEW, OLD, 0.1), optax.incremental_update(NEW, OLD, 0.1))
    np.testing.assert_allclose(gx.incremental_update(NEW, OLD, 1.0)["w"], NEW["w"])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_moment_is_optax_s(order):
    _same(gx.update_moment(NEW, OLD, 0.9, order), optax.update_moment(NEW, OLD, 0.9, order))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_update_moment_per_elem_norm_is_optax_s_and_real_for_complex_values(order):
    with jax.numpy_dtype_promotion("standard"):  # a real |g|^k into a complex moment, as Optax
        ours = gx.update_moment_per_elem_norm(NEW, OLD, 0.9, order)
        _same(ours, optax.update_moment_per_elem_norm(NEW, OLD, 0.9, order))
    np.testing.assert_allclose(ours["c"].imag, 0.9 * OLD["c"].imag)  # |g|^k adds no imaginary part


def test_update_infinity_moment_is_optax_s():
    real = {"w": NEW["w"], "none": None}
    ours = gx.update_infinity_moment(real, {"w": OLD["w"], "none": None}, 0.9, 1e-3)
    theirs = optax.update_infinity_moment(real, {"w": OLD["w"], "none": None}, 0.9, 1e-3)
    assert ours["none"] is None
    np.testing.assert_array_equal(ours["w"], theirs["w"])


def test_the_tree_namespace_holds_the_same_functions():
    assert gx.tree.update_moment is gx.update_moment
    assert gx.tree.update_moment_per_elem_norm is gx.update_moment_per_elem_norm
    assert gx.tree.update_infinity_moment is gx.update_infinity_moment
