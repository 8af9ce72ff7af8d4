"""safe_increment, safe_norm, safe_root_mean_squares: Optax's results, finite gradients at zero."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.int8, jnp.float32])
def test_safe_increment_counts_and_stays_at_the_largest_value(dtype):
    largest = (jnp.iinfo if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo)(dtype).max
    assert int(gx.safe_increment(jnp.asarray(1, dtype))) == 2
    at_max = gx.safe_increment(jnp.asarray(largest, dtype))
    assert at_max.dtype == dtype and at_max == largest == optax.safe_increment(jnp.asarray(largest, dtype))
    assert gx.safe_int32_increment is gx.safe_increment


def test_safe_increment_rejects_a_counter_that_is_not_a_number():
    expected = "safe_increment: count must have an integer or floating-point dtype, got dtype bool"
    with pytest.raises(ValueError, match=expected):
        gx.safe_increment(jnp.asarray(True))


@pytest.mark.parametrize("kwargs", [{}, {"ord": 1}, {"axis": 1}, {"axis": 1, "keepdims": True},
                                    {"ord": "fro", "axis": (0, 1)}])
def test_safe_norm_is_optax_s(kwargs):
    x = jnp.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(gx.safe_norm(x, 0.5, **kwargs), optax.safe_norm(x, 0.5, **kwargs))


def test_safe_norm_and_rms_have_zero_gradient_below_the_floor_where_the_naive_form_has_nan():
    zero = jnp.zeros(3)
    assert jnp.isnan(jax.grad(lambda x: jnp.maximum(jnp.linalg.norm(x), 1.0))(zero)).any()
    np.testing.assert_array_equal(jax.grad(lambda x: gx.safe_norm(x, 1.0))(zero), 0.0)
    np.testing.assert_array_equal(jax.grad(lambda x: gx.safe_root_mean_squares(x, 1.0))(zero), 0.0)
    assert float(gx.safe_norm(zero, 1.0)) == 1.0 and float(gx.safe_root_mean_squares(zero, 1.0)) == 1.0


def test_safe_root_mean_squares_is_optax_s_for_real_and_complex_arrays():
    for x in (jnp.array([1.0, -2.0, 2.0]), jnp.array([1 + 1j, 2 - 1j])):
        np.testing.assert_array_equal(gx.safe_root_mean_squares(x, 0.1), optax.safe_root_mean_squares(x, 0.1))
