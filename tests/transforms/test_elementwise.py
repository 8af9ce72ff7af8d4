"""Element-wise maps: sqrt_plus_eps (its eps terms kept in the state), square, sign (stateless)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx

G = np.asarray([0.0, 0.25, 4.0, 9.0])


def _apply(transform, updates, hyperparams=None, **extra_args):
    """One update. Without ``hyperparams`` the map must be stateless (``EmptyState``); with them,
    its state must hold exactly those hyperparameters, unchanged by an update (constants)."""
    state = transform.init(updates)
    out, new_state = transform.update(updates, state, **extra_args)
    if hyperparams is None:
        assert state == gx.EmptyState()
        assert new_state == gx.EmptyState()
    else:
        assert jax.tree.structure(new_state) == jax.tree.structure(state)
        for s in (state, new_state):
            assert {k: float(v) for k, v in gx.hyperparams(s).items()} == hyperparams
    return out


@pytest.mark.parametrize("eps, eps_root", [(0.0, 0.0), (1e-8, 0.0), (0.5, 0.0), (1e-3, 0.25)])
def test_sqrt_plus_eps_is_root_of_update_plus_eps_root_plus_eps(eps, eps_root):
    out = _apply(gx.sqrt_plus_eps(eps, eps_root), {"v": jnp.asarray(G)}, {"eps": eps, "eps_root": eps_root})
    np.testing.assert_allclose(np.asarray(out["v"]), np.sqrt(G + eps_root) + eps, rtol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float64])
def test_sqrt_plus_eps_keeps_the_dtype(dtype):
    out = _apply(gx.sqrt_plus_eps(1e-8), jnp.asarray(G, dtype), {"eps": 1e-8, "eps_root": 0.0})
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
    for transform, hyperparams in (
        (gx.sqrt_plus_eps(), {"eps": 1e-8, "eps_root": 0.0}),
        (gx.square(), None),
        (gx.sign(), None),
    ):
        out = _apply(transform, tree, hyperparams, step=jnp.int32(3), loss=1.0)
        assert out["frozen"] is None


def test_sqrt_plus_eps_rejects_negative_eps():
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps must be a finite number >= 0, got eps=-1e-08"):
        gx.sqrt_plus_eps(-1e-8)
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps_root must be a finite number >= 0, got eps_root=-1"):
        gx.sqrt_plus_eps(1e-8, eps_root=-1)


@pytest.mark.parametrize(
    "eps, eps_root, expected, kept",
    [
        (None, 0.25, np.sqrt(G + 0.25), {"eps_root": 0.25}),
        (0.5, None, np.sqrt(G) + 0.5, {"eps": 0.5}),
        (None, None, np.sqrt(G), {}),
    ],
    ids=["no_eps", "no_eps_root", "neither"],
)
def test_sqrt_plus_eps_with_none_leaves_the_term_out_and_keeps_no_hyperparameter(eps, eps_root, expected, kept):
    out = _apply(gx.sqrt_plus_eps(eps, eps_root=eps_root), {"v": jnp.asarray(G)}, kept)
    np.testing.assert_array_equal(np.asarray(out["v"]), expected)


def test_sqrt_plus_eps_hyperparameters_are_read_set_and_scheduled_through_the_state():
    updates = {"v": jnp.asarray(G)}
    transform = gx.chain(gx.sqrt_plus_eps(1e-8, eps_root=0.0))
    state = transform.init(updates)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"eps": 1e-8, "eps_root": 0.0}
    # Setting them acts exactly as building sqrt_plus_eps with the new values.
    out, _ = transform.update(updates, gx.set_hyperparams(state, eps=0.5, eps_root=0.25))
    rebuilt = gx.chain(gx.sqrt_plus_eps(0.5, eps_root=0.25))
    expected, _ = rebuilt.update(updates, rebuilt.init(updates))
    np.testing.assert_array_equal(np.asarray(out["v"]), np.asarray(expected["v"]))
    # Each may follow a schedule of the chain's step.
    scheduled = gx.chain(gx.sqrt_plus_eps(lambda t: 0.5 * t.astype(jnp.float64),
                                          eps_root=lambda t: 0.25 * t.astype(jnp.float64)))
    state = scheduled.init(updates)
    for t in range(3):
        out, state = scheduled.update(updates, state)
        np.testing.assert_allclose(np.asarray(out["v"]), np.sqrt(G + 0.25 * t) + 0.5 * t, rtol=1e-15)
        assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"eps": 0.5 * t, "eps_root": 0.25 * t}
