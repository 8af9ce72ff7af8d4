"""Running moments: scale_by_momentum, mean_of_squares, bias_correction, amsgrad_max."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradxform as gx

PARAMS = {"w": np.zeros((2, 3)), "b": np.zeros(())}


def _grads(step):
    rng = np.random.default_rng(10 + step)
    return {"w": rng.normal(size=(2, 3)), "b": np.asarray(rng.normal())}


def _outputs(transform, steps, dtype=jnp.float64):
    """Outputs of ``steps`` chained updates fed :func:`_grads`, as float64 NumPy dicts."""
    transform = gx.chain(transform)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), PARAMS)
    state = transform.init(params)
    out = []
    for t in range(steps):
        updates, state = transform.update(jax.tree.map(lambda x: jnp.asarray(x, dtype), _grads(t)), state)
        out.append({k: np.asarray(v, np.float64) for k, v in updates.items()})
    return out, state


def _manual_momentum(decay, nesterov, ema, steps):
    """The momentum recurrences written out on NumPy float64 arrays."""
    mu = {k: np.zeros_like(v) for k, v in PARAMS.items()}
    out = []
    for t in range(steps):
        g = _grads(t)
        weight = (1 - decay) if ema else 1.0
        mu = {k: weight * g[k] + decay * mu[k] for k in g}
        out.append({k: weight * g[k] + decay * mu[k] for k in g} if nesterov else dict(mu))
    return out


# ---------------------------------------------------------------------------------------------
# scale_by_momentum
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nesterov", [False, True], ids=["plain", "nesterov"])
@pytest.mark.parametrize("ema", [False, True], ids=["heavy_ball", "ema"])
def test_scale_by_momentum_follows_its_recurrence(ema, nesterov):
    got, _ = _outputs(gx.scale_by_momentum(0.7, nesterov=nesterov, ema=ema), steps=5)
    for step, (a, e) in enumerate(zip(got, _manual_momentum(0.7, nesterov, ema, 5))):
        for k in e:
            np.testing.assert_allclose(a[k], e[k], rtol=1e-14, err_msg=f"step {step}, {k}")


@pytest.mark.parametrize("nesterov", [False, True], ids=["plain", "nesterov"])
def test_heavy_ball_momentum_equals_optax_trace_bit_for_bit(nesterov):
    ours = gx.scale_by_momentum(0.9, nesterov=nesterov)
    theirs = optax.trace(0.9, nesterov=nesterov)
    params = jax.tree.map(jnp.asarray, PARAMS)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for t in range(4):
        g = jax.tree.map(jnp.asarray, _grads(t))
        u_ours, s_ours = ours.update(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            u_theirs, s_theirs = theirs.update(g, s_theirs)
        for k in g:
            np.testing.assert_array_equal(np.asarray(u_ours[k]), np.asarray(u_theirs[k]))


def test_momentum_with_decay_zero_passes_updates_through():
    got, _ = _outputs(gx.scale_by_momentum(0.0), steps=3)
    for t, a in enumerate(got):
        for k, g in _grads(t).items():
            np.testing.assert_array_equal(a[k], g)


def test_momentum_dtype_stores_mu_in_that_dtype_and_outputs_the_promoted_dtype():
    transform = gx.scale_by_momentum(0.5, dtype=jnp.bfloat16)
    params = {"w": jnp.zeros(3, jnp.float32)}
    state = transform.init(params)
    assert state.mu["w"].dtype == jnp.bfloat16
    g = {"w": jnp.asarray([1.0, -3.0, 0.1], jnp.float32)}
    out, state = transform.update(g, state)
    out, state = transform.update(g, state)
    assert state.mu["w"].dtype == jnp.bfloat16
    assert out["w"].dtype == jnp.float32
    # Second step: g + 0.5 * bf16(g), in float32.
    expected = g["w"] + 0.5 * g["w"].astype(jnp.bfloat16).astype(jnp.float32)
    np.testing.assert_array_equal(np.asarray(out["w"]), np.asarray(expected))


@settings(max_examples=20, deadline=None)
@given(
    decay=st.floats(0.0, 0.999),
    steps=st.integers(1, 30),
    value=st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3) | st.just(0.0),  # no underflow
    dtype=st.sampled_from([jnp.float32, jnp.float64]),
)
def test_ema_momentum_then_bias_correction_returns_a_constant_gradient(decay, steps, value, dtype):
    # Exact in exact arithmetic; in floating point to a few ulps of the dtype, plus the
    # cancellation in 1 - decay^t (computed in float64), which grows like 1 / (1 - decay).
    transform = gx.chain(gx.scale_by_momentum(decay, ema=True), gx.bias_correction(decay))
    g = jnp.full((3,), value, dtype)
    state = transform.init(g)
    rtol = 8 * float(jnp.finfo(dtype).eps) + 8 * float(jnp.finfo(jnp.float64).eps) / (1 - decay)
    for _ in range(steps):
        out, state = transform.update(g, state)
        assert out.dtype == dtype
        np.testing.assert_allclose(np.asarray(out), np.asarray(g), rtol=rtol, atol=0)


# ---------------------------------------------------------------------------------------------
# mean_of_squares
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("initial_value", [0.0, 1.0, 0.25])
def test_mean_of_squares_starts_at_initial_value_and_follows_its_recurrence(initial_value):
    decay = 0.9
    transform = gx.mean_of_squares(decay, initial_value=initial_value)
    state = transform.init(jax.tree.map(jnp.asarray, PARAMS))
    for k, v in state.nu.items():
        np.testing.assert_array_equal(np.asarray(v), np.full_like(PARAMS[k], initial_value))
    got, _ = _outputs(transform, steps=4)
    nu = {k: np.full_like(v, initial_value) for k, v in PARAMS.items()}
    for t, a in enumerate(got):
        g = _grads(t)
        nu = {k: (1 - decay) * g[k] ** 2 + decay * nu[k] for k in g}
        for k in g:
            np.testing.assert_allclose(a[k], nu[k], rtol=1e-14)


def test_mean_of_squares_of_complex_updates_is_real_valued_in_the_params_dtype():
    transform = gx.mean_of_squares(0.5)
    params = {"z": jnp.zeros(2, jnp.complex64)}
    state = transform.init(params)
    g = {"z": jnp.asarray([3 + 4j, 1j], jnp.complex64)}
    out, state = transform.update(g, state)
    assert out["z"].dtype == state.nu["z"].dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(out["z"]), [0.5 * 25, 0.5 * 1], rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# bias_correction
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step_offset", [0, 1, 3])
@pytest.mark.parametrize("step", [0, 1, 4, 99])
def test_bias_correction_divides_by_one_minus_decay_to_the_one_based_step(step, step_offset):
    decay = 0.9
    m = jnp.asarray([1.0, -2.0, 0.5], jnp.float64)
    correct = gx.bias_correction(decay, step_offset=step_offset)
    initial = correct.init(m)._replace(step=jnp.int32(step))  # used on its own, it counts its steps
    out, state = correct.update(m, initial)
    assert jax.tree.structure(state) == jax.tree.structure(initial)
    t = step + 1 + step_offset
    np.testing.assert_allclose(np.asarray(out), np.asarray(m) / (1 - decay**t), rtol=1e-14)


def test_bias_correction_in_chain_uses_the_chain_step():
    got, _ = _outputs(gx.bias_correction(0.5), steps=3)
    for t, a in enumerate(got):
        for k, g in _grads(t).items():
            np.testing.assert_allclose(a[k], g / (1 - 0.5 ** (t + 1)), rtol=1e-14)


def test_bias_correction_in_bfloat16_does_not_round_the_decay_to_one():
    # bfloat16(0.999) == 1, so computing 1 - b2^t in bfloat16 would divide by zero.
    assert float(jnp.asarray(0.999, jnp.bfloat16)) == 1.0
    m = jnp.asarray([1.0, 2.0], jnp.bfloat16)
    correct = gx.bias_correction(0.999)
    out, _ = correct.update(m, correct.init(m), step=jnp.int32(0))
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float64), [1000.0, 2000.0], rtol=2**-7)


def test_adam_state_in_bfloat16_stays_bfloat16_and_tracks_float32_adam():
    bf16, f32 = gx.adam(1e-2, b2=0.999), gx.adam(1e-2, b2=0.999)
    params = {"w": jnp.asarray([1.0, -1.0, 0.5], jnp.bfloat16)}
    params32 = jax.tree.map(lambda p: p.astype(jnp.float32), params)
    state, state32 = bf16.init(params), f32.init(params32)
    for t in range(3):
        g = {"w": jnp.asarray(_grads(t)["w"][0], jnp.bfloat16)}
        updates, state = bf16.update(g, state, params)
        updates32, state32 = f32.update(jax.tree.map(lambda x: x.astype(jnp.float32), g), state32)
        assert updates["w"].dtype == jnp.bfloat16
        # A few bfloat16 roundings (2**-8 each) away from the float32 result, and finite.
        np.testing.assert_allclose(
            np.asarray(updates["w"], np.float64), np.asarray(updates32["w"], np.float64), rtol=0.03
        )
    moments = [leaf for leaf in jax.tree.leaves(state) if leaf.shape == (3,)]
    assert moments and all(leaf.dtype == jnp.bfloat16 for leaf in moments)
    # Hyperparameters are kept in float32 (float64 under x64): b2 = 0.999 is not rounded to 1.
    assert gx.hyperparams(state)["b2"].dtype == jnp.result_type(float)
    assert float(gx.hyperparams(state)["b2"]) == 0.999


# ---------------------------------------------------------------------------------------------
# amsgrad_max
# ---------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.0, 1e6, allow_subnormal=False), min_size=3, max_size=3),
        min_size=1,
        max_size=8,
    )
)
def test_amsgrad_max_never_decreases_and_is_the_running_maximum(sequence):
    transform = gx.amsgrad_max()
    state = transform.init(jnp.zeros(3))
    previous = np.zeros(3)
    for values in sequence:
        out, state = transform.update(jnp.asarray(values), state)
        out = np.asarray(out)
        assert np.all(out >= previous)
        np.testing.assert_array_equal(out, np.maximum(previous, values))
        np.testing.assert_array_equal(np.asarray(state.nu_max), out)
        previous = out


def test_amsgrad_max_keeps_the_state_dtype_with_wider_updates():
    transform = gx.amsgrad_max()
    state = transform.init({"w": jnp.zeros(2, jnp.bfloat16)})
    out, state = transform.update({"w": jnp.asarray([0.5, 2.0], jnp.float32)}, state)
    assert out["w"].dtype == jnp.float32
    assert state.nu_max["w"].dtype == jnp.bfloat16


# ---------------------------------------------------------------------------------------------
# interpolated_momentum and infinity_moment: against Optax, and their hyperparameters as state
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_interpolated_momentum_equals_optax_lion_bit_for_bit(dtype):
    b1, b2 = 0.9, 0.99
    ours, theirs = gx.interpolated_momentum(b1, b2), optax.scale_by_lion(b1, b2)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), PARAMS)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for t in range(4):
        g = jax.tree.map(lambda x: jnp.asarray(x, dtype), _grads(t))
        # Optax's direction before its sign, from the momentum before this update
        direction = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, g, s_theirs.mu)
        u_ours, s_ours = ours.update(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            _, s_theirs = theirs.update(g, s_theirs)
        for k in g:
            np.testing.assert_array_equal(np.asarray(u_ours[k]), np.asarray(direction[k]))
            np.testing.assert_array_equal(np.asarray(s_ours.mu[k]), np.asarray(s_theirs.mu[k]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_infinity_moment_equals_optax_adamax_moment_bit_for_bit(dtype):
    ours, theirs = gx.chain(gx.infinity_moment(0.9, 1e-3)), optax.scale_by_adamax(b2=0.9, eps=1e-3)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), PARAMS)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for t in range(4):
        g = jax.tree.map(lambda x: jnp.asarray(x, dtype), _grads(t))
        u_ours, s_ours = ours.update(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            _, s_theirs = theirs.update(g, s_theirs)
        for k in g:
            assert u_ours[k].dtype == dtype
            np.testing.assert_array_equal(np.asarray(u_ours[k]), np.asarray(s_theirs.nu[k]))


def test_interpolated_momentum_rounds_a_bfloat16_momentum_term_without_rounding_its_weight():
    transform = gx.interpolated_momentum(0.9, 0.99, dtype=jnp.bfloat16)
    state = transform.init({"w": jnp.zeros(3, jnp.float32)})
    g = jnp.asarray([1.0, -3.0, 0.1], jnp.float32)
    out, state = transform.update({"w": g}, state)
    out, state = transform.update({"w": g}, state)
    assert state.mu["w"].dtype == jnp.bfloat16 and out["w"].dtype == jnp.float32
    # Each term in its leaf's dtype, as Optax; but 0.9 and 0.99 stay float32 (Optax would use
    # bfloat16(0.99) = 0.98828125): b m is computed in float32 and rounded once to bfloat16.
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    mu = (f32(1 - 0.99) * g).astype(jnp.bfloat16)
    expected = f32(1 - 0.9) * g + (f32(0.9) * mu.astype(jnp.float32)).astype(jnp.bfloat16).astype(jnp.float32)
    np.testing.assert_array_equal(np.asarray(out["w"]), np.asarray(expected))


# name: (factory, keyword arguments, argument, a new value, values for a schedule of 4 steps)
MOMENT_HYPER_CASES = {
    "interpolated_momentum-b1": (gx.interpolated_momentum, {"b1": 0.9, "b2": 0.99}, 0.5,
                                 [0.0, 1.0, 0.3, 0.9]),
    "interpolated_momentum-b2": (gx.interpolated_momentum, {"b1": 0.9, "b2": 0.99}, 0.5,
                                 [0.0, 0.9, 0.3, 0.99]),
    "infinity_moment-decay": (gx.infinity_moment, {"decay": 0.9, "eps": 1e-3}, 0.2,
                              [0.5, 0.99, 0.0, 0.7]),
    "infinity_moment-eps": (gx.infinity_moment, {"decay": 0.9, "eps": 1e-3}, 2.0,
                            [0.0, 1.5, 0.1, 3.0]),
}


def _moment_run(transform, state, first_step, steps):
    """Outputs of ``steps`` updates fed :func:`_grads` from ``first_step`` on, and the last state."""
    outputs = []
    for t in range(first_step, first_step + steps):
        out, state = transform.update(jax.tree.map(jnp.asarray, _grads(t)), state)
        outputs.append({k: np.asarray(v) for k, v in out.items()})
    return outputs, state


def _with_own_hyperparams(opt, state):
    """``state`` holding ``opt``'s own hyperparameters: a state keeps the numbers it holds, whatever
    optimizer updates it, so comparing with an optimizer built otherwise needs its table."""
    return state._replace(hyperparams=opt.init(jax.tree.map(jnp.asarray, PARAMS)).hyperparams)


def _assert_same_outputs(a, b):
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


@pytest.mark.parametrize("case", ["interpolated_momentum-b1", "infinity_moment-decay"])
def test_hyperparams_reads_the_hyperparameters_of_the_moment(case):
    make, kwargs, _, _ = MOMENT_HYPER_CASES[case]
    state = gx.chain(make(**kwargs)).init(jax.tree.map(jnp.asarray, PARAMS))
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == kwargs


@pytest.mark.parametrize("case", list(MOMENT_HYPER_CASES))
def test_set_hyperparams_acts_on_the_next_update_as_rebuilding_the_moment(case):
    make, kwargs, new, _ = MOMENT_HYPER_CASES[case]
    name = case.split("-")[1]
    old, rebuilt = gx.chain(make(**kwargs)), gx.chain(make(**{**kwargs, name: new}))
    _, state = _moment_run(old, old.init(jax.tree.map(jnp.asarray, PARAMS)), 0, 3)
    # Two updates: b2 of interpolated_momentum reaches the output one update later.
    got, set_state = _moment_run(old, gx.set_hyperparams(state, {name: new}), 3, 2)
    expected, _ = _moment_run(rebuilt, _with_own_hyperparams(rebuilt, state), 3, 2)
    unchanged, _ = _moment_run(old, state, 3, 2)
    _assert_same_outputs(got, expected)
    assert not np.allclose(unchanged[1]["w"], got[1]["w"])
    assert float(gx.hyperparams(set_state)[name]) == new


@pytest.mark.parametrize("case", list(MOMENT_HYPER_CASES))
def test_each_hyperparameter_of_the_moment_follows_a_schedule(case):
    make, kwargs, _, values = MOMENT_HYPER_CASES[case]
    name = case.split("-")[1]
    scheduled = gx.chain(make(**{**kwargs, name: lambda step: jnp.asarray(values)[step]}))
    state = scheduled.init(jax.tree.map(jnp.asarray, PARAMS))
    for step, value in enumerate(values):
        constant = gx.chain(make(**{**kwargs, name: value}))
        expected, _ = _moment_run(constant, _with_own_hyperparams(constant, state), step, 1)
        got, state = _moment_run(scheduled, state, step, 1)
        _assert_same_outputs(got, expected)
        assert float(gx.hyperparams(state)[name]) == value


def test_interpolated_momentum_keeps_float_hyperparameters_beside_a_bfloat16_momentum():
    state = gx.interpolated_momentum(0.9, 0.999, dtype=jnp.bfloat16).init({"w": jnp.zeros(2)})
    assert state.hyperparams.table.dtype == jnp.result_type(float)
    assert float(gx.hyperparams(state)["b2"]) == 0.999  # bfloat16 would round it to 1
