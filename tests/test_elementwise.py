"""Stateless element-wise maps: sqrt_plus_eps, square, sign."""
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx

G = np.asarray([0.0, 0.25, 4.0, 9.0])


def _apply(transform, updates, **extra_args):
    state = transform.init(updates)
    assert state == gx.EmptyState()
    out, new_state = transform.update(updates, state, **extra_args)
    assert new_state == gx.EmptyState()
    return out


@pytest.mark.parametrize("eps, eps_root", [(0.0, 0.0), (1e-8, 0.0), (0.5, 0.0), (1e-3, 0.25)])
def test_sqrt_plus_eps_is_root_of_update_plus_eps_root_plus_eps(eps, eps_root):
    out = _apply(gx.sqrt_plus_eps(eps, eps_root), {"v": jnp.asarray(G)})
    np.testing.assert_allclose(np.asarray(out["v"]), np.sqrt(G + eps_root) + eps, rtol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float64])
def test_sqrt_plus_eps_keeps_the_dtype(dtype):
    out = _apply(gx.sqrt_plus_eps(1e-8), jnp.asarray(G, dtype))
    assert out.dtype == dtype


def test_square_is_the_squared_magnitude_also_for_complex_updates():
    real = _apply(gx.square(), {"x": jnp.asarray([-3.0, 0.5])})
    np.testing.assert_array_equal(np.asarray(real["x"]), [9.0, 0.25])
    cplx = _apply(gx.square(), {"z": jnp.asarray([3 + 4j, -1j], jnp.complex128)})
    assert not jnp.iscomplexobj(cplx["z"])
    np.testing.assert_array_equal(np.asarray(cplx["z"]), [25.0, 1.0])


def test_sign_maps_each_update_to_its_sign():
    out = _apply(gx.sign(), {"x": jnp.asarray([-2.5, 0.0, 1e-30, 7.0], jnp.float32)})
    assert out["x"].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out["x"]), [-1.0, 0.0, 1.0, 1.0])


def test_elementwise_maps_pass_none_leaves_and_ignore_extra_args():
    tree = {"x": jnp.asarray([4.0]), "frozen": None}
    for transform in (gx.sqrt_plus_eps(), gx.square(), gx.sign()):
        out = _apply(transform, tree, step=jnp.int32(3), loss=1.0)
        assert out["frozen"] is None


def test_sqrt_plus_eps_rejects_negative_eps():
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps must be a finite number >= 0, got eps=-1e-08"):
        gx.sqrt_plus_eps(-1e-8)
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps_root must be a finite number >= 0, got eps_root=-1"):
        gx.sqrt_plus_eps(1e-8, eps_root=-1)
