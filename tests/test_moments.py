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
    out, state = gx.bias_correction(decay, step_offset=step_offset).update(
        m, gx.EmptyState(), step=jnp.int32(step)
    )
    assert state == gx.EmptyState()
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
    out, _ = gx.bias_correction(0.999).update(m, gx.EmptyState(), step=jnp.int32(0))
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
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (jnp.bfloat16, jnp.int32)


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
