"""The primitives of gradxform/transforms/factored.py: Adafactor's factored RMS, SM3's cover
accumulators, and the scaling by each parameter block's norm or RMS.

Each is compared with Optax 0.2.8's same-named (or corresponding) transformation bit for bit in
float32, eagerly (op by op, so the formula order is what is compared); the aliases' trajectories
are in tests/aliases/test_factored_family.py and the registry.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

INT32_MAX = 2**31 - 1


def _tree(seed, shapes, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(rng.normal(size=shape), dtype) for k, shape in shapes.items()}


# A square matrix (ties between axes), a wide one, a 3-d leaf, a vector and a scalar.
SHAPES = {"square": (3, 3), "wide": (2, 4), "cube": (2, 3, 2), "vector": (3,), "scalar": ()}


def _updates_of(opt, grads, params, jit=False):
    """The updates of each step (params fixed), and the final state."""
    state = opt.init(params)
    update = jax.jit(opt.update) if jit else opt.update
    seen = []
    for g in grads:
        out, state = update(g, state, params)
        seen.append(out)
    return seen, state


def _assert_same_updates(actual, expected):
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            assert a[key].dtype == e[key].dtype, (step, key)
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(e[key]), err_msg=f"step {step}, {key}")


def _optax_updates(opt, grads, params):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float in its counts
        return _updates_of(opt, grads, params)[0]


# --- scale_by_factored_rms ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {}, {"min_dim_size_to_factor": 2}, {"min_dim_size_to_factor": 3, "decay_rate": 0.5, "epsilon": 1e-3},
    {"factored": False}, {"min_dim_size_to_factor": 2, "step_offset": 3},
], ids=["nothing_factored", "all_factored", "some_factored", "unfactored", "offset"])
def test_factored_rms_matches_optax_bit_for_bit_in_float32(kwargs):
    params = _tree(0, SHAPES)
    grads = [_tree(i + 1, SHAPES) for i in range(5)]
    actual, _ = _updates_of(gx.scale_by_factored_rms(**kwargs), grads, params)
    _assert_same_updates(actual, _optax_updates(optax.scale_by_factored_rms(**kwargs), grads, params))


def test_factored_rms_keeps_row_and_column_means_of_large_leaves_and_a_full_moment_of_the_others():
    params = _tree(0, {"tall": (6, 3), "cube": (2, 4, 3), "small": (6, 1), "vector": (5,)})
    state = gx.scale_by_factored_rms(min_dim_size_to_factor=2).init(params)
    shapes = {name: {k: v.shape for k, v in getattr(state, name).items()} for name in ("v_row", "v_col", "v")}
    # v_row drops the largest axis, v_col the second largest; (1,) zeros stand in elsewhere.
    assert shapes["v_row"] == {"tall": (3,), "cube": (2, 3), "small": (1,), "vector": (1,)}
    assert shapes["v_col"] == {"tall": (6,), "cube": (2, 4), "small": (1,), "vector": (1,)}
    assert shapes["v"] == {"tall": (1,), "cube": (1,), "small": (6, 1), "vector": (5,)}


def test_factored_rms_first_step_divides_by_the_root_of_the_squared_gradient():
    # The default decay 1 - t^(-0.8) is 0 at t = 1: the moment is the squared gradient itself.
    g = jnp.asarray([3.0, -4.0, 0.5], jnp.float64)
    out, _ = gx.scale_by_factored_rms(epsilon=1e-6).update(g, gx.scale_by_factored_rms(epsilon=1e-6).init(g))
    np.testing.assert_allclose(out, g / np.sqrt(np.asarray(g) ** 2 + 1e-6), rtol=1e-15)


def test_factored_rms_passes_the_offset_step_and_the_decay_rate_to_decay_rate_fn():
    seen = []

    def decay(step, rate):
        seen.append((int(step), float(rate)))
        return 0.5

    opt = gx.scale_by_factored_rms(decay_rate=0.3, step_offset=2, decay_rate_fn=decay)
    g = jnp.ones(3)
    state = opt.init(g)
    for _ in range(3):
        _, state = opt.update(g, state)
    assert seen == [(-2, 0.3), (-1, 0.3), (0, 0.3)]


def test_factored_rms_decay_rate_and_epsilon_are_hyperparameters_of_the_state():
    opt = gx.scale_by_factored_rms()
    state = opt.init(jnp.ones(3))
    assert set(gx.hyperparams(state)) == {"decay_rate", "epsilon"}
    np.testing.assert_allclose(gx.hyperparams(state)["decay_rate"], 0.8)


def test_factored_rms_stays_finite_at_the_saturated_step_where_optax_wraps():
    g = jnp.asarray([[1.0, -2.0], [0.5, 3.0]], jnp.float32)
    opt = gx.scale_by_factored_rms(min_dim_size_to_factor=2)
    state = opt.init(g)._replace(step=jnp.asarray(INT32_MAX, jnp.int32))
    out, state = opt.update(g, state)
    assert np.all(np.isfinite(np.asarray(out))) and int(state.step) == INT32_MAX
    reference = optax.scale_by_factored_rms(min_dim_size_to_factor=2)
    wrapped, _ = reference.update(g, reference.init(g)._replace(count=jnp.asarray(INT32_MAX, jnp.int32)), g)
    assert not np.all(np.isfinite(np.asarray(wrapped)))  # Optax: t = (2**31 - 1) + 1 wraps to < 0


@pytest.mark.parametrize("shape", [(129, 129), (2,)], ids=["factored", "full"])
def test_factored_rms_keeps_bfloat16_updates_and_state_in_bfloat16(shape):
    params = jnp.ones(shape, jnp.bfloat16)
    opt = gx.scale_by_factored_rms()
    state = opt.init(params)
    out, new_state = jax.jit(opt.update)(params * 2, state, params)
    assert out.dtype == jnp.bfloat16
    assert jax.tree.map(lambda x: x.dtype, new_state) == jax.tree.map(lambda x: x.dtype, state)


def test_factored_rms_works_inside_optax_chain_and_counts_its_own_steps():
    params = _tree(0, {"w": (4, 3)})
    grads = [_tree(i + 1, {"w": (4, 3)}) for i in range(3)]
    mine = optax.chain(gx.scale_by_factored_rms(min_dim_size_to_factor=2), optax.scale(-0.1))
    theirs = optax.chain(optax.scale_by_factored_rms(min_dim_size_to_factor=2), optax.scale(-0.1))
    _assert_same_updates(_updates_of(mine, grads, params)[0], _optax_updates(theirs, grads, params))


def test_factored_rms_of_complex_updates_keeps_their_dtype_and_phase():
    g = jnp.asarray([[1 + 1j, 2 - 1j], [0.5j, -3.0]], jnp.complex128)
    opt = gx.scale_by_factored_rms(min_dim_size_to_factor=2)
    out, _ = opt.update(g, opt.init(g))
    rotated, _ = opt.update(g * 1j, opt.init(g))
    assert out.dtype == jnp.complex128
    np.testing.assert_allclose(rotated, out * 1j, rtol=1e-12)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"factored": 1}, TypeError, "scale_by_factored_rms: factored must be True or False, got int 1"),
    ({"decay_rate": float("inf")}, ValueError, "decay_rate must be a finite number, got decay_rate=inf"),
    ({"step_offset": -1}, ValueError, "step_offset must be an int >= 0, got step_offset=-1"),
    ({"step_offset": 1.5}, TypeError, "step_offset must be an int, got float 1.5"),
    ({"min_dim_size_to_factor": 2.0}, TypeError, "min_dim_size_to_factor must be an int, got float 2.0"),
    ({"epsilon": -1e-30}, ValueError, "epsilon must be a finite number > 0, got epsilon=-1e-30"),
    ({"decay_rate_fn": 0.8}, TypeError, "decay_rate_fn must be a function, got float 0.8"),
])
def test_factored_rms_rejects_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        gx.scale_by_factored_rms(**kwargs)


def test_factored_rms_rejects_integer_params_naming_the_leaf():
    with pytest.raises(TypeError, match=r"scale_by_factored_rms: .* got int32 at \['n'\]"):
        gx.scale_by_factored_rms().init({"n": jnp.ones(3, jnp.int32)})


def test_factored_rms_names_both_trees_when_the_updates_do_not_match_the_state():
    opt = gx.scale_by_factored_rms()
    with pytest.raises(ValueError, match="scale_by_factored_rms: updates and state have different tree"):
        opt.update({"a": jnp.ones(2), "b": jnp.ones(2)}, opt.init({"a": jnp.ones(2)}))


# --- scale_by_cover_rss (SM3) -----------------------------------------------------------------


NON_SCALAR = {k: v for k, v in SHAPES.items() if k != "scalar"}  # Optax's sm3 fails on rank 0


@pytest.mark.parametrize("b1, b2, eps", [(0.9, 1.0, 1e-8), (0.5, 0.9, 1e-3)], ids=["defaults", "decayed"])
def test_cover_rss_with_momentum_matches_optax_scale_by_sm3_bit_for_bit_in_float32(b1, b2, eps):
    params = _tree(0, NON_SCALAR)
    grads = [_tree(i + 1, NON_SCALAR) for i in range(5)]
    actual, _ = _updates_of(gx.scale_by_sm3(b1, b2, eps), grads, params)
    _assert_same_updates(actual, _optax_updates(optax.scale_by_sm3(b1, b2, eps), grads, params))


def test_cover_rss_keeps_one_accumulator_per_slice_of_each_axis():
    params = {"cube": jnp.zeros((2, 4, 3)), "matrix": jnp.zeros((5, 6)), "vector": jnp.zeros(7),
              "scalar": jnp.zeros(())}
    state = gx.scale_by_cover_rss().init(params)
    shapes = [{k: v.shape for k, v in tree.items()} for tree in state.nu]
    # one tree per axis up to the largest rank; (1,) zeros where a leaf has no such axis
    assert shapes == [
        {"cube": (2,), "matrix": (5,), "vector": (7,), "scalar": ()},
        {"cube": (4,), "matrix": (6,), "vector": (1,), "scalar": (1,)},
        {"cube": (3,), "matrix": (1,), "vector": (1,), "scalar": (1,)},
    ]


def test_cover_rss_accumulates_the_max_of_each_row_and_column_and_takes_the_smaller():
    opt = gx.scale_by_cover_rss(eps=0.0)
    g1 = jnp.asarray([[1.0, 2.0], [3.0, 0.0]], jnp.float64)
    state = opt.init(g1)
    _, state = opt.update(g1, state)
    rows, cols = state.nu
    np.testing.assert_array_equal(rows, [4.0, 9.0])  # max over each row of g^2
    np.testing.assert_array_equal(cols, [9.0, 4.0])  # max over each column
    g2 = jnp.asarray([[1.0, 1.0], [1.0, 1.0]], jnp.float64)
    out, state = opt.update(g2, state)
    nu = np.array([[1 + 4.0, 1 + 4.0], [1 + 9.0, 1 + 4.0]])  # g^2 + min(row, column)
    np.testing.assert_allclose(out, 1 / np.sqrt(nu), rtol=1e-15)


def test_cover_rss_of_a_scalar_or_a_vector_is_adagrad():
    opt = gx.scale_by_cover_rss(eps=0.0)
    params = {"scalar": jnp.zeros((), jnp.float64), "vector": jnp.zeros(2, jnp.float64)}
    state = opt.init(params)
    grads = [{"scalar": jnp.asarray(3.0, jnp.float64), "vector": jnp.asarray([1.0, -2.0], jnp.float64)},
             {"scalar": jnp.asarray(4.0, jnp.float64), "vector": jnp.asarray([2.0, 2.0], jnp.float64)}]
    for g in grads:
        out, state = opt.update(g, state)
    np.testing.assert_allclose(out["scalar"], 4.0 / 5.0, rtol=1e-15)
    np.testing.assert_allclose(out["vector"], [2 / np.sqrt(5.0), 2 / np.sqrt(8.0)], rtol=1e-15)


def test_cover_rss_gives_zero_where_every_gradient_so_far_was_zero():
    opt = gx.scale_by_cover_rss(eps=0.0)
    g = jnp.zeros((2, 3))
    out, _ = opt.update(g, opt.init(g))
    np.testing.assert_array_equal(out, np.zeros((2, 3)))


def test_cover_rss_handles_leaves_with_an_empty_axis():
    params = {"empty": jnp.zeros((0, 3)), "w": jnp.ones((2, 2))}
    opt = gx.scale_by_cover_rss()
    out, state = jax.jit(opt.update)(params, opt.init(params))
    assert out["empty"].shape == (0, 3)
    np.testing.assert_array_equal(state.nu[1]["empty"], np.zeros(3))


def test_cover_rss_b2_is_a_hyperparameter_and_one_keeps_the_plain_sum():
    opt = gx.scale_by_cover_rss(b2=1.0, eps=0.0)
    g = jnp.asarray([2.0], jnp.float64)
    state = opt.init(g)
    _, state = opt.update(g, state)
    _, state = opt.update(g, state)
    np.testing.assert_array_equal(state.nu[0], [8.0])  # 4 + 4: no (1 - b2) = 0 weight
    state = gx.set_hyperparams(state, b2=0.5)
    _, state = opt.update(g, state)
    np.testing.assert_array_equal(state.nu[0], [0.5 * 4.0 + 0.5 * 8.0])


def test_cover_rss_rejects_complex_params_naming_the_leaf():
    with pytest.raises(TypeError, match=r"scale_by_cover_rss: .* real parameters only, got complex64 at \['z'\]"):
        gx.scale_by_cover_rss().init({"z": jnp.ones(2, jnp.complex64)})


@pytest.mark.parametrize("kwargs, match", [
    ({"b2": 1.5}, "scale_by_cover_rss: b2 must be in \\[0, 1\\], got b2=1.5"),
    ({"eps": -1.0}, "scale_by_cover_rss: eps must be a finite number >= 0, got eps=-1.0"),
])
def test_cover_rss_rejects_bad_arguments_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gx.scale_by_cover_rss(**kwargs)


# --- scale_by_param_block_norm / scale_by_param_block_rms ------------------------------------


@pytest.mark.parametrize("name", ["scale_by_param_block_norm", "scale_by_param_block_rms"])
@pytest.mark.parametrize("min_scale", [1e-3, 0.5])
def test_param_block_scaling_matches_optax_bit_for_bit_in_float32(name, min_scale):
    params = _tree(0, SHAPES)
    params["zero"] = jnp.zeros(3)  # below the floor
    grads = [jax.tree.map(jnp.ones_like, params), _tree(1, {**SHAPES, "zero": (3,)})]
    actual, _ = _updates_of(getattr(gx, name)(min_scale), grads, params)
    _assert_same_updates(actual, _optax_updates(getattr(optax, name)(min_scale), grads, params))


def test_param_block_scaling_multiplies_by_the_norm_or_rms_of_each_leaf_at_least_min_scale():
    params = {"w": jnp.asarray([[3.0, 4.0], [0.0, 0.0]], jnp.float64), "z": jnp.zeros(2, jnp.float64)}
    ones = jax.tree.map(jnp.ones_like, params)
    by_norm, _ = gx.scale_by_param_block_norm(0.1).update(ones, gx.scale_by_param_block_norm(0.1).init(params), params)
    by_rms, _ = gx.scale_by_param_block_rms(0.1).update(ones, gx.scale_by_param_block_rms(0.1).init(params), params)
    np.testing.assert_allclose(by_norm["w"], np.full((2, 2), 5.0))
    np.testing.assert_allclose(by_rms["w"], np.full((2, 2), 2.5))
    np.testing.assert_array_equal(by_norm["z"], [0.1, 0.1])
    np.testing.assert_array_equal(by_rms["z"], [0.1, 0.1])


@pytest.mark.parametrize("name", ["scale_by_param_block_norm", "scale_by_param_block_rms"])
def test_param_block_scaling_needs_params(name):
    opt = getattr(gx, name)()
    g = jnp.ones(2)
    with pytest.raises(ValueError, match=f"{name}: update\\(\\) needs params .* got params=None"):
        opt.update(g, opt.init(g))


@pytest.mark.parametrize("name", ["scale_by_param_block_norm", "scale_by_param_block_rms"])
def test_param_block_scaling_rejects_a_negative_min_scale(name):
    with pytest.raises(ValueError, match=f"{name}: min_scale must be a finite number >= 0, got min_scale=-1.0"):
        getattr(gx, name)(-1.0)
