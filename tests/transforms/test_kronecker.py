"""Kronecker-factored preconditioning: the building blocks on one matrix, Shampoo's inverse roots
on a cadence, SOAP's eigenbasis and its rotations (gradxform/transforms/kronecker.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx
from gradxform.transforms import kronecker as kr

RNG = np.random.default_rng(17)


def _spd(n, rank=None):
    a = RNG.normal(size=(n, rank or n))
    return a @ a.T


# --- building blocks -----------------------------------------------------------------------------


def test_inverse_root_is_the_fourth_root_of_the_regularized_inverse():
    a, eps = _spd(4), 1e-3
    root = np.asarray(kr.inverse_root(jnp.asarray(a), 4.0, jnp.asarray(eps)))
    np.testing.assert_allclose(np.linalg.matrix_power(root, 4) @ (a + eps * np.eye(4)), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(root, root.T, atol=1e-12)


def test_inverse_root_of_a_singular_factor_uses_eps_on_the_null_space():
    a = _spd(3, rank=1)
    root = np.asarray(kr.inverse_root(jnp.asarray(a), 4.0, jnp.asarray(1e-4)))
    null = np.linalg.eigh(a)[1][:, 0]
    np.testing.assert_allclose(root @ null, 1e-4 ** -0.25 * null, rtol=1e-6)


def test_kronecker_factors_sum_or_average_the_two_gram_matrices():
    g = jnp.asarray(RNG.normal(size=(3, 2)))
    left, right = jnp.ones((3, 3)), jnp.ones((2, 2))
    summed = kr.kronecker_factors(left, right, g)
    np.testing.assert_allclose(summed[0], 1 + g @ g.T)
    np.testing.assert_allclose(summed[1], 1 + g.T @ g)
    beta = jnp.asarray(0.9)
    averaged = kr.kronecker_factors(left, right, g, beta, 1 - beta)
    np.testing.assert_allclose(averaged[0], 0.9 + 0.1 * g @ g.T, rtol=1e-12)
    np.testing.assert_allclose(averaged[1], 0.9 + 0.1 * g.T @ g, rtol=1e-12)


def test_a_side_above_max_precond_dim_is_held_empty_and_left_alone():
    g = jnp.asarray(RNG.normal(size=(3, 2)))
    left, right = kr.kronecker_factors(jnp.zeros((0, 0)), jnp.zeros((2, 2)), g)
    assert left.shape == (0, 0)
    np.testing.assert_array_equal(kr.to_eigenbasis(g, left, jnp.eye(2)), g)


def test_eigenbasis_diagonalizes_and_power_iteration_keeps_it():
    a = _spd(4)
    q = kr.eigenbasis(jnp.asarray(a))
    rotated = np.asarray(q.T @ a @ q)
    np.testing.assert_allclose(rotated - np.diag(np.diag(rotated)), 0, atol=1e-9)
    refined = np.asarray(kr.refined_eigenbasis(jnp.asarray(a), q))
    np.testing.assert_allclose(np.abs(refined), np.abs(np.asarray(q)), atol=1e-9)  # up to signs
    np.testing.assert_allclose(refined.T @ refined, np.eye(4), atol=1e-12)


def test_power_iteration_converges_to_the_eigenbasis():
    a = np.diag([8.0, 4.0, 2.0, 1.0])
    q = jnp.asarray(np.linalg.qr(RNG.normal(size=(4, 4)))[0])
    for _ in range(60):
        q = kr.refined_eigenbasis(jnp.asarray(a), q)
    np.testing.assert_allclose(np.abs(np.asarray(q)), np.eye(4), atol=1e-9)


def test_rotating_back_undoes_the_rotation():
    g = jnp.asarray(RNG.normal(size=(3, 4)))
    ql, qr = kr.eigenbasis(jnp.asarray(_spd(3))), kr.eigenbasis(jnp.asarray(_spd(4)))
    np.testing.assert_allclose(kr.from_eigenbasis(kr.to_eigenbasis(g, ql, qr), ql, qr), g, atol=1e-12)


def test_the_shape_rule_keeps_matrices_merges_leading_axes_and_skips_vectors():
    assert kr.matrix_shape((3, 2)) == (3, 2)
    assert kr.matrix_shape((2, 3, 4, 5)) == (24, 5)
    assert kr.matrix_shape((7,)) is None and kr.matrix_shape(()) is None


# --- scale_by_kronecker_roots ---------------------------------------------------------------------


def test_roots_precondition_a_matrix_as_l_to_the_minus_quarter_g_r_to_the_minus_quarter():
    g = RNG.normal(size=(3, 2))
    t = gx.scale_by_kronecker_roots(eps=1e-3, precondition_frequency=1)
    out, _ = t.update({"w": jnp.asarray(g)}, t.init({"w": jnp.zeros((3, 2))}))

    def root(a):
        w, v = np.linalg.eigh(a)
        return v @ np.diag((np.maximum(w, 0) + 1e-3) ** -0.25) @ v.T

    np.testing.assert_allclose(out["w"], root(g @ g.T) @ g @ root(g.T @ g), rtol=1e-9)


def test_roots_are_recomputed_on_the_cadence_by_one_compiled_step():
    t = gx.chain(gx.scale_by_kronecker_roots(precondition_frequency=3))
    params = {"w": jnp.zeros((3, 2))}
    state, step = t.init(params), jax.jit(t.update)
    roots = []
    for i in range(7):
        _, state = step({"w": jnp.asarray(RNG.normal(size=(3, 2)))}, state)
        roots.append(np.asarray(state[0].left_root["w"]))
    changed = [i for i in range(1, 7) if not np.array_equal(roots[i], roots[i - 1])]
    assert changed == [3, 6]
    assert step._cache_size() == 1  # steps 0..6, one compilation


def test_a_tensor_is_preconditioned_as_the_matrix_of_its_last_axis():
    g = RNG.normal(size=(2, 3, 4))
    t = gx.scale_by_kronecker_roots(precondition_frequency=1)
    out, state = t.update({"k": jnp.asarray(g)}, t.init({"k": jnp.zeros((2, 3, 4))}))
    as_matrix, _ = t.update({"k": jnp.asarray(g.reshape(6, 4))}, t.init({"k": jnp.zeros((6, 4))}))
    assert state.left["k"].shape == (6, 6) and state.right["k"].shape == (4, 4)
    np.testing.assert_allclose(out["k"], np.asarray(as_matrix["k"]).reshape(2, 3, 4), rtol=1e-12)


def test_sides_above_max_precond_dim_keep_no_statistic():
    t = gx.scale_by_kronecker_roots(max_precond_dim=3)
    state = t.init({"w": jnp.zeros((5, 3))})
    assert state.left["w"].shape == (0, 0) and state.right["w"].shape == (3, 3)


def test_roots_refuse_vectors_and_scalars_naming_the_path():
    with pytest.raises(ValueError, match=r"scale_by_kronecker_roots: every leaf must have at least 2 axes, "
                                         r"got shape \(4,\) at \['b'\]"):
        gx.scale_by_kronecker_roots().init({"w": jnp.zeros((2, 2)), "b": jnp.zeros(4)})


@pytest.mark.parametrize("make", [gx.scale_by_kronecker_roots, lambda: gx.in_kronecker_eigenbasis(gx.identity())])
def test_complex_leaves_are_refused(make):
    with pytest.raises(TypeError, match=r"must be a real floating-point array, got dtype complex"):
        make().init({"w": jnp.zeros((2, 2), jnp.complex64)})


@pytest.mark.parametrize("kwargs, message", [
    ({"precondition_frequency": 0}, r"precondition_frequency must be an int >= 1|expected an int >= 1"),
    ({"max_precond_dim": 0}, r"max_precond_dim"),
    ({"eps": 0.0}, r"scale_by_kronecker_roots: eps must be a finite number > 0"),
    ({"decay": 1.0}, r"scale_by_kronecker_roots: decay must be in \[0, 1\)"),
])
def test_roots_check_their_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gx.scale_by_kronecker_roots(**kwargs)


def test_a_fractional_frequency_is_refused_as_a_type():
    with pytest.raises(TypeError, match="precondition_frequency"):
        gx.scale_by_kronecker_roots(precondition_frequency=2.5)


# --- in_kronecker_eigenbasis, rotate_to_eigenbasis, rotate_back -----------------------------------


def test_the_bases_start_as_identity_and_refresh_by_eigh_then_power_iteration():
    t = gx.chain(gx.in_kronecker_eigenbasis(gx.identity(), decay=0.5, precondition_frequency=2))
    state, step = t.init({"w": jnp.zeros((3, 2))}), jax.jit(t.update)
    np.testing.assert_array_equal(state[0].left_basis["w"], np.eye(3))
    grads = [RNG.normal(size=(3, 2)) for _ in range(3)]
    left = np.zeros((3, 3))
    for i, g in enumerate(grads):
        before = np.asarray(state[0].left_basis["w"])
        _, state = step({"w": jnp.asarray(g)}, state)
        left = 0.5 * left + 0.5 * g @ g.T
        after = np.asarray(state[0].left_basis["w"])
        if i == 0:
            expected = np.linalg.eigh(left)[1]
        elif i == 2:
            expected = np.linalg.qr(left @ before)[0]
        else:
            expected = before
        np.testing.assert_allclose(np.abs(after), np.abs(expected), atol=1e-9)
    assert step._cache_size() == 1


def test_rotating_in_and_back_around_identity_returns_the_updates():
    t = gx.in_kronecker_eigenbasis([gx.rotate_to_eigenbasis(), gx.rotate_back()], precondition_frequency=1)
    t = gx.chain(t)
    params = {"w": jnp.zeros((3, 2)), "k": jnp.zeros((2, 2, 3)), "b": jnp.zeros(2)}
    state = t.init(params)
    for _ in range(3):
        g = jax.tree.map(lambda p: jnp.asarray(RNG.normal(size=p.shape)), params)
        out, state = t.update(g, state)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-12), out, g)


def test_vectors_keep_the_identity_basis():
    state = gx.in_kronecker_eigenbasis(gx.identity()).init({"b": jnp.zeros(5), "s": jnp.zeros(())})
    assert state.left["b"].shape == (0, 0) and state.right_basis["s"].shape == (0, 0)


@pytest.mark.parametrize("make", [gx.rotate_to_eigenbasis, gx.rotate_back])
def test_rotations_outside_an_eigenbasis_say_where_to_put_them(make):
    t = make()
    with pytest.raises(ValueError, match=r"found no eigenbasis to rotate with. Use it inside "
                                         r"gx.in_kronecker_eigenbasis"):
        t.update({"w": jnp.ones((2, 2))}, t.init({"w": jnp.ones((2, 2))}))


def test_eigenbasis_checks_its_arguments():
    with pytest.raises(ValueError, match=r"in_kronecker_eigenbasis: decay must be in \[0, 1\)"):
        gx.in_kronecker_eigenbasis(gx.identity(), decay=1.0)
    with pytest.raises(ValueError, match="in_kronecker_eigenbasis: precondition_frequency"):
        gx.in_kronecker_eigenbasis(gx.identity(), precondition_frequency=0)


def test_a_jitted_init_starts_at_the_identity_basis():
    # A square factor is placed with shard_alike beside its param (tests/test_sharding.py checks
    # the placement on 8 devices); on one device it compiles to nothing.
    t = gx.in_kronecker_eigenbasis(gx.identity())
    params = {"w": jnp.zeros((2, 2))}
    np.testing.assert_array_equal(jax.jit(t.init)(params).left_basis["w"], np.eye(2))
